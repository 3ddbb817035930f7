"""A tenant that is read-only: pages are served, every write is refused before its app runs.

An admin (``tenants read-only SLUG``) or an operation holding a write lease (a move, a
backup) makes a tenant read-only; the registry record says so (``refuses_writes``), and
the resolver wraps the tenant's app in :class:`ReadOnlyGate` for as long as it does.
Every process sees the change at its next poll of the change feed (half a second), and a
lease that ends needs no change at all: each request compares it with the clock.

A write is any request whose method is not safe (RFC 9110: GET, HEAD, OPTIONS, TRACE).
People get a page that says why and when to try again; API-like requests get JSON; both
are 503 with ``Retry-After``, so clients and proxies back off and retry by themselves.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from tenants.dispatch.pages import Page

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

READ_ONLY_PAGE = Page(
    503,
    "Read-only for maintenance",
    "This workspace is read-only for maintenance: you can read everything, but nothing "
    "can be saved right now. Nothing you saved before is lost; try again in a few minutes.",
)


def wants_json(environ: WSGIEnvironment) -> bool:
    """An API-like request: it sends or prefers JSON, or is made by a script, not a page."""
    accept = environ.get("HTTP_ACCEPT", "")
    content_type = environ.get("CONTENT_TYPE", "")
    return (
        "json" in content_type
        or ("application/json" in accept and "text/html" not in accept)
        or environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest"
        or environ.get("PATH_INFO", "").startswith("/api/")
    )


class ReadOnlyGate:
    """Serve reads with ``app``; answer every write 503 with ``Retry-After: retry_after``."""

    def __init__(self, app: WSGIApplication, retry_after: int) -> None:
        self.app = app
        self.retry_after = max(1, int(retry_after))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse):  # noqa: ANN204
        if environ.get("REQUEST_METHOD", "GET").upper() in SAFE_METHODS:
            return self.app(environ, start_response)
        if wants_json(environ):
            body = json.dumps(
                {
                    "error": "read_only",
                    "message": "This workspace is read-only for maintenance; nothing was "
                    "saved. Try again after Retry-After seconds.",
                    "retry_after": self.retry_after,
                }
            )
            response = Response(body, status=503, mimetype="application/json")
        else:
            response = Response(READ_ONLY_PAGE.html, status=503, mimetype="text/html")
        response.headers["Retry-After"] = str(self.retry_after)
        response.headers["Cache-Control"] = "no-store"
        return response(environ, start_response)
