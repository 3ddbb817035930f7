"""The platform app at the bare base domain: landing page, signup, admin console, health.

Never reachable on a tenant host: the dispatcher sends only the bare domain here
(and, in path mode, the paths whose first segment is not a tenant).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from flask import Flask

from tenants.console import health, pages, signup
from tenants.console import jobs as admin_jobs
from tenants.console.admin import init_admin
from tenants.console.extensions import csrf, registry_db
from tenants.sqla import ENGINE_PROVIDER
from tenants.web import STATIC_DIR, SharedTemplatesFlask, register_error_pages

if TYPE_CHECKING:
    from tenants.kernel import Platform


def create_console_app(platform: Platform, test_config: dict[str, Any] | None = None) -> Flask:
    settings = platform.settings
    app = SharedTemplatesFlask(
        __name__,
        root_path=str(STATIC_DIR.parent),
        static_folder=str(STATIC_DIR),
        instance_path=str(settings.instance_path),
    )
    app.config.update(
        SECRET_KEY=hmac.new(settings.secret_key.encode(), b"console", hashlib.sha256).hexdigest(),
        BASE_DOMAIN=settings.base_domain,
        TENANT_ROUTING=settings.tenant_routing,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SESSION_COOKIE_NAME="platform_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.url_scheme == "https",
        PREFERRED_URL_SCHEME=settings.url_scheme,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.from_prefixed_env("CONSOLE")
    if test_config:
        app.config.update(test_config)
    app.extensions["tenants_platform"] = platform
    app.extensions[ENGINE_PROVIDER] = lambda: platform.engine
    registry_db.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(signup.bp)
    app.register_blueprint(health.bp)
    init_admin(app)
    app.register_blueprint(admin_jobs.bp)
    register_error_pages(app)

    from tenants.cli import register_commands

    register_commands(app)
    return app


def route_segments(app: Flask) -> frozenset[str]:
    """The first path segment of every route of ``app`` (reserved: no tenant may take one)."""
    return frozenset(
        segment
        for rule in app.url_map.iter_rules()
        if (segment := rule.rule.lstrip("/").split("/", 1)[0]) and not segment.startswith("<")
    )
