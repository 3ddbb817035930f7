"""Which tenant is enqueuing: the tenant of the current tenant app's services.

The one place that knows how a tenant app carries its identity: through its
:class:`~tenants.contract.TenantServices`, reached with ``tenants.appkit``'s accessor
(never from the app's config, which tests and tools may override).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import has_app_context

from tenants.appkit.flask_app import tenant_services
from tenants.contract import ContractError, TenantServices
from tenants.registry.record import TenantRecord


@dataclass(frozen=True, slots=True)
class TenantStamp:
    """The tenant a job belongs to, as the enqueuing app knew it."""

    id: int
    slug: str
    version: int

    @classmethod
    def of(cls, tenant: TenantRecord) -> TenantStamp:
        return cls(id=tenant.id, slug=tenant.slug, version=tenant.version)


def current_services() -> TenantServices | None:
    """The services of the current tenant app; None outside one (the platform's own app)."""
    if not has_app_context():
        return None
    try:
        return tenant_services()
    except ContractError:
        return None


def current_tenant_stamp() -> TenantStamp | None:
    """The tenant of the current tenant app, or None outside any tenant app."""
    services = current_services()
    return None if services is None else TenantStamp.of(services.tenant)
