"""Changes to the registry. Each one moves the registry clock, so every process sees it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants.registry.models import (
    DEFAULT_DATABASE,
    SLUG_HOLDING_STATUSES,
    AuditEntry,
    RegistryClock,
    Tenant,
    TenantStatus,
    utcnow,
)


class SlugTaken(Exception):
    """Another live tenant holds this slug (compared regardless of case)."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"The subdomain “{slug}” is taken; choose another one.")
        self.slug = slug


class TenantNotFound(LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(
            f"No tenant “{slug}”; 'flask --app tenants.wsgi tenants list' shows the tenants."
        )
        self.slug = slug


def next_generation(session: Session) -> int:
    """Move the registry clock one step; the row lock orders concurrent writers."""
    session.execute(
        update(RegistryClock)
        .where(RegistryClock.id == 1)
        .values(generation=RegistryClock.generation + 1)
    )
    return session.execute(
        select(RegistryClock.generation).where(RegistryClock.id == 1)
    ).scalar_one()


def touch(session: Session, tenant: Tenant) -> None:
    """Record that ``tenant`` changed: new version and timestamp."""
    tenant.version = next_generation(session)
    tenant.updated_at = utcnow()


def find_live(session: Session, slug: str) -> Tenant | None:
    """The provisioning, active or suspended tenant holding ``slug``."""
    return session.execute(
        select(Tenant).where(
            func.lower(Tenant.slug) == slug.lower(),
            Tenant.status.in_([str(s) for s in SLUG_HOLDING_STATUSES]),
        )
    ).scalar_one_or_none()


def get_live(session: Session, slug: str) -> Tenant:
    tenant = find_live(session, slug)
    if tenant is None:
        raise TenantNotFound(slug)
    return tenant


def claim_slug(
    session: Session,
    slug: str,
    *,
    display_name: str,
    plan: str = "free",
    settings: dict[str, Any] | None = None,
    database: str = DEFAULT_DATABASE,
) -> Tenant:
    """Insert a tenant in ``provisioning`` and commit; raise SlugTaken if it is held."""
    tenant = Tenant(
        slug=slug,
        display_name=display_name,
        status=TenantStatus.PROVISIONING,
        plan=plan,
        settings=settings or {},
        database=database,
    )
    try:
        touch(session, tenant)
        session.add(tenant)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise SlugTaken(slug) from None
    return tenant


def set_status(session: Session, tenant: Tenant, status: TenantStatus) -> None:
    tenant.status = status
    touch(session, tenant)


def audit(
    session: Session, actor: str, action: str, tenant: Tenant | None = None, **detail: Any
) -> None:
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
