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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.cleanup import drop_purged, drop_storage_of, lease_of, mark_purged, purge_due
from tenants.contract import NewOwner
from tenants.keys import derive_directory_key
from tenants.plans import DEFAULT_PLAN, UnknownPlan, validate_plan
from tenants.registry import directory, service
from tenants.registry import domains as registry_domains
from tenants.registry.models import DEFAULT_DATABASE, AuditEntry, Tenant, TenantStatus, utcnow
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
    "purge_due",
    "purge_tenant",
    "resume_tenant",
    "suspend_tenant",
    "undelete_tenant",
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
    #: The owner's name as they want the team to see it (optional; the account page sets it).
    owner_name: str = ""


#: The longest person's name signup accepts (the accounts' ``users.name`` column holds it).
OWNER_NAME_SIZE = 120


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
    owner_name = " ".join(request.owner_name.split())
    if len(owner_name) > OWNER_NAME_SIZE:
        raise InvalidSignup("owner_name", f"A name has at most {OWNER_NAME_SIZE} characters.")
    return NewTenant(slug, name, email, request.owner_password, plan, owner_name)


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
    owner = NewOwner(
        email=request.owner_email, password_hash=password_hash, name=request.owner_name
    )
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
            # The owner is the first entry of the workspace finder's directory (a keyed
            # hash, never the address): in the same transaction that makes it active.
            directory.add_member(
                session,
                derive_directory_key(platform.settings.secret_key),
                tenant_id,
                request.owner_email,
            )

        service.write(platform.engine, activate)
    except BaseException:
        abandon_provisioning(platform, tenant_id)
        raise
    finally:
        platform.registry.invalidate()
    return ProvisionedTenant(id=tenant_id, slug=request.slug, owner_id=owner_ids[0])


def abandon_provisioning(platform: Platform, tenant_id: int) -> None:
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


def grace_of(platform: Platform) -> timedelta:
    return timedelta(days=platform.settings.tenant_delete_grace_days)


def delete_tenant(
    platform: Platform, slug: str, *, actor: str = "cli", now: datetime | None = None
) -> Tenant:
    """Make the tenant unreachable at once; its storage and slug stay for the grace period.

    Every process answers 404 for it within a poll interval (the change feed), and no
    request reaches its storage after that; an admin can :func:`undelete_tenant` it
    until ``purge_after``, when :func:`purge_due` drops its storage. A provisioning that
    died (past its lease) has nothing worth keeping: it is purged at once.
    """
    now = now or utcnow()

    def mark_deleted(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True)
        was = tenant.status
        if tenant.status == TenantStatus.PROVISIONING:
            # Within its lease a provisioning may still finish; past it, it is dead.
            left = lease_remaining(platform, tenant)
            if left > 0:
                raise InvalidTransition(
                    f"Tenant “{tenant.slug}” is still being provisioned; try again in "
                    f"{left} second{'s' if left != 1 else ''}."
                )
            tenant.deleted_at = tenant.purge_after = now
            registry_domains.release_all(session, tenant)  # its custom domains are free again
            service.set_status(session, tenant, TenantStatus.PURGED)
        else:
            tenant.deleted_at = now
            tenant.purge_after = now + grace_of(platform)
            service.set_status(session, tenant, TenantStatus.DELETED)
        service.audit(
            session,
            actor,
            "tenant.delete",
            tenant,
            slug=tenant.slug,
            was=str(was),
            purge_after=tenant.purge_after.isoformat(timespec="seconds"),
        )
        return tenant

    tenant = service.write(platform.engine, mark_deleted)
    platform.registry.invalidate()
    platform.apps.discard(tenant.id)
    if tenant.status == TenantStatus.PURGED:
        drop_purged(platform, tenant.id)
    return tenant


