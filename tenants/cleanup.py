"""Undo what crashed provisionings leave behind: stale claims, orphaned storage, partial files.

A signup claims its name with a ``provisioning`` row, builds the storage, then marks the
row active. A process killed in between (``kill -9``, a node lost, gunicorn's timeout)
leaves the row holding the name and, on SQLite, a half-built ``tenant-N.db.building-*``
file (a PostgreSQL schema is built in one transaction, which the server rolls back when
the connection dies). Two things undo that, with no operator:

- the *provisioning lease* (``PROVISIONING_LEASE_SECONDS``, 60 s): a claim that finds
  its name held by a ``provisioning`` row older than that fails the row and claims the
  name in the same transaction (``tenants.registry.service.claim_slug``), then drops
  the old row's storage (:func:`drop_storage_of`);
- :func:`sweep`, run by ``tenants cleanup`` (and periodically by the platform's job
  worker where it runs): fails every provisioning row past its lease, and drops storage
  and partial files that no live tenant owns.

A provisioning that is merely slow and outlives its lease is refused at its last step
(``ProvisioningAbandoned``): its name may belong to someone else by then.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.registry import domains as registry_domains
from tenants.registry import service
from tenants.registry.models import SLUG_HOLDING_STATUSES, Tenant, TenantStatus, utcnow
from tenants.storage.archive import exports_directory

if TYPE_CHECKING:
    from tenants.kernel import Platform

log = logging.getLogger(__name__)


def lease_of(platform: Platform) -> timedelta:
    return timedelta(seconds=platform.settings.provisioning_lease_seconds)


@dataclass
class CleanupReport:
    """What a sweep did: rows failed (id, slug), storage dropped, and what it could not do."""

    failed: list[tuple[int, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def did_nothing(self) -> bool:
        return not (self.failed or self.dropped or self.errors)


def fail_stale_provisioning(platform: Platform, *, actor: str) -> list[tuple[int, str]]:
    """Mark every provisioning row older than the lease failed (audited); their names free."""
    lease = lease_of(platform)
    seconds = int(lease.total_seconds())

    def fail(session: Session) -> list[tuple[int, str]]:
        stale = session.execute(
            select(Tenant)
            .where(
                Tenant.status == str(TenantStatus.PROVISIONING),
                Tenant.created_at < utcnow() - lease,
            )
            .order_by(Tenant.id)
            .with_for_update(skip_locked=True)
        ).scalars()
        failed = []
        for tenant in stale:
            service.set_status(session, tenant, TenantStatus.FAILED)
            service.audit(
                session,
                actor,
                "tenant.fail",
                tenant,
                reason=f"stuck in provisioning for over {seconds} seconds",
            )
            failed.append((tenant.id, tenant.slug))
        return failed

    failed = service.write(platform.engine, fail)
    if failed:
        platform.registry.invalidate()
    return failed


def drop_storage_of(platform: Platform, tenant_id: int) -> str | None:
    """Drop a failed tenant's storage and partial files; the error text if that failed."""
    try:
        platform.storage.drop(tenant_id)
    except Exception as error:
        log.exception("Could not drop the storage of tenant %s; cleanup retries.", tenant_id)
        return f"{platform.storage.location(tenant_id)}: {str(error).splitlines()[0]}"
    platform.storage.forget(tenant_id)
    return None


def sweep(platform: Platform, *, actor: str = "cleanup") -> CleanupReport:
    """Fail stale provisionings; drop storage and partial files no live tenant owns.

    Storage is listed first, then the rows that may own it: every row is committed
    before its storage is made, so storage built after the listing is never looked at.
    A provisioning row within its lease owns its (partial) storage.
    """
    report = CleanupReport(failed=fail_stale_provisioning(platform, actor=actor))
    storage = platform.storage
    complete = storage.existing_ids()
    partial = storage.partial_ids()
    holding = [str(status) for status in SLUG_HOLDING_STATUSES]
    with Session(platform.engine) as session:
        live = set(session.execute(select(Tenant.id).where(Tenant.status.in_(holding))).scalars())
    for tenant_id in sorted((complete | partial) - live):
        error = drop_storage_of(platform, tenant_id)
        if error:
            report.errors.append(error)
        else:
            report.dropped.append(storage.location(tenant_id))
    return report


# -- purging deleted tenants after their grace period ----------------------------------


def purge_due(
    platform: Platform, *, now: datetime | None = None, actor: str = "purge-job"
) -> list[str]:
    """Purge every deleted tenant whose grace period is over; return their slugs.

    Each row is marked purged (and audited) in its own short transaction before its
    storage is dropped: once marked, nobody can restore it while the drop runs, and a
    drop that fails leaves orphaned storage that ``tenants cleanup`` drops later.
    """
    now = now or utcnow()
    purged: list[str] = []
    while True:

        def mark_next(session: Session) -> Tenant | None:
            tenant = session.execute(
                select(Tenant)
                .where(Tenant.status == str(TenantStatus.DELETED), Tenant.purge_after <= now)
                .order_by(Tenant.purge_after, Tenant.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if tenant is not None:
                mark_purged(session, tenant, actor, reason="grace period over")
            return tenant

        tenant = service.write(platform.engine, mark_next)
        if tenant is None:
            break
        platform.registry.invalidate()
        drop_purged(platform, tenant.id)
        purged.append(tenant.slug)
    return purged


def mark_purged(session: Session, tenant: Tenant, actor: str, *, reason: str) -> None:
    # Its custom domains stayed reserved (and unrouted) through the grace period.
    registry_domains.release_all(session, tenant)
    service.set_status(session, tenant, TenantStatus.PURGED)
    service.audit(session, actor, "tenant.purge", tenant, slug=tenant.slug, reason=reason)


def drop_purged(platform: Platform, tenant_id: int) -> None:
    platform.apps.discard(tenant_id)
    # Its customer exports go with it (their links already refuse a purged tenant).
    shutil.rmtree(exports_directory(platform.settings.instance_path, tenant_id), ignore_errors=True)
    try:
        platform.storage.drop(tenant_id)
    except Exception:
        log.exception(
            "Could not drop the storage of purged tenant %s; "
            "'flask --app tenants.wsgi tenants cleanup' retries.",
            tenant_id,
        )
    platform.storage.forget(tenant_id)
