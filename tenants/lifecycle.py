"""Creating, suspending, resuming and deleting tenants.

Provisioning is a persisted state machine::

    claim slug (row "provisioning", committed)  ─►  create storage (all or nothing)
        ─►  row "active" (committed)

Any failure after the claim drops whatever storage exists and marks the row
"failed", which frees the slug for a retry. The unique index on the lower-cased
slug of live rows makes concurrent signups for one name race in the database:
exactly one claim commits; the others get :class:`SlugTaken`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tenants.cleanup import drop_storage_of, lease_of
from tenants.contract import NewOwner
from tenants.plans import DEFAULT_PLAN, UnknownPlan, validate_plan
from tenants.registry import domains as registry_domains
from tenants.registry import service
from tenants.registry.models import DEFAULT_DATABASE, Tenant, TenantStatus, utcnow
from tenants.registry.record import DISPLAY_NAME_SIZE, SUSPENSION_REASON_SIZE
from tenants.registry.service import SlugTaken, TenantNotFound
from tenants.registry.slugs import InvalidSlug, validate_slug
from tenants.validation import MIN_PASSWORD_LENGTH, password_problem, valid_email

if TYPE_CHECKING:
    from tenants.kernel import Platform

log = logging.getLogger(__name__)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "InvalidSignup",
    "InvalidSlug",
    "NewTenant",
    "ProvisionedTenant",
    "SlugTaken",
    "TenantNotFound",
    "delete_tenant",
    "provision_tenant",
    "resume_tenant",
    "suspend_tenant",
    "valid_email",
]


class ProvisioningAbandoned(RuntimeError):
    """The tenant stopped being "provisioning" (cleanup marked it failed) before it was done."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"Provisioning of “{slug}” was abandoned; sign up again.")


class InvalidSignup(ValueError):
    """A signup field is invalid; ``field`` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewTenant:
    slug: str
    display_name: str
    owner_email: str
    owner_password: str
    plan: str = DEFAULT_PLAN


@dataclass(frozen=True)
class ProvisionedTenant:
    id: int
    slug: str
    owner_id: int


def validate_new_tenant(request: NewTenant) -> NewTenant:
    """Check every field; return the request with the canonical slug and trimmed text."""
    try:
        slug = validate_slug(request.slug)
    except InvalidSlug as error:
        raise InvalidSignup("subdomain", str(error)) from None
    name = request.display_name.strip()
    if not name:
        raise InvalidSignup("name", "Give the workspace a name.")
    if len(name) > DISPLAY_NAME_SIZE:
        raise InvalidSignup("name", f"A workspace name has at most {DISPLAY_NAME_SIZE} characters.")
    email = request.owner_email.strip()
    if not valid_email(email):
        raise InvalidSignup("email", "Enter an email address like you@example.com.")
    problem = password_problem(request.owner_password, email=email)
    if problem is not None:
        raise InvalidSignup("password", problem)
    try:
        plan = validate_plan(request.plan)
    except UnknownPlan as error:
        raise InvalidSignup("plan", str(error)) from None
    return NewTenant(slug, name, email, request.owner_password, plan)


def provision_tenant(
    platform: Platform, request: NewTenant, *, actor: str = "signup"
) -> ProvisionedTenant:
    """Create a tenant with its storage and owner; all of it, or nothing routable."""
    request = validate_new_tenant(request)
    # Hash before claiming the slug: the claim should be held as briefly as possible.
    password_hash = platform.settings.hash_password(request.owner_password)

    replaced: list[int] = []

    def claim(session: Session) -> int:
        replaced.clear()
        stale = service.take_over_stale_claim(
            session, request.slug, lease=lease_of(platform), actor=actor
        )
        if stale is not None:
            replaced.append(stale)
        database = DEFAULT_DATABASE
        if platform.settings.tenant_databases:
            names = [DEFAULT_DATABASE, *platform.settings.tenant_databases]
            database = service.least_used_database(session, names)
        return service.claim_slug(
            session,
            request.slug,
            display_name=request.display_name,
            plan=request.plan,
            database=database,
        ).id

    tenant_id = service.write(platform.engine, claim)
    for stale_id in replaced:
        # The dead claim's partial file or schema goes now; `tenants cleanup` retries.
        drop_storage_of(platform, stale_id)
    owner = NewOwner(email=request.owner_email, password_hash=password_hash)
    owner_ids: list[int] = []

    def add_owner(tenant_session: Session) -> None:
        # The tenant app fills its own storage: the platform knows no user model.
        owner_ids.append(platform.tenant_app.provision(tenant_session, owner))

    try:
        revision = platform.storage.create(tenant_id, add_owner)

        def activate(session: Session) -> None:
            row = session.get_one(Tenant, tenant_id, with_for_update=True)
            if row.status != TenantStatus.PROVISIONING:
                # `tenants cleanup` gave up on this slow provisioning meanwhile: its slug
                # may be someone else's now, so it must not come back to life.
                raise ProvisioningAbandoned(row.slug)
            row.storage_revision = revision
            service.set_status(session, row, TenantStatus.ACTIVE)
            service.audit(session, actor, "tenant.create", row, slug=row.slug)

        service.write(platform.engine, activate)
    except BaseException:
        _abandon(platform, tenant_id)
        raise
    finally:
        platform.registry.invalidate()
    return ProvisionedTenant(id=tenant_id, slug=request.slug, owner_id=owner_ids[0])


def _abandon(platform: Platform, tenant_id: int) -> None:
    """Undo a half-done provisioning: no storage, and the row "failed" (slug freed)."""
    try:
        platform.storage.drop(tenant_id)
    except Exception:
        log.exception(
            "Could not drop the storage of failed tenant %s; 'tenants cleanup' retries.",
            tenant_id,
        )

    def mark_failed(session: Session) -> None:
        row = session.get(Tenant, tenant_id, with_for_update=True)
        if row is not None:
            service.set_status(session, row, TenantStatus.FAILED)

    try:
        service.write(platform.engine, mark_failed)
    except Exception:
        log.exception("Could not mark tenant %s failed; 'tenants cleanup' retries.", tenant_id)


def _change_status(
    platform: Platform,
    slug: str,
    status: TenantStatus,
    *,
    actor: str,
    allowed_from: tuple[TenantStatus, ...],
    reason: str | None = None,
) -> Tenant:

    def change(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True)
        if tenant.status == status:
            return tenant
        if tenant.status not in allowed_from:
            raise InvalidTransition(
                f"Tenant “{tenant.slug}” is {tenant.status}; it cannot become {status}."
            )
        service.set_status(session, tenant, status)
        # A resumed tenant forgets why it was suspended.
        tenant.suspension_reason = reason if status == TenantStatus.SUSPENDED else None
        detail = {"reason": reason} if reason else {}
        service.audit(session, actor, f"tenant.{_VERB[status]}", tenant, **detail)
        return tenant

    tenant = service.write(platform.engine, change)
    platform.registry.invalidate()
    return tenant


def lease_remaining(platform: Platform, tenant: Tenant) -> int:
    """Seconds until a provisioning row's lease runs out (0: it has)."""
    created = tenant.created_at
    if created.tzinfo is None:  # SQLite gives naive datetimes; they are UTC
        created = created.replace(tzinfo=UTC)
    left = (created + lease_of(platform) - utcnow()).total_seconds()
    return max(0, math.ceil(left))


