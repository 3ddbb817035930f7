"""What every Flask app of the platform shares: templates, static files, one Jinja environment.

A Flask app normally owns a Jinja environment and compiles each template again for
itself. With one app per tenant that would mean compiling every template once per
tenant and keeping the compiled copies in every cached app. These apps share one
environment whose globals look up the current app at render time, so templates are
compiled once per process.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import flask
from flask import Flask, Response, current_app, g, render_template, request, session
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.local import LocalProxy

from tenants.dispatch.pages import Page

DATABASE_UNAVAILABLE = Page(
    503,
    "Temporarily unavailable",
    "The database did not answer this request. Please try again in a moment.",
)
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


@cache
def shared_jinja_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"]),
        auto_reload=False,
    )
    env.globals.update(
        url_for=flask.url_for,
        get_flashed_messages=flask.get_flashed_messages,
        config=LocalProxy(lambda: current_app.config),
        request=request,
        session=session,
        g=g,
    )
    return env


class SharedTemplatesFlask(Flask):
    """A Flask app that renders with the process-wide shared Jinja environment."""

    def create_jinja_environment(self) -> Any:
        return shared_jinja_environment()


def render_http_error(error: HTTPException) -> tuple[str, int]:
    """Every app's error pages: the shared layout, the status, and what to do next."""
    return (
        render_template(
            "errors/error.html", code=error.code, title=error.name, message=error.description
        ),
        error.code or 500,
    )


def render_database_unavailable(error: OperationalError) -> Response:
    """A lost or refused database connection mid-request: 503, try again, not a 500.

    The pool pings connections before use, so only a request whose connection died
    while it ran gets here; the next one gets a fresh connection. The page is static:
    rendering the layout would ask the dead session for the current user again.
    """
    current_app.logger.warning("database unavailable during a request: %s", error.orig)
    response = Response(DATABASE_UNAVAILABLE.html, status=503, mimetype="text/html")
    response.headers.update({"Retry-After": "2", "Cache-Control": "no-store"})
    return response


def register_error_pages(app: Flask) -> None:
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(OperationalError, render_database_unavailable)
