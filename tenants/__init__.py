"""A multi-tenant SaaS platform on Flask: one isolated app per tenant, dispatched by WSGI.

Usage::

    from tenants import create_app, get_user_for_subdomain

    tenant = get_user_for_subdomain("acme")
    if tenant is not None:
        app = create_app(tenant)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenants.registry.record import TenantRecord

__all__ = ["create_app", "get_user_for_prefix", "get_user_for_subdomain"]


def get_user_for_subdomain(subdomain: str) -> TenantRecord | None:
    """The routable tenant whose subdomain is ``subdomain``, or None (no app context needed)."""
    from tenants.kernel import current_platform

    return current_platform().registry.get_user_for_subdomain(subdomain)


def get_user_for_prefix(prefix: str) -> TenantRecord | None:
    """The routable tenant whose path prefix is ``prefix``, or None."""
    from tenants.kernel import current_platform

    return current_platform().registry.get_user_for_prefix(prefix)


def create_app(tenant: TenantRecord, test_config: Any = None, **kwargs: Any) -> Any:
    """Build the isolated Flask app of ``tenant`` (see ``tenants.workspace.factory``)."""
    from tenants.workspace.factory import create_app as factory

    return factory(tenant, test_config, **kwargs)
