"""Changes to the registry. Each one appends to the change feed, so every process sees it.

Every registry write takes its locks in one order: the tenant's row first (its INSERT,
UPDATE or ``SELECT ... FOR UPDATE``), then the change feed entry (:func:`touch`), then
the audit entry. No write updates a row shared by all writers, so writes for different
tenants do not wait for each other, and two writes can only meet on one tenant's row or
slug, where one simply waits for the other. A deadlock or serialization failure that
PostgreSQL may still report is retried by :func:`write`, never shown to a person.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from tenants.plans import DEFAULT_PLAN
from tenants.registry import feed
from tenants.registry.models import (
    AUDIT_ACTOR_SIZE,
    DEFAULT_DATABASE,
    HOLDS_SLUG,
    SLUG_HOLDING_STATUSES,
    AuditEntry,
    Tenant,
    TenantStatus,
    utcnow,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How often a write is tried when the database reports a deadlock or serialization failure.
WRITE_ATTEMPTS = 6
#: PostgreSQL: serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class SlugTaken(Exception):
    """Another live tenant holds this slug (compared regardless of case)."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"The subdomain “{slug}” is taken; choose another one.")
        self.slug = slug


class TenantNotFound(LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"No tenant “{slug}”; 'tenants list' shows the tenants.")
        self.slug = slug


class TenantDeleted(TenantNotFound):
    """The slug belongs to a tenant deleted within its grace period (it can be restored)."""

    def __init__(self, slug: str, purge_after: datetime | None) -> None:
        LookupError.__init__(
            self,
            f"Tenant “{slug}” is deleted; until it is purged"
            + (f" ({purge_after:%Y-%m-%d %H:%M} UTC)" if purge_after else "")
            + f" 'flask --app tenants.wsgi tenants undelete {slug}' restores it.",
        )
        self.slug = slug
        self.purge_after = purge_after


def retryable(error: BaseException) -> bool:
    """A conflict the database resolved by aborting this transaction: running it again works."""
    original = getattr(error, "orig", None)
    if getattr(original, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original)


def write(engine: Engine, work: Callable[[Session], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
    """Run ``work(session)`` in a transaction of its own and commit it; return its result.

    A deadlock or serialization failure rolls the transaction back and runs ``work``
    again in a new one (with a short random pause), so ``work`` must only touch the
    database through its session. Any other error propagates after the rollback.
    """
    attempt = 1
    while True:
        with Session(engine, expire_on_commit=False) as session:
            try:
                result = work(session)
                session.commit()
                return result
            except DBAPIError as error:
                session.rollback()
                if attempt >= attempts or not retryable(error):
                    raise
                log.info("Registry write conflict (%s); trying again.", error.orig)
        time.sleep(random.uniform(0, 0.005 * 2**attempt))
        attempt += 1


def touch(session: Session, tenant: Tenant) -> None:
    """Record that ``tenant`` changed: its row is written first, then the feed entry.

    Flushes the session (the tenant's INSERT or UPDATE takes its row lock and, on
    PostgreSQL, gives the transaction its id), then appends the change, whose id becomes
    the tenant's ``version``. Every process applies the change at its next poll.
    """
    tenant.updated_at = utcnow()
    if tenant not in session:
        session.add(tenant)
    session.flush()
    set_committed_value(tenant, "version", feed.append(session, tenant.id))


def find_live(session: Session, slug: str, *, for_update: bool = False) -> Tenant | None:
    """The tenant holding ``slug`` (``for_update``: locked): provisioning, active,
    suspended, or deleted within its grace period."""
    query = select(Tenant).where(func.lower(Tenant.slug) == slug.lower(), HOLDS_SLUG)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def get_live(
    session: Session, slug: str, *, for_update: bool = False, deleted: bool = False
) -> Tenant:
    """The tenant holding ``slug``; a deleted one only if ``deleted`` (else TenantDeleted)."""
    tenant = find_live(session, slug, for_update=for_update)
    if tenant is None:
        raise TenantNotFound(slug)
    if tenant.status == TenantStatus.DELETED and not deleted:
        raise TenantDeleted(tenant.slug, tenant.purge_after)
    return tenant


def claim_slug(
    session: Session,
    slug: str,
    *,
    display_name: str,
    plan: str = DEFAULT_PLAN,
    settings: dict[str, Any] | None = None,
    database: str = DEFAULT_DATABASE,
) -> Tenant:
    """Insert a tenant in ``provisioning`` and commit; raise SlugTaken if it is held.

    Concurrent claims of one slug meet in the unique index: the second INSERT waits for
    the first transaction, then fails (SlugTaken) if it committed.
    """
    tenant = Tenant(
        slug=slug,
        display_name=display_name,
        status=TenantStatus.PROVISIONING,
        plan=plan,
        settings=settings or {},
        database=database,
        version=0,
    )
    try:
        touch(session, tenant)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise SlugTaken(slug) from None
    return tenant


def take_over_stale_claim(
    session: Session, slug: str, *, lease: timedelta, actor: str
) -> int | None:
    """Fail the provisioning row holding ``slug`` if its lease is over; return its id.

    Its process died mid-provisioning (or is too slow to trust): the row is locked,
    failed and audited in this transaction, so the caller's claim of the name commits
    with it, atomically. Two claimers wait for each other on the row's lock; the second
    then finds the name held by the first's new row (SlugTaken).
    """
    holder = find_live(session, slug, for_update=True)
    if holder is None or holder.status != TenantStatus.PROVISIONING:
        return None
    created = holder.created_at
    if created.tzinfo is None:  # SQLite gives naive datetimes; they are UTC
        created = created.replace(tzinfo=UTC)
    if created >= utcnow() - lease:
        return None
    set_status(session, holder, TenantStatus.FAILED)
    audit(
        session,
        actor,
        "tenant.fail",
        holder,
        reason=f"provisioning lease of {int(lease.total_seconds())} seconds ran out",
    )
    session.flush()
    return holder.id


def set_status(session: Session, tenant: Tenant, status: TenantStatus) -> None:
    tenant.status = status
    touch(session, tenant)


def audit(
    session: Session, actor: str, action: str, tenant: Tenant | None = None, **detail: Any
) -> None:
    if len(actor) > AUDIT_ACTOR_SIZE:  # an entry is never refused for its actor's length
        actor = actor[: AUDIT_ACTOR_SIZE - 1] + "…"
    session.add(
        AuditEntry(
            tenant_id=tenant.id if tenant is not None else None,
            actor=actor,
            action=action,
            detail=detail,
        )
    )


def least_used_database(session: Session, names: list[str]) -> str:
    """Of ``names``, the database holding the fewest live tenants (new tenants go there)."""
    counts = dict(
        session.execute(
            select(Tenant.database, func.count())
            .where(Tenant.status.in_([str(s) for s in SLUG_HOLDING_STATUSES]))
            .group_by(Tenant.database)
        ).all()
    )
    return min(names, key=lambda name: (counts.get(name, 0), names.index(name)))
