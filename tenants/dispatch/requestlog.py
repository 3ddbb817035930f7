"""Request ids and one structured log line per request, as plain WSGI middleware.

Every request gets an id: a well-formed ``X-Request-ID`` from the client or the
proxy in front (1-128 characters of ``A-Z a-z 0-9 . _ -``) is kept, so one id follows
a request from nginx through the app; anything else is replaced by a fresh random one.
The id goes into ``environ["tenants.request_id"]`` and back to the client as the
``X-Request-ID`` response header.

When the response is finished (the server closed its body), one JSON line is logged
on the ``tenants.requests`` logger::

    {"time": "2025-01-31T12:00:00.123Z", "tenant": "acme", "method": "GET",
     "path": "/login", "status": 200, "duration_ms": 3.1, "request_id": "9f0c...",
     "remote_addr": "203.0.113.7", "pid": 41}

``tenant`` is the slug the dispatcher placed in ``environ["tenants.slug"]`` (null for
the platform's own pages). Wrap the dispatcher with it, inside ``ProxyFix`` so the
logged address is the forwarded client's, not the proxy's::

    from tenants.dispatch.requestlog import RequestLog

    application = ProxyFix(RequestLog(dispatcher), x_for=1, x_proto=1, x_host=1)

No Flask here: it runs before any app is chosen.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from werkzeug.wsgi import ClosingIterator

from tenants.dispatch.subdomain import SLUG_KEY

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The environ key that carries the request's id to the apps.
REQUEST_ID_KEY = "tenants.request_id"
REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

logger = logging.getLogger("tenants.requests")


def request_id_from(raw: str | None) -> str:
    """``raw`` if it is a well-formed request id, else a new random one (32 hex digits)."""
    if raw is not None and _WELL_FORMED_ID.match(raw):
        return raw
    return os.urandom(16).hex()


class RequestLog:
    """Give each request an id, return it, and log one JSON line when the response is done."""

    def __init__(self, app: WSGIApplication, log: logging.Logger = logger) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_KEY] = request_id
        # Read before the app runs: path dispatch moves the tenant's segment to SCRIPT_NAME.
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        status: list[str] = []

        def start_with_id(
            status_line: str,
            headers: list[tuple[str, str]],
            exc_info: OptExcInfo | None = None,
        ) -> Callable[[bytes], object]:
            status.append(status_line)
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        def finish() -> None:
            self._write(environ, request_id, method, path, status[-1] if status else "500", started)

        try:
            body = self.app(environ, start_with_id)
        except BaseException:
            # The server answers 500 for an app that raised; log that, then let it.
            finish()
            raise
        return ClosingIterator(body, finish)

    def _write(
        self,
        environ: WSGIEnvironment,
        request_id: str,
        method: str,
        path: str,
        status_line: str,
        started: float,
    ) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tenant": environ.get(SLUG_KEY),
            "method": method,
            "path": _readable(path) or "/",
            "status": int(status_line.split(" ", 1)[0]),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "request_id": request_id,
            "remote_addr": environ.get("REMOTE_ADDR"),
            "pid": os.getpid(),
        }
        self.log.info(json.dumps(line))


def _readable(wsgi_path: str) -> str:
    # WSGI hands paths over as latin-1 decoded bytes; log the UTF-8 text the client sent.
    return wsgi_path.encode("latin-1", "replace").decode("utf-8", "replace")
