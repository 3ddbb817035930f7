"""The platform: settings, the shared engine, the registry, tenant storage and dispatch.

One :class:`Platform` per process ties the parts together and is the WSGI
application that serves everything::

    platform = Platform(Settings.from_environ())   # serves TENANT_APP's tenant app
    application = platform  # gunicorn tenants.wsgi:application

The platform knows tenant apps only through :mod:`tenants.contract`: it loads the
:class:`~tenants.contract.TenantApp` that ``TENANT_APP`` names (or the one it is
given) and hands each tenant app its :class:`~tenants.contract.TenantServices`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tenants import lifecycle
from tenants.cli import register_commands
from tenants.console import create_console_app, route_segments
from tenants.contract import (
    PlatformLinks,
    SessionLifetimes,
    TenantApp,
    TenantServices,
    load_tenant_app,
)
from tenants.database import create_platform_engine
from tenants.dispatch.cache import AppCache
from tenants.dispatch.edge import around_dispatcher
from tenants.dispatch.logsink import open_sink
from tenants.dispatch.pages import not_found_page, suspended_page
from tenants.dispatch.path import PathDispatcher
from tenants.dispatch.resolver import TenantResolver
from tenants.dispatch.retry import RetryReadAfterMove
from tenants.dispatch.subdomain import SubdomainDispatcher
from tenants.dispatch.tlsask import TlsAsk
from tenants.domains.manager import DomainManager, TenantDomainsService
from tenants.exports import PlatformExports
from tenants.jobs.mail import domain_disabled
from tenants.jobs.runtime import close_runtime, forget_runtime_after_fork, runtime_of
from tenants.jobs.tenant_api import TenantJobs
from tenants.keys import derive_directory_key, derive_tenant_secret
from tenants.moves import move_tenant_job  # noqa: F401 - declares the move's job
from tenants.registry.directory import TenantDirectory
from tenants.registry.lookup import TenantRegistry
from tenants.registry.models import Tenant
from tenants.registry.record import TenantRecord, TenantStatus
from tenants.registry.slugs import RESERVED_SLUGS
from tenants.settings import Settings, SettingsError
from tenants.storage import PostgresStorage, SQLiteStorage, TenantStorage

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Platform:
    """Everything one process needs to serve the platform and all its tenants."""

    def __init__(self, settings: Settings, tenant_app: TenantApp | None = None) -> None:
        self.settings = settings
        #: The product served to every tenant (``TENANT_APP``).
        self.tenant_app = (
            tenant_app if tenant_app is not None else load_tenant_app(settings.tenant_app)
        )
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
            PostgresStorage(self.engine, self.tenant_app, self.tenant_engines)
            if settings.is_postgres
            else SQLiteStorage.beside(
                settings.database_url, settings.instance_path, self.tenant_app
            )
        )
        self.apps: AppCache[WSGIApplication] = AppCache(
            settings.app_cache_size, release=self.release_app
        )
        # The services handed to each cached app, by the app's identity (released with it).
        self._services: dict[int, TenantServices] = {}
        self.registry = TenantRegistry(
            self.engine,
            poll_seconds=settings.registry_poll_seconds,
            cache_size=settings.registry_cache_size,
            miss_check_seconds=settings.registry_miss_check_seconds,
            on_change=self.tenant_changed,
            on_reset=self.registry_reloaded,
        )
        #: Custom domains: adding, verifying (dnspython), the tenant's primary address.
        self.domains = DomainManager(
            self.engine,
            settings,
            on_change=self.registry.invalidate,
            on_disabled=self._domain_disabled,
        )
        self.resolve = TenantResolver(
            self.registry.get,
            self.apps,
            self.build_tenant_app,
            lookup_domain=self.registry.for_domain,
            tenant_host=self.tenant_host,
            scheme=settings.url_scheme,
            suspended=self.suspended_page,
        )
        self.console = create_console_app(self)
        register_commands(self.console)
        self.wsgi_app = self._build_dispatcher()

    def _build_dispatcher(self) -> WSGIApplication:
        """The dispatcher, inside the middleware every response passes through (edge.py)."""
        settings = self.settings
        dispatcher: WSGIApplication
        not_found = not_found_page(
            settings.url_for_platform("/signup"), settings.url_for_platform("/")
        )
        if settings.tenant_routing == "path":
            dispatcher = PathDispatcher(
                settings.base_domain,
                self.console,
                self.resolve,
                reserved=RESERVED_SLUGS | route_segments(self.console),
                public_scheme=settings.url_scheme,
                public_port=settings.public_port,
                not_found=not_found,
            )
        else:
            dispatcher = SubdomainDispatcher(
                settings.base_domain,
                self.console,
                self.resolve,
                public_scheme=settings.url_scheme,
                public_port=settings.public_port,
                custom_domain_app=self.resolve.for_domain,
                internal={TlsAsk.PATH: TlsAsk(self.registry.for_domain)},
                not_found=not_found,
            )
        try:
            self.request_log = open_sink(settings.request_log)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        return around_dispatcher(
            RetryReadAfterMove(dispatcher),
            proxy_count=settings.proxy_count,
            request_log=self.request_log,
            https=settings.url_scheme == "https",
            form_action=_form_targets(settings),
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def suspended_page(self, tenant: TenantRecord) -> WSGIApplication:
        """A suspended tenant's 403: its name, the admin's reason, and SUPPORT_EMAIL."""
        return suspended_page(
            tenant.display_name, tenant.suspension_reason, self.settings.support_email
        )

    # -- tenant apps ----------------------------------------------------------------

    def services_for(
        self, tenant: TenantRecord, config: Mapping[str, Any] | None = None
    ) -> TenantServices:
        """What the tenant app of ``tenant`` may use: see :class:`TenantServices`."""
        settings = self.settings
        # The record may be newer than this process's placement cache (a move flipped it).
        self.storage.place(tenant.id, tenant.database)
        path_routing = settings.tenant_routing == "path"
        prefix = f"/{tenant.slug}" if path_routing else ""
        slug = tenant.slug

        def read_tenant() -> TenantRecord | None:
            self.registry.refresh(force=True)
            return self.registry.get(slug)

        def write_tenant(**changes: Any) -> TenantRecord:
            row = lifecycle.update_tenant(self, slug, **changes)
            return TenantRecord.from_row(row)

        return TenantServices(
            tenant=tenant,
            secret_key=derive_tenant_secret(settings.secret_key, tenant.id),
            links=PlatformLinks(
                scheme=settings.url_scheme,
                tenant_base=self.tenant_host(tenant) + prefix,
                path_prefix=prefix,
            ),
            debug=settings.debug,
            instance_path=settings.instance_path,
            password_hash_method=settings.password_hash_method,
            ratelimit_storage_url=settings.ratelimit_storage_url,
            session_lifetimes=session_lifetimes(settings),
            config_overrides=MappingProxyType(dict(config or {})),
            open_engine=lambda: self.storage.engine_for(tenant.id),
            close_engine=self.storage.release,
            read_tenant=read_tenant,
            write_tenant=write_tenant,
            open_jobs=lambda: TenantJobs(tenant, lambda: runtime_of(self)),
            # Only an app whose contract says what a customer export holds offers one.
            open_exports=(
                (lambda: PlatformExports(self, tenant))
                if self.tenant_app.export is not None
                else None
            ),
            open_directory=lambda: TenantDirectory(
                lambda: self.engine, derive_directory_key(settings.secret_key), tenant.id
            ),
            invitation_days=settings.invitation_days,
            password_reset_minutes=settings.password_reset_minutes,
            open_domains=lambda: TenantDomainsService(self.domains, tenant.id),
        )

    def _domain_disabled(self, tenant_id: int, domain: str, error: str) -> None:
        """A check disabled a custom domain: its tenant's owners get an email (a job)."""
        domain_disabled.enqueue(platform=self, tenant_id=tenant_id, domain=domain, error=error)

    def tenant_host(self, tenant: TenantRecord) -> str:
        """The tenant's primary address (host and public port): its chosen custom domain
        while that is routable, else its subdomain. Links the platform builds use it."""
        if tenant.primary_domain and self.settings.tenant_routing == "subdomain":
            return tenant.primary_domain + (
                f":{self.settings.public_port}" if self.settings.public_port else ""
            )
        return self.settings.host_for(tenant.slug)

    def tenant_url(self, tenant: TenantRecord | Tenant, path: str = "/") -> str:
        """The absolute URL of ``path`` at the tenant's primary address (CLI, admin console)."""
        record = tenant if isinstance(tenant, TenantRecord) else TenantRecord.from_row(tenant)
        prefix = f"/{record.slug}" if self.settings.tenant_routing == "path" else ""
        return f"{self.settings.url_scheme}://{self.tenant_host(record)}{prefix}{path}"

    def build_tenant_app(
        self, tenant: TenantRecord, config: Mapping[str, Any] | None = None
    ) -> WSGIApplication:
        """Build ``tenant``'s app with the tenant app's factory (the cache calls this)."""
        services = self.services_for(tenant, config)
        try:
            app = self.tenant_app.create_app(tenant, services)
        except BaseException:
            services.close()
            raise
        self._services[id(app)] = services
        return app

    def services_of(self, app: WSGIApplication) -> TenantServices | None:
        """The services handed to ``app``, a tenant app this platform built and still caches."""
        return self._services.get(id(app))

    def tenant_changed(self, tenant_id: int) -> None:
        """The registry says a tenant changed: rebuild its app, re-read where it lives."""
        self.apps.discard(tenant_id)
        self.storage.forget(tenant_id)

    def registry_reloaded(self) -> None:
        """The registry started over (its change feed was pruned past it): trust no app."""
        for tenant_id in self.apps.keys():
            self.storage.forget(tenant_id)
        self.apps.clear()

    def release_app(self, app: WSGIApplication) -> None:
        """Free what a built app holds (its storage engine): it left the cache."""
        services = self._services.pop(id(app), None)
        if services is not None:
            services.close()

    def tenant_app_for(self, slug: str) -> WSGIApplication | None:
        """The cached app of an active tenant (for tools and tests)."""
        tenant = self.registry.get(slug)
        if tenant is None or not tenant.is_active:
            return None
        return self.apps.get(tenant.id, tenant.version, lambda: self.build_tenant_app(tenant))

    def describe_tenant(self, tenant: Tenant) -> Mapping[str, object] | None:
        """What the tenant app says about a tenant's storage (the admin console shows it)."""
        has_storage = tenant.status in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
        if not has_storage or not self.storage.exists(tenant.id):
            # Never open missing storage: on SQLite that would create an empty file.
            return None
        engine = self.storage.engine_for(tenant.id)
        try:
            with engine.connect() as connection:
                return dict(self.tenant_app.describe(connection))
        finally:
            self.storage.release(engine)

    def rebuild_directory(self, tenant: Tenant) -> int | None:
        """Make the finder's directory entries of ``tenant`` its members now; how many.

        None when the tenant app does not list its members (``TenantApp.member_emails``)
        or the tenant has no storage.
        """
        has_storage = tenant.status in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
        list_members = self.tenant_app.member_emails
        if list_members is None or not has_storage or not self.storage.exists(tenant.id):
            return None
        engine = self.storage.engine_for(tenant.id)
        try:
            with engine.connect() as connection:
                emails = list(list_members(connection))
        finally:
            self.storage.release(engine)
        directory = TenantDirectory(
            lambda: self.engine, derive_directory_key(self.settings.secret_key), tenant.id
        )
        return directory.rebuild(emails)

    def close(self) -> None:
        """Release every cached app, the job runtime and the engines (tests, shutdown)."""
        self.registry.close()
        self.apps.clear()
        close_runtime(self)
        for engine in (self.engine, *self.tenant_engines.values()):
            engine.dispose()
        close = getattr(self.request_log, "close", None)
        if close is not None:
            close()

    def after_fork(self) -> None:
        """In a new worker process: never share pooled connections with the parent."""
        for engine in (self.engine, *self.tenant_engines.values()):
            engine.dispose(close=False)
        forget_runtime_after_fork(self)
        self.apps.clear()
        self.registry.after_fork()

    def __repr__(self) -> str:
        settings = self.settings
        return (
            f"<Platform {settings.base_domain} {self.storage.kind} {settings.tenant_routing} "
            f"{self.tenant_app.name}>"
        )


def session_lifetimes(settings: Settings) -> SessionLifetimes:
    """How long logins last, from ``SESSION_LIFETIME_HOURS`` and ``SESSION_REMEMBER_DAYS``."""
    return SessionLifetimes(
        browser=timedelta(hours=settings.session_lifetime_hours),
        remembered=timedelta(days=settings.session_remember_days),
    )


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
    """The process's installed platform (``tenants.wsgi`` installs it); never a hidden new one."""
    platform = _current
    if platform is None:
        raise RuntimeError(
            "No platform is installed in this process: import tenants.wsgi (which builds one "
            "from the environment), or call install_platform(Platform(settings))."
        )
    return platform


def install_platform(platform: Platform | None) -> Platform | None:
    """Make ``platform`` the process's current one; return the one it replaces."""
    global _current
    with _current_lock:
        previous, _current = _current, platform
    return previous
