"""One list of plans (tenants.plans), enforced by the CLI, the console and the registry."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tenants import lifecycle
from tenants.plans import PLAN_NAMES, UnknownPlan, validate_plan
from tenants.registry.models import Tenant
from tests.test_admin_tenants import admin_client, post_action, registry_row, tenant_page

__all__ = ["admin_client"]  # the fixture, imported for this module's tests

OWNER = ["--name", "X", "--owner-email", "o@x.test", "--owner-password", "long-enough"]


@pytest.fixture
def cli(platform):
    runner = platform.console.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_validate_plan() -> None:
    assert validate_plan(" Pro ") == "pro"
    for name in PLAN_NAMES:
        assert validate_plan(name) == name
    with pytest.raises(UnknownPlan, match="no plan “platinum”; choose one of: free, pro"):
        validate_plan("platinum")


def test_cli_refuses_an_unknown_plan_in_one_line(cli, platform) -> None:
    refused = cli("tenants", "create", "umbrella", *OWNER, "--plan", "platinum")
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "Error: There is no plan “platinum”; choose one of: free, pro, enterprise."
    )
    assert platform.registry.get("umbrella") is None
    created = cli("tenants", "create", "umbrella", *OWNER, "--plan", "Enterprise")
    assert created.exit_code == 0, created.output
    platform.registry.refresh(force=True)
    assert platform.registry.get("umbrella").plan == "enterprise"
    assert "free, pro, enterprise" in cli("tenants", "create", "--help").output


def test_the_registry_refuses_an_unknown_plan(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    with pytest.raises(UnknownPlan):
        lifecycle.update_tenant(platform, "acme", actor="test", plan="platinum")
    assert registry_row(platform, tenant.id).plan == "free"
    with pytest.raises(UnknownPlan):
        Tenant(slug="x", display_name="X", plan="gold")


def _select(body: str) -> str:
    match = re.search(r'<select[^>]*name="plan".*?</select>', body, re.DOTALL)
    assert match, body
    return match.group(0)


def test_the_select_shows_the_current_plan(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    lifecycle.update_tenant(platform, "acme", actor="test", plan="enterprise")
    select = _select(tenant_page(admin_client, tenant.id).get_data(as_text=True))
    assert re.search(r'<option selected value="enterprise">', select), select
    assert len(re.findall("selected", select)) == 1


def test_a_row_naming_no_plan_is_not_silently_replaced(
    admin_client, platform, create_tenant
) -> None:
    """A row written before plans were checked: the select says so; Change plan refuses."""
    tenant = create_tenant("acme")
    with Session(platform.engine) as session:
        session.execute(update(Tenant).where(Tenant.id == tenant.id).values(plan="platinum"))
        session.commit()
    body = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    select = _select(body)
    assert 'selected value=""' in select and "now “platinum”, not a plan" in select
    refused = post_action(admin_client, tenant.id, "plan", plan="")
    assert refused.status_code == 422
    assert "Choose one of the plans listed" in refused.get_data(as_text=True)
    assert registry_row(platform, tenant.id).plan == "platinum"
    assert post_action(admin_client, tenant.id, "plan", plan="pro").status_code == 303
    assert registry_row(platform, tenant.id).plan == "pro"
