"""The platform app at the bare base domain: landing page, signup, the admin console, health.

Never reachable on a tenant host: the dispatcher sends only the bare domain here
(and, in path mode, the paths whose first segment is not a tenant). It knows tenant
apps only through the platform's :class:`~tenants.contract.TenantApp`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from tenants.appkit.sqla import provide_engine
from tenants.console import downloads, health, migrations_page, outbox, pages, recovery, signup
from tenants.console import jobs as admin_jobs
from tenants.console.admin import init_admin
from tenants.console.extensions import attach_platform, csrf, registry_db
from tenants.jobs.runtime import attach_runtime
from tenants.keys import derive_console_secret
from tenants.web import STATIC_DIR
from tenants.web.errors import register_error_pages
from tenants.web.inputs import guard_input
from tenants.web.shared import SharedFlask, SharedParts

if TYPE_CHECKING:
    from tenants.kernel import Platform

#: Every console app of the process (one per platform) shares its map and templates.
PARTS = SharedParts("console")
TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_console_app(platform: Platform, test_config: dict[str, Any] | None = None) -> Flask:
    settings = platform.settings
    app = SharedFlask(
        __name__,
        parts=PARTS,
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC_DIR),
        instance_path=str(settings.instance_path),
    )
    app.config.update(
        SECRET_KEY=derive_console_secret(settings.secret_key),
        BASE_DOMAIN=settings.base_domain,
        TENANT_ROUTING=settings.tenant_routing,
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
    attach_platform(app, platform)
    attach_runtime(app, platform)
    provide_engine(app, lambda: platform.engine)
    registry_db.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(pages.bp)
    signup.init_signup(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(downloads.bp)
    app.register_blueprint(outbox.bp)
    app.register_blueprint(recovery.bp)
    init_admin(app)
    app.register_blueprint(admin_jobs.bp)
    app.register_blueprint(migrations_page.bp)
    register_error_pages(app)
    guard_input(app)
    return app.ready()


def route_segments(app: Flask) -> frozenset[str]:
    """The first path segment of every route of ``app`` (reserved: no tenant may take one)."""
    return frozenset(
        segment
        for rule in app.url_map.iter_rules()
        if (segment := rule.rule.lstrip("/").split("/", 1)[0]) and not segment.startswith("<")
    )
