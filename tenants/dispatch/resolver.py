"""From a slug to the WSGI app that answers for it, by the tenant's status.

Usage::

    resolve = TenantResolver(registry.get, cache, create_app)
    app = resolve("acme")  # a tenant app, a 403/503 page, or None (no such tenant)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenants.dispatch.cache import AppCache
from tenants.dispatch.pages import SUSPENDED, UNAVAILABLE
from tenants.registry.record import RegistryUnavailable, TenantRecord, TenantStatus

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class TenantResolver:
    """Active → the tenant's (cached) app; suspended → 403; unknown, provisioning → None.

    When the registry cannot be read the answer is a 503 page, never a guess.
    """

    def __init__(
        self,
        lookup: Callable[[str], TenantRecord | None],
        cache: AppCache[Any],
        build: Callable[[TenantRecord], WSGIApplication],
        suspended: Callable[[TenantRecord], WSGIApplication] = lambda _tenant: SUSPENDED,
    ) -> None:
        self.lookup = lookup
        self.cache = cache
        self.build = build
        #: The 403 page of a suspended tenant (its name, the reason, whom to contact).
        self.suspended = suspended

    def __call__(self, slug: str) -> WSGIApplication | None:
        try:
            tenant = self.lookup(slug)
        except RegistryUnavailable:
            return UNAVAILABLE
        if tenant is None:
            return None
        if tenant.status == TenantStatus.ACTIVE:
            return self.cache.get(tenant.id, tenant.version, lambda: self.build(tenant))
        if tenant.status == TenantStatus.SUSPENDED:
            return self.suspended(tenant)
        return None
