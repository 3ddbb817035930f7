"""Flask-SQLAlchemy, with engines the platform provides instead of one pool per app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from tenants.web.params import page_number, page_size

#: Flask-SQLAlchemy's own defaults for a page's size.
DEFAULT_PER_PAGE = 20
DEFAULT_MAX_PER_PAGE = 100

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

    def paginate(
        self,
        select: Any,
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = DEFAULT_MAX_PER_PAGE,
        **kwargs: Any,
    ) -> Any:
        """Flask-SQLAlchemy's ``paginate``, reading ``page`` and ``per_page`` safely.

        Its own reading takes any integer: ``?page=<30 digits>`` became an ``OFFSET``
        that overflows the database (a 500). Here a bad page is a 400 and one past any
        list a 404 (:func:`tenants.web.params.page_number`); the size stays within
        ``max_per_page``.
        """
        limit = max_per_page if max_per_page is not None else DEFAULT_MAX_PER_PAGE
        if page is None:
            page = page_number()
        if per_page is None:
            per_page = page_size(min(DEFAULT_PER_PAGE, limit), maximum=limit)
        return super().paginate(
            select, page=page, per_page=per_page, max_per_page=max_per_page, **kwargs
        )

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
