"""Registry writes for custom domains, in the registry's lock order.

A domain's row (``tenant_domains``) says what its DNS said; the tenant's row carries a
copy of the routable ones (``tenants.custom_domains``, ``tenants.primary_domain``), which
is what every process reads from the change feed. :func:`sync_routes` keeps the copy
exact: every write that may change routing calls it in the same transaction, after
locking the tenant's row first (as every registry write does), and it appends to the
change feed only when routing really changed.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tenants.registry.models import HOLDS_SLUG, Tenant, TenantDomain
from tenants.registry.service import touch


def lock_tenant(session: Session, tenant_id: int) -> Tenant | None:
    """The live tenant ``tenant_id``, its row locked (the first lock of every write)."""
    return session.execute(
        select(Tenant).where(Tenant.id == tenant_id, HOLDS_SLUG).with_for_update()
    ).scalar_one_or_none()


def domains_of(session: Session, tenant_id: int) -> list[TenantDomain]:
    query = select(TenantDomain).where(TenantDomain.tenant_id == tenant_id)
    return list(session.execute(query.order_by(TenantDomain.id)).scalars())


def sync_routes(session: Session, tenant: Tenant) -> bool:
    """Copy the tenant's routable domains and its effective primary onto its row.

    Appends a change (every process re-reads the tenant) only if they changed; returns
    whether they did. The caller holds the tenant's row lock.
    """
    rows = domains_of(session, tenant.id)
    routable = [row.domain for row in rows if row.routable]
    primary = next((row.domain for row in rows if row.is_primary and row.routable), None)
    if list(tenant.custom_domains or []) == routable and tenant.primary_domain == primary:
        return False
    tenant.custom_domains = routable
    tenant.primary_domain = primary
    touch(session, tenant)
    return True


def release_all(session: Session, tenant: Tenant) -> None:
    """Free every domain of ``tenant`` (it is being deleted); the caller touches the row."""
    session.execute(delete(TenantDomain).where(TenantDomain.tenant_id == tenant.id))
    tenant.custom_domains = []
    tenant.primary_domain = None
