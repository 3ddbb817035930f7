"""Health endpoints for load balancers and orchestrators: cheap and unauthenticated."""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """The process is alive and serving requests."""
    return {"status": "ok"}, 200


@bp.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    """The registry database answers: this process can route requests."""
    platform = current_app.extensions["tenants_platform"]
    try:
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "unavailable", "reason": "registry database unreachable"}, 503
    return {"status": "ready"}, 200
