"""``TenantFlask``: one tenant's Flask app, configured from its services, cheap to build.

Each app has its own config (the tenant's name, plan and settings), its own secret key
(so a session cookie of one tenant is worthless on another) and its own storage engine;
the compiled URL map and Jinja environment are shared by every app of the definition
(``tenants.web.shared``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request, session
from sqlalchemy.exc import DBAPIError

from tenants.appkit.sqla import provide_engine
from tenants.contract import ContractError, TenantServices
from tenants.database import sqlite_write_intent
from tenants.web import STATIC_DIR
from tenants.web.errors import (
    database_unreachable,
    register_error_pages,
    render_database_error,
    storage_moved_response,
)
from tenants.web.inputs import guard_input
from tenants.web.shared import SharedFlask, SharedParts

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TenantFlask(SharedFlask):
    """A Flask app serving one tenant.

    Configuration comes from defaults (below), then ``<env_prefix>_*`` environment
    variables if ``env_prefix`` is given, then ``services.config_overrides``; the tenant's
    identity (``SECRET_KEY``, ``TENANT_ID``, ``TENANT_SLUG``) is not overridable.
    """

    def __init__(
        self,
        import_name: str,
        services: TenantServices,
        *,
        parts: SharedParts,
        env_prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("instance_path", str(services.instance_path))
        kwargs.setdefault("static_folder", str(STATIC_DIR))
        super().__init__(import_name, parts=parts, **kwargs)
        #: What the platform gives this app (also: ``tenant_services()``).
        self.services = services
        tenant = services.tenant
        secure = services.url_scheme == "https"
        identity = {
            "SECRET_KEY": services.secret_key,
            "TENANT_ID": tenant.id,
            "TENANT_SLUG": tenant.slug,
            "TENANT_VERSION": tenant.version,
        }
        self.config.update(
            identity,
            DEBUG=services.debug,
            TENANT_NAME=tenant.display_name,
            TENANT_PLAN=tenant.plan,
            TENANT_SETTINGS=dict(tenant.settings),
            # Host-only (no Domain), so no other subdomain ever receives it; in path mode
            # the path keeps tenants' cookies apart on the shared host.
            SESSION_COOKIE_DOMAIN=None,
            SESSION_COOKIE_PATH=services.path_prefix or "/",
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SECURE=secure,
            REMEMBER_COOKIE_SAMESITE="Lax",
            REMEMBER_COOKIE_SECURE=secure,
            # A "remember me" cookie lasts as long as its server-side session may.
            PERMANENT_SESSION_LIFETIME=services.session_lifetimes.remembered,
            PREFERRED_URL_SCHEME=services.url_scheme,
            MAX_CONTENT_LENGTH=1024 * 1024,
            WTF_CSRF_TIME_LIMIT=None,
        )
        if env_prefix:
            self.config.from_prefixed_env(env_prefix)
        self.config.update(services.config_overrides)
        self.config.update(identity)
        provide_engine(self, lambda: services.engine)
        self.before_request(_declare_write_intent)
        self.teardown_request(_end_write_intent)
        self.before_request(_forget_foreign_session)
        self.after_request(_name_the_tenant)
        register_error_pages(self)
        self.register_error_handler(DBAPIError, _database_error)
        guard_input(self)


def tenant_services(app: Flask | None = None) -> TenantServices:
    """The services of ``app`` (default: the current app): the one accessor tenant code uses."""
    target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    services = getattr(target, "services", None)
    if not isinstance(services, TenantServices):
        raise ContractError(
            f"{target!r} is not a tenant app built with tenants.appkit.TenantFlask, so it has "
            "no tenant services."
        )
    return services


def _database_error(error: DBAPIError) -> Response:
    """A database error: "send it again" if the tenant's storage moved under the request.

    A process serves a tenant from where its app was built until its next registry poll
    shows a move; a write that comes in meanwhile, or that waited on the move's locks,
    finds the old copy locked away or gone and fails whole. That is no fault of the app
    and nothing was saved: the member is asked to send it again, and the services have
    re-read the registry, so the retry reaches the new copy. Any other error is the
    platform's usual answer (503 if the database was unreachable, else a 500).
    """
    if not database_unreachable(error) and _moved(error):
        current_app.logger.info(
            "a request met its tenant's old storage after a move: %s", error.orig
        )
        return storage_moved_response()
    return render_database_error(error)


def _moved(error: DBAPIError) -> bool:
    try:
        return tenant_services().storage_moved()
    except Exception:  # the registry cannot be read now: the error is answered as it is
        current_app.logger.warning("Could not tell whether %s came from a move.", type(error))
        return False


def _declare_write_intent() -> None:
    # Safe methods only read: let their SQLite transactions run side by side (WAL).
    g.sqlite_write_intent = sqlite_write_intent.set(request.method not in SAFE_METHODS)


def _end_write_intent(_error: BaseException | None) -> None:
    token = g.pop("sqlite_write_intent", None)
    if token is not None:
        sqlite_write_intent.reset(token)


def _forget_foreign_session() -> None:
    # Keys are per tenant, so a foreign cookie does not verify; this keeps a session
    # bound to its tenant even if two tenants ever shared a key.
    if request.endpoint == "static":
        return
    tenant_id = session.get("tenant_id")
    if tenant_id is not None and tenant_id != current_app.config["TENANT_ID"]:
        session.clear()


def _name_the_tenant(response: Response) -> Response:
    response.headers["X-Tenant"] = current_app.config["TENANT_SLUG"]
    return response
