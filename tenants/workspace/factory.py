"""``create_app(tenant)``: one isolated Flask app per tenant.

Each app has its own config (display name, plan, settings), its own secret key
(derived from the platform secret and the tenant id, so a session cookie of one
tenant is worthless on another) and its own storage (a SQLite file, or a schema
served through the process's shared PostgreSQL pool).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask

from tenants.sqla import ENGINE_PROVIDER
from tenants.web import STATIC_DIR, register_error_pages
from tenants.workspace import (
    account,
    auth,
    home,
    hooks,
    maintenance,
    members,
    notes,
    throttle,
    workspace_settings,
)
from tenants.workspace.app import WorkspaceFlask
from tenants.workspace.extensions import csrf, db, login_manager

if TYPE_CHECKING:
    from tenants.kernel import Platform
    from tenants.registry.record import TenantRecord

DEFAULT_ACCENT = "#4f46e5"
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")


def valid_accent(value: object) -> str:
    """The accent to put in the page's CSS: a ``#rrggbb`` colour, else the default."""
    if isinstance(value, str) and _ACCENT.fullmatch(value):
        return value
    return DEFAULT_ACCENT


def derive_tenant_secret(platform_secret: str, tenant_id: int) -> str:
    """The tenant's own secret key: an HMAC of the platform secret and the tenant id."""
    return hmac.new(
        platform_secret.encode(), f"tenant-secret:{tenant_id}".encode(), hashlib.sha256
    ).hexdigest()


def create_app(
    tenant: TenantRecord,
    test_config: Mapping[str, Any] | None = None,
    *,
    platform: Platform | None = None,
) -> Flask:
    """Build the Flask app that serves ``tenant``'s workspace.

    Configuration comes from defaults, then ``WORKSPACE_*`` environment variables,
    then ``test_config``; the tenant's identity (id, slug, secret) is not overridable
    from the environment.
    """
    if platform is None:
        from tenants.kernel import current_platform

        platform = current_platform()
    settings = platform.settings
    path_routing = settings.tenant_routing == "path"

    app = WorkspaceFlask(
        __name__,
        root_path=str(STATIC_DIR.parent),
        static_folder=str(STATIC_DIR),
        instance_path=str(settings.instance_path),
    )
    identity = {
        "SECRET_KEY": derive_tenant_secret(settings.secret_key, tenant.id),
        "TENANT_ID": tenant.id,
        "TENANT_SLUG": tenant.slug,
        "TENANT_VERSION": tenant.version,
    }
    app.config.update(
        identity,
        TENANT_NAME=tenant.display_name,
        TENANT_PLAN=tenant.plan,
        TENANT_SETTINGS=dict(tenant.settings),
        # Checked again here: the registry can be written by other tools, and the value
        # goes into a <style> element.
        TENANT_ACCENT=valid_accent(tenant.settings.get("accent")),
        SQLALCHEMY_DATABASE_URI=f"tenant://{platform.storage.location(tenant.id)}",
        # Host-only (no Domain), so no other subdomain ever receives it; in path mode
        # the path keeps tenants' cookies apart on the shared host.
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_PATH=f"/{tenant.slug}" if path_routing else "/",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.url_scheme == "https",
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.url_scheme == "https",
        PREFERRED_URL_SCHEME=settings.url_scheme,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.from_prefixed_env("WORKSPACE")
    app.config.update(identity)
    if test_config is not None:
        app.config.from_mapping(test_config)

    app.extensions["tenants_platform"] = platform
    app.extensions[ENGINE_PROVIDER] = lambda: platform.storage.engine_for(tenant.id)
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    throttle.init_app(app)
    for blueprint in (auth.bp, home.bp, notes.bp, members.bp, account.bp, workspace_settings.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(maintenance.bp)
    hooks.init_app(app)
    app.share_routes()
    register_error_pages(app)
    return app
