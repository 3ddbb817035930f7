"""The plans a tenant can be on: the one list every entry point offers and accepts.

The CLI (``tenants create --plan``), signup, the admin console's plan select and the
registry itself (a validator on ``Tenant.plan``) all check against ``PLANS``, so a name
that is not a plan never reaches the database, and a page never shows one plan in its
details and another in its select. Adding a plan is adding a line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    title: str


PLANS: tuple[Plan, ...] = (
    Plan("free", "Free"),
    Plan("pro", "Pro"),
    Plan("enterprise", "Enterprise"),
)
PLAN_NAMES: tuple[str, ...] = tuple(plan.name for plan in PLANS)
DEFAULT_PLAN = "free"


class UnknownPlan(ValueError):
    """A plan name that is not in ``PLANS``; the message lists the ones there are."""

    def __init__(self, name: str) -> None:
        super().__init__(f"There is no plan “{name}”; choose one of: {', '.join(PLAN_NAMES)}.")
        self.name = name


def plan_title(name: str) -> str:
    """The plan's display title (a name that is not a plan is shown as it is)."""
    for plan in PLANS:
        if plan.name == name:
            return plan.title
    return name


def validate_plan(name: str) -> str:
    """The canonical plan name (trimmed, lower case), or UnknownPlan."""
    canonical = name.strip().lower()
    if canonical not in PLAN_NAMES:
        raise UnknownPlan(name.strip())
    return canonical
