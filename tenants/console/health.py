"""Health endpoints for load balancers and orchestrators: cheap and unauthenticated."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from tenants.console.extensions import platform_of
from tenants.registry.models import RegistryClock

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """The process is alive and serving requests."""
    return {"status": "ok"}, 200


@bp.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    """The registry can be read: this process can route requests."""
    platform = platform_of()
    try:
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "unavailable", "reason": "registry database unreachable"}, 503
    try:
        with platform.engine.connect() as connection:
            connection.execute(select(RegistryClock.generation).limit(1))
    except SQLAlchemyError:
        reason = "registry tables missing: run 'tenants db upgrade'"
        return {"status": "unavailable", "reason": reason}, 503
    return {"status": "ready"}, 200