_VERB = {TenantStatus.SUSPENDED: "suspend", TenantStatus.ACTIVE: "resume"}


class InvalidTransition(ValueError):
    """The tenant's current status does not allow this change."""


class InvalidSuspension(ValueError):
    """The suspension's reason is not acceptable (too long)."""


def suspend_tenant(
    platform: Platform, slug: str, *, actor: str = "cli", reason: str | None = None
) -> Tenant:
    """Suspend an active tenant; ``reason`` is shown to its members on the 403 page."""
    reason = " ".join((reason or "").split()) or None  # one line, no runs of spaces
    if reason is not None and len(reason) > SUSPENSION_REASON_SIZE:
        raise InvalidSuspension(
            f"Give a reason of at most {SUSPENSION_REASON_SIZE} characters "
            f"(this one has {len(reason)})."
        )
    return _change_status(
        platform,
        slug,
        TenantStatus.SUSPENDED,
        actor=actor,
        allowed_from=(TenantStatus.ACTIVE,),
        reason=reason,
    )


def resume_tenant(platform: Platform, slug: str, *, actor: str = "cli") -> Tenant:
    return _change_status(
        platform, slug, TenantStatus.ACTIVE, actor=actor, allowed_from=(TenantStatus.SUSPENDED,)
    )


def delete_tenant(platform: Platform, slug: str, *, actor: str = "cli") -> Tenant:
    """Mark the tenant deleted (unroutable at once, slug free), then drop its storage."""

    def mark_deleted(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True)
        if tenant.status == TenantStatus.PROVISIONING:
            # Within its lease a provisioning may still finish; past it, it is dead.
            left = lease_remaining(platform, tenant)
            if left > 0:
                raise InvalidTransition(
                    f"Tenant “{tenant.slug}” is still being provisioned; try again in "
                    f"{left} second{'s' if left != 1 else ''}."
                )
        registry_domains.release_all(session, tenant)  # its custom domains are free again
        service.set_status(session, tenant, TenantStatus.DELETED)
        service.audit(session, actor, "tenant.delete", tenant, slug=tenant.slug)
        return tenant

    tenant = service.write(platform.engine, mark_deleted)
    platform.registry.invalidate()
    platform.apps.discard(tenant.id)
    platform.storage.drop(tenant.id)
    platform.storage.forget(tenant.id)
    return tenant


def update_tenant(
    platform: Platform,
    slug: str,
    *,
    actor: str,
    display_name: str | None = None,
    plan: str | None = None,
    settings: dict[str, object] | None = None,
) -> Tenant:
    """Change a live tenant's display name, plan or settings (merged); audited.

    The change moves the registry clock: every process rebuilds the tenant's app with
    the new values within a poll interval.
    """

    if plan is not None:
        plan = validate_plan(plan)  # UnknownPlan before any write

    def update(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True)
        changes: dict[str, object] = {}
        if display_name is not None and display_name != tenant.display_name:
            tenant.display_name = display_name
            changes["display_name"] = display_name
        if plan is not None and plan != tenant.plan:
            tenant.plan = plan
            changes["plan"] = plan
        if settings:
            merged = {**(tenant.settings or {}), **settings}
            if merged != tenant.settings:
                tenant.settings = merged
                changes["settings"] = settings
        if not changes:
            return tenant
        service.touch(session, tenant)
        service.audit(session, actor, "tenant.update", tenant, **changes)
        return tenant

    tenant = service.write(platform.engine, update)
    platform.registry.invalidate()
    return tenant
