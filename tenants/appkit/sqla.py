"""Flask-SQLAlchemy, with engines the platform provides instead of one pool per app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

#: ``app.extensions`` key of a callable that returns the app's engine.
ENGINE_PROVIDER = "tenants.engine_provider"


def provide_engine(app: Flask, provider: Callable[[], Engine]) -> None:
    """Make ``provider()`` the engine of ``app`` for :class:`ProvidedEngineSQLAlchemy`."""
    app.extensions[ENGINE_PROVIDER] = provider
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", "provided://")


class ProvidedEngineSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose engine for an app comes from the platform.

    Plain Flask-SQLAlchemy creates an engine, and so a pool, for every app it is
    initialized on: with one app per tenant that is a pool per tenant. The platform
    hands out engines instead (``TenantServices.engine``): on PostgreSQL views of the
    process's one shared pool, on SQLite the tenant's own file. The platform releases
    them when it evicts the app.
    """

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> Engine:
        provider: Callable[[], Engine] = app.extensions[ENGINE_PROVIDER]
        return provider()

    def _teardown_session(self, exc: BaseException | None) -> None:
        """End the request's session; a connection that died after its last query is no error.

        The response is already made by then: a rollback that fails because the server
        dropped the connection (restart, failover, ``pg_terminate_backend``) must not
        turn it into a 500. The pool has invalidated the connection already.
        """
        try:
            self.session.remove()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            self.session.registry.clear()
