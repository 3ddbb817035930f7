"""The platform: settings, the shared engine, the registry, tenant storage and dispatch.

One :class:`Platform` per process ties the parts together and is the WSGI
application that serves everything::

    platform = Platform(Settings.from_environ())
    application = platform  # gunicorn tenants.wsgi:application
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

from tenants.database import create_platform_engine
from tenants.dispatch.cache import AppCache
from tenants.dispatch.edge import around_dispatcher
from tenants.dispatch.logsink import open_sink
from tenants.dispatch.path import PathDispatcher
from tenants.dispatch.resolver import TenantResolver
from tenants.dispatch.subdomain import SubdomainDispatcher
from tenants.registry.record import TenantRecord
from tenants.registry.slugs import RESERVED_SLUGS
from tenants.registry.store import TenantRegistry
from tenants.settings import Settings, SettingsError
from tenants.sqla import ENGINE
from tenants.storage import PostgresStorage, SQLiteStorage, TenantStorage

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Platform:
    """Everything one process needs to serve the platform and all its tenants."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        pooled = settings.database_pooler == "transaction"
        self.engine = create_platform_engine(
            settings.database_url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_recycle=settings.pool_recycle_seconds,
            transaction_pooler=pooled,
        )
        self.tenant_engines = {
            name: create_platform_engine(
                url,
                pool_size=settings.pool_size,
                max_overflow=settings.max_overflow,
                pool_recycle=settings.pool_recycle_seconds,
                transaction_pooler=pooled,
            )
            for name, url in settings.tenant_databases.items()
        }
        self.storage: TenantStorage = (
            PostgresStorage(self.engine, self.tenant_engines)
            if settings.is_postgres
            else SQLiteStorage.beside(settings.database_url, settings.instance_path)
        )
        self.apps: AppCache[Flask] = AppCache(settings.app_cache_size, release=self.release_app)
        self.registry = TenantRegistry(
            self.engine, poll_seconds=settings.registry_poll_seconds, on_change=self.tenant_changed
        )
        self.resolve = TenantResolver(self.registry.get, self.apps, self.build_tenant_app)

        from tenants.console import create_console_app

        self.console = create_console_app(self)
        self.wsgi_app = self._build_dispatcher()

    def _build_dispatcher(self) -> WSGIApplication:
        """The dispatcher, inside the middleware every response passes through (edge.py)."""
        from tenants.console import route_segments

        settings = self.settings
        dispatcher: WSGIApplication
        if settings.tenant_routing == "path":
            dispatcher = PathDispatcher(
                settings.base_domain,
                self.console,
                self.resolve,
                reserved=RESERVED_SLUGS | route_segments(self.console),
                public_scheme=settings.url_scheme,
                public_port=settings.public_port,
            )
        else:
            dispatcher = SubdomainDispatcher(
                settings.base_domain,
                self.console,
                self.resolve,
                public_scheme=settings.url_scheme,
                public_port=settings.public_port,
            )
        try:
            self.request_log = open_sink(settings.request_log)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        return around_dispatcher(
            dispatcher,
            proxy_count=settings.proxy_count,
            request_log=self.request_log,
            https=settings.url_scheme == "https",
            form_action=_form_targets(settings),
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    # -- tenant apps ----------------------------------------------------------------

    def build_tenant_app(self, tenant: TenantRecord) -> Flask:
        from tenants.workspace.factory import create_app

        return create_app(tenant, platform=self)

    def tenant_changed(self, tenant_id: int) -> None:
        """The registry says a tenant changed: rebuild its app, re-read where it lives."""
        self.apps.discard(tenant_id)
        self.storage.forget(tenant_id)

    def release_app(self, app: Flask) -> None:
        engine = app.extensions.get(ENGINE)
        if engine is not None:
            self.storage.release(engine)

    def tenant_app(self, slug: str) -> Flask | None:
        """The cached app of an active tenant (for tools and tests)."""
        tenant = self.registry.get(slug)
        if tenant is None or not tenant.is_active:
            return None
        return self.apps.get(tenant.id, tenant.version, lambda: self.build_tenant_app(tenant))

    def close(self) -> None:
        """Release every cached app and the engine (tests, shutdown, after fork)."""
        self.apps.clear()
        for engine in (self.engine, *self.tenant_engines.values()):
            engine.dispose()
        close = getattr(self.request_log, "close", None)
        if close is not None:
            close()

    def after_fork(self) -> None:
        """In a new worker process: never share pooled connections with the parent."""
        for engine in (self.engine, *self.tenant_engines.values()):
            engine.dispose(close=False)
        self.apps.clear()

    def __repr__(self) -> str:
        settings = self.settings
        return f"<Platform {settings.base_domain} {self.storage.kind} {settings.tenant_routing}>"


def _form_targets(settings: Settings) -> tuple[str, ...]:
    """Origins besides a page's own that its forms may post or be redirected to.

    The signup form ends, by a redirect that CSP ``form-action`` also governs, on the
    new tenant's host; in path mode everything is one origin.
    """
    if settings.tenant_routing == "path":
        return ()
    return (
        settings.url_for_platform("").rstrip("/"),
        f"{settings.url_scheme}://*.{settings.host_for(None)}",
    )


_current: Platform | None = None
_current_lock = threading.Lock()


def current_platform() -> Platform:
    """The process's platform: installed by ``tenants.wsgi``, or else built from the environment."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = Platform(Settings.from_environ())
    return _current


def install_platform(platform: Platform | None) -> Platform | None:
    """Make ``platform`` the process's current one; return the one it replaces."""
    global _current
    previous, _current = _current, platform
    return previous


def platform_of(app: Any) -> Platform:
    """The platform an app (tenant or console) belongs to."""
    return app.extensions["tenants_platform"]
