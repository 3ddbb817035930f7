"""From a slug or a custom domain to the WSGI app that answers for it, by the tenant's status.

Usage::

    resolve = TenantResolver(registry.get, cache, create_app,
                             lookup_domain=registry.for_domain, tenant_host=primary_host)
    app = resolve("acme")  # a tenant app, a redirect, a 403/503 page, or None (no such tenant)
    found = resolve.for_domain("notes.acme.org")  # (slug, app) or None

A tenant answers on its primary address only: its chosen custom domain while that is
routable, else its subdomain. Its other addresses redirect there permanently, with path
and query, so one browser session (host-only cookies) and one set of links exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenants.dispatch.cache import AppCache
from tenants.dispatch.pages import SUSPENDED, UNAVAILABLE, MovedTo
from tenants.dispatch.readonly import ReadOnlyGate
from tenants.registry.record import RegistryUnavailable, TenantRecord, TenantStatus

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class TenantResolver:
    """Active → the tenant's (cached) app, behind a :class:`ReadOnlyGate` while it refuses
    writes; suspended → 403; unknown, provisioning, deleted → None.

    When the registry cannot be read the answer is a 503 page, never a guess.
    """

    def __init__(
        self,
        lookup: Callable[[str], TenantRecord | None],
        cache: AppCache[Any],
        build: Callable[[TenantRecord], WSGIApplication],
        *,
        lookup_domain: Callable[[str], TenantRecord | None] | None = None,
        tenant_host: Callable[[TenantRecord], str] | None = None,
        scheme: str = "http",
        suspended: Callable[[TenantRecord], WSGIApplication] = lambda _tenant: SUSPENDED,
    ) -> None:
        self.lookup = lookup
        self.cache = cache
        self.build = build
        self.lookup_domain = lookup_domain
        #: The primary host (with port) of a tenant, for redirects to it.
        self.tenant_host = tenant_host
        self.scheme = scheme
        # One redirect app per primary host, reused (bounded by the record cache's churn).
        self._moves: dict[str, MovedTo] = {}
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
            if tenant.primary_domain and self.tenant_host is not None:
                return self._moved(self.tenant_host(tenant))
            return self._app(tenant)
        if tenant.status == TenantStatus.SUSPENDED:
            return self.suspended(tenant)
        return None

    def for_domain(self, host: str) -> tuple[str, WSGIApplication] | None:
        """The tenant's slug and the app for a custom domain ``host``, or None if unknown."""
        if self.lookup_domain is None:
            return None
        try:
            tenant = self.lookup_domain(host)
        except RegistryUnavailable:
            return "", UNAVAILABLE
        if tenant is None:
            return None
        if tenant.status == TenantStatus.SUSPENDED:
            return tenant.slug, self.suspended(tenant)
        if tenant.status != TenantStatus.ACTIVE:
            return None
        if tenant.primary_domain != host and self.tenant_host is not None:
            return tenant.slug, self._moved(self.tenant_host(tenant))
        return tenant.slug, self._app(tenant)

    def _app(self, tenant: TenantRecord) -> WSGIApplication:
        app = self.cache.get(tenant.id, tenant.version, lambda: self.build(tenant))
        retry_after = tenant.refuses_writes()
        if retry_after is not None:
            # Read-only (an admin's choice or an operation's lease): reads only.
            return ReadOnlyGate(app, retry_after)
        return app

    def _moved(self, host: str) -> MovedTo:
        moved = self._moves.get(host)
        if moved is None:
            if len(self._moves) > 4096:
                self._moves.clear()
            moved = self._moves[host] = MovedTo(self.scheme, host)
        return moved
