"""A multi-tenant SaaS platform on Flask: one isolated app per tenant, dispatched by WSGI.

Usage::

    from tenants import create_app, tenant_for_subdomain

    tenant = tenant_for_subdomain("acme")
    if tenant is not None:
        app = create_app(tenant)

These use the process's platform: the one ``tenants.wsgi`` builds from the environment
(and installs), or one installed with ``tenants.kernel.install_platform``. Importing this
package loads nothing else (the dispatcher runs without Flask), so the platform is
imported when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenants.kernel import Platform
    from tenants.registry.record import TenantRecord

__all__ = [
    "create_app",
    "get_user_for_prefix",
    "get_user_for_subdomain",
    "tenant_for_prefix",
    "tenant_for_subdomain",
]


def _platform() -> Platform:
    from tenants.kernel import current_platform, install_platform

    try:
        return current_platform()
    except RuntimeError:
        from tenants.kernel import Platform
        from tenants.settings import Settings

        settings = Settings.from_environ()
        settings.check_secret_key()
        install_platform(Platform(settings))
        return current_platform()


def tenant_for_subdomain(subdomain: str) -> TenantRecord | None:
    """The routable tenant whose subdomain is ``subdomain``, or None (no app context needed)."""
    return _platform().registry.tenant_for_subdomain(subdomain)


def tenant_for_prefix(prefix: str) -> TenantRecord | None:
    """The routable tenant whose path prefix is ``prefix``, or None."""
    return _platform().registry.tenant_for_prefix(prefix)


def create_app(tenant: TenantRecord, test_config: Any = None) -> Any:
    """Build the isolated app of ``tenant`` with the platform's ``TENANT_APP``."""
    return _platform().build_tenant_app(tenant, config=test_config)


# The seed's names: they return a tenant (the seed called its tenants users).
get_user_for_subdomain = tenant_for_subdomain
get_user_for_prefix = tenant_for_prefix
