"""What every request to a tenant app goes through, before and after its view."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, redirect, request, session
from flask_login import current_user

from tenants.database import sqlite_write_intent

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Session key: the registry version of this tenant that the user's own last change made.
SEEN_VERSION = "seen_version"


def init_app(app: Flask) -> None:
    app.before_request(declare_write_intent)
    app.teardown_request(end_write_intent)
    app.before_request(forget_foreign_session)
    app.before_request(catch_up_with_own_writes)
    app.after_request(name_the_tenant)
    app.context_processor(workspace_context)


def declare_write_intent() -> None:
    # Safe methods only read (the login-token GET writes first thing, which needs no
    # upgrade from a read lock): let their SQLite transactions run side by side.
    g.sqlite_write_intent = sqlite_write_intent.set(request.method not in SAFE_METHODS)


def end_write_intent(_error: BaseException | None) -> None:
    token = g.pop("sqlite_write_intent", None)
    if token is not None:
        sqlite_write_intent.reset(token)


def forget_foreign_session() -> None:
    # Keys are per tenant, so a foreign cookie does not verify; this keeps a session
    # bound to its tenant even if two tenants ever shared a key.
    if request.endpoint == "static":
        return
    tenant_id = session.get("tenant_id")
    if tenant_id is not None and tenant_id != current_app.config["TENANT_ID"]:
        session.clear()


def catch_up_with_own_writes() -> Any:
    """Read your own writes: after a settings change, never show the user the old app.

    Other processes see a change within a poll interval; the user who made it may hit
    one of them at once. If this app is older than what the user's session has seen,
    poll the registry now and send the GET again, to the rebuilt app.
    """
    seen = session.get(SEEN_VERSION) if request.method == "GET" else None
    if not isinstance(seen, int) or seen <= current_app.config["TENANT_VERSION"]:
        return None
    platform = current_app.extensions["tenants_platform"]
    platform.registry.refresh(force=True)
    tenant = platform.registry.get(current_app.config["TENANT_SLUG"])
    if tenant is None or tenant.version <= current_app.config["TENANT_VERSION"]:
        return None
    path = request.full_path if request.query_string else request.path
    return redirect(request.script_root + path, code=307)


def name_the_tenant(response: Response) -> Response:
    response.headers["X-Tenant"] = current_app.config["TENANT_SLUG"]
    return response


def workspace_context() -> dict[str, Any]:
    config = current_app.config
    return {
        "workspace": {
            "slug": config["TENANT_SLUG"],
            "name": config["TENANT_NAME"],
            "plan": config["TENANT_PLAN"],
            "accent": config["TENANT_ACCENT"],
        },
        "is_owner": bool(getattr(current_user, "is_owner", False)),
    }