def undelete_tenant(platform: Platform, slug: str, *, actor: str = "cli") -> Tenant:
    """Bring a tenant deleted within its grace period back, in the status it had."""

    def restore(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True, deleted=True)
        if tenant.status != TenantStatus.DELETED:
            raise InvalidTransition(f"Tenant “{tenant.slug}” is {tenant.status}, not deleted.")
        was = session.execute(
            select(AuditEntry.detail)
            .where(AuditEntry.tenant_id == tenant.id, AuditEntry.action == "tenant.delete")
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).scalar()
        previous = (was or {}).get("was")
        status = (
            TenantStatus.SUSPENDED if previous == TenantStatus.SUSPENDED else TenantStatus.ACTIVE
        )
        tenant.deleted_at = tenant.purge_after = None
        service.set_status(session, tenant, status)
        service.audit(session, actor, "tenant.undelete", tenant, status=str(status))
        return tenant

    tenant = service.write(platform.engine, restore)
    platform.registry.invalidate()
    return tenant


def purge_tenant(platform: Platform, slug: str, *, confirm: str, actor: str = "cli") -> Tenant:
    """Purge a deleted tenant now, before its grace period ends; ``confirm`` must be its slug.

    Nothing can bring it back after this: the storage is dropped and the slug is free.
    """
    if confirm.strip().lower() != slug.strip().lower():
        raise InvalidTransition(f"Type “{slug}” exactly to purge it; nothing was purged.")

    def mark(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True, deleted=True)
        if tenant.status != TenantStatus.DELETED:
            raise InvalidTransition(
                f"Tenant “{tenant.slug}” is {tenant.status}; delete it first, then purge it."
            )
        mark_purged(session, tenant, actor, reason="purged before the end of its grace period")
        return tenant

    tenant = service.write(platform.engine, mark)
    platform.registry.invalidate()
    drop_purged(platform, tenant.id)
    return tenant


def set_read_only(platform: Platform, slug: str, read_only: bool, *, actor: str = "cli") -> Tenant:
    """Put a tenant read-only (or writable again), in every process within a poll interval.

    Its pages are served; every write is answered 503 "read-only for maintenance"
    (``tenants.dispatch.readonly``) until an admin makes it writable again.
    """

    def change(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True)
        if tenant.read_only == read_only:
            return tenant
        tenant.read_only = read_only
        service.touch(session, tenant)
        service.audit(
            session, actor, "tenant.read_only" if read_only else "tenant.writable", tenant
        )
        return tenant

    tenant = service.write(platform.engine, change)
    platform.registry.invalidate()
    return tenant


def lock_writes(
    platform: Platform, slug: str, *, seconds: float, actor: str, reason: str
) -> Tenant:
    """Refuse the tenant's writes for ``seconds`` (a lease: it ends by itself if we die).

    An operation that needs the tenant's storage unchanged (a move) takes the lease,
    waits until every process has seen it, does its work and calls :func:`unlock_writes`;
    if it is killed meanwhile, the tenant is writable again when the lease ends.
    """

    def lock(session: Session) -> Tenant:
        tenant = service.get_live(session, slug, for_update=True)
        if tenant.status != TenantStatus.ACTIVE:
            raise InvalidTransition(f"Tenant “{tenant.slug}” is {tenant.status}, not active.")
        tenant.write_lock_until = utcnow() + timedelta(seconds=seconds)
        service.touch(session, tenant)
        service.audit(session, actor, "tenant.lock_writes", tenant, reason=reason, seconds=seconds)
        return tenant

    tenant = service.write(platform.engine, lock)
    platform.registry.invalidate()
    return tenant


def unlock_writes(platform: Platform, tenant_id: int, *, actor: str) -> None:
    """End a write lease taken by :func:`lock_writes` (idempotent)."""

    def unlock(session: Session) -> None:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None or tenant.write_lock_until is None:
            return
        tenant.write_lock_until = None
        service.touch(session, tenant)
        service.audit(session, actor, "tenant.unlock_writes", tenant)

    service.write(platform.engine, unlock)
    platform.registry.invalidate()


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
