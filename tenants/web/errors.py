"""Error pages of every Flask app of the platform, and which database errors are a 503.

Only a failure to *reach* the database is a 503 "try again": a connection refused, or
one that died while the request used it. Anything else (a missing table, a wrong column,
a constraint) is a programming or deployment error: it is re-raised, so Flask logs it
with its traceback and answers 500 (and the debugger shows it in development).
"""

from __future__ import annotations

import json

from flask import Flask, Response, current_app, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from tenants.dispatch.pages import Page
from tenants.dispatch.readonly import wants_json
from tenants.dispatch.retry import STORAGE_MOVED

DATABASE_UNAVAILABLE = Page(
    503,
    "Temporarily unavailable",
    "The database did not answer this request. Please try again in a moment.",
)

STORAGE_MOVED_PAGE = Page(
    503,
    "Moved a moment ago",
    "This workspace moved to another database while this request ran, so nothing from "
    "this request was saved. Please send it again.",
)


#: The page chrome an error page is drawn in: a tenant app's own layout (its name, accent
#: and navigation), else the platform app's, else the bare base.
ERROR_LAYOUTS = ("layout.html", "console/_layout.html", "base.html")


def render_http_error(error: HTTPException) -> tuple[str, int]:
    """Every app's error pages: the app's own layout, the status, and what to do next."""
    layout = current_app.jinja_env.select_template(ERROR_LAYOUTS)
    return (
        render_template(
            "errors/error.html",
            layout=layout,
            code=error.code,
            title=error.name,
            message=error.description,
        ),
        error.code or 500,
    )


def database_unreachable(error: DBAPIError) -> bool:
    """Did ``error`` come from not reaching the database (rather than from the SQL)?

    SQLAlchemy marks a connection that died mid-use as invalidated; an error raised
    while connecting has no statement (connection refused, unknown host, too many
    clients).
    """
    return bool(error.connection_invalidated) or error.statement is None


def render_database_error(error: DBAPIError) -> Response:
    """503 for an unreachable database; any other database error goes on to be a 500.

    The pool pings connections before use, so only a request whose connection died
    while it ran, or that could not connect at all, gets the 503; the next one gets a
    fresh connection. The page is static: rendering the layout would ask the dead
    session for the current user again.
    """
    if not database_unreachable(error):
        raise error
    current_app.logger.warning("database unavailable during a request: %s", error.orig)
    response = Response(DATABASE_UNAVAILABLE.html, status=503, mimetype="text/html")
    response.headers.update({"Retry-After": "2", "Cache-Control": "no-store"})
    return response


def storage_moved_response() -> Response:
    """503 "send it again" for a request that failed because its tenant's storage moved.

    Retry-After is a second: the process that answered has already looked at the
    registry again, so the retry is served from the new copy.
    """
    if wants_json(request.environ):
        body = json.dumps(
            {
                "error": "storage_moved",
                "message": "This workspace moved to another database while this request "
                "ran; nothing was saved. Send the request again.",
                "retry_after": 1,
            }
        )
        response = Response(body, status=503, mimetype="application/json")
    else:
        response = Response(STORAGE_MOVED_PAGE.html, status=503, mimetype="text/html")
    # The marker lets the dispatcher run a read once more, on the new copy (retry.py).
    response.headers.update({"Retry-After": "1", "Cache-Control": "no-store", STORAGE_MOVED: "1"})
    return response


def register_error_pages(app: Flask) -> None:
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(DBAPIError, render_database_error)
