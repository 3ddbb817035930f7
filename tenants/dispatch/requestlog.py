"""Request ids and one JSON line per request, as plain WSGI middleware.

Every request gets an id: a well-formed ``X-Request-ID`` from the client or the
proxy in front (1-128 characters of ``A-Z a-z 0-9 . _ -``) is kept, so one id follows
a request from nginx through the app; anything else is replaced by a fresh random one.
The id goes into ``environ["tenants.request_id"]`` and back to the client as the
``X-Request-ID`` response header.

When the response is finished (the server closed its body), one JSON line goes to the
log's sink (``tenants.dispatch.logsink``: standard output, a file, a logger, or none)::

    {"time": "2025-01-31T12:00:00.123Z", "tenant": "acme", "method": "GET",
     "path": "/login", "status": 200, "duration_ms": 3.1, "request_id": "9f0c...",
     "remote_addr": "203.0.113.7", "pid": 41}

``tenant`` is the slug the dispatcher placed in ``environ["tenants.slug"]`` (null for
the platform's own pages). Wrap the dispatcher with it, inside the forwarded-header
middleware, so the logged address is the forwarded client's, not the proxy's::

    application = ForwardedHeaders(RequestLog(dispatcher, open_sink("-")), proxy_count=1)

The line is cheap: it is preformatted text (the time's seconds are formatted once per
second, strings are escaped by the json module's C encoder), written with one system
call; the log costs nothing beyond the request id when it is off. Paths longer than
512 characters are cut (ending in "…"), so a line stays under 4 KiB and is written in
one piece even when several workers share the stream.

No Flask here: it runs before any app is chosen.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from json.encoder import encode_basestring_ascii as json_string
from typing import TYPE_CHECKING

from tenants.dispatch.logsink import LineSink, LoggerSink
from tenants.dispatch.subdomain import SLUG_KEY

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The environ key that carries the request's id to the apps.
REQUEST_ID_KEY = "tenants.request_id"
REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_LOGGED_PATH = 512

_DEFAULT_SINK = LoggerSink()


def request_id_from(raw: str | None) -> str:
    """``raw`` if it is a well-formed request id, else a new random one (32 hex digits)."""
    if raw is not None and _WELL_FORMED_ID.match(raw):
        return raw
    return os.urandom(16).hex()


class _Pid:
    """This process's id as text, renewed in a forked child (gunicorn workers)."""

    text = str(os.getpid())

    @classmethod
    def renew(cls) -> None:
        cls.text = str(os.getpid())


os.register_at_fork(after_in_child=_Pid.renew)


class _Clock:
    """``2025-01-31T12:00:00.123Z`` for now; the seconds are formatted once per second."""

    def __init__(self) -> None:
        self._second_text = (-1, "")

    def stamp(self) -> str:
        now = time.time()
        second = int(now)
        last, text = self._second_text
        if second != last:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second_text = (second, text)
        return f"{text}.{int((now - second) * 1000):03d}Z"


def format_line(
    stamp: str,
    tenant: str | None,
    method: str,
    path: str,
    status_line: str,
    duration: float,
    request_id: str,
    remote_addr: str | None,
) -> str:
    """One request as one line of JSON (the request id is well-formed: no escaping)."""
    code = status_line[:3]
    if not code.isdigit():
        code = "500"
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + "…"
    return (
        f'{{"time": "{stamp}", "tenant": {"null" if tenant is None else json_string(tenant)}, '
        f'"method": {json_string(method)}, "path": {json_string(path)}, "status": {int(code)}, '
        f'"duration_ms": {duration * 1000:.1f}, "request_id": "{request_id}", '
        f'"remote_addr": {"null" if remote_addr is None else json_string(remote_addr)}, '
        f'"pid": {_Pid.text}}}\n'
    )


class _Body:
    """The app's body, handed to the server as is; ``close`` also writes the log line.

    Iterating it is iterating the app's own body (no wrapper per chunk).
    """

    __slots__ = ("_body", "_finish")

    def __init__(self, body: Iterable[bytes], finish: Callable[[], None]) -> None:
        self._body = body
        self._finish = finish

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class RequestLog:
    """Give each request an id, return it, and write one JSON line when the response is done.

    ``sink``: where lines go (``tenants.dispatch.logsink.open_sink``); None writes none.
    The default is the ``tenants.requests`` logger.
    """

    def __init__(self, app: WSGIApplication, sink: LineSink | None = _DEFAULT_SINK) -> None:
        self.app = app
        self.sink = sink
        self._clock = _Clock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_KEY] = request_id
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

        sink = self.sink
        if sink is None or not sink.enabled():
            return self.app(environ, start_with_id)

        # Read before the app runs: path dispatch moves the tenant's segment to SCRIPT_NAME.
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")

        def finish() -> None:
            sink.write(
                format_line(
                    self._clock.stamp(),
                    environ.get(SLUG_KEY),
                    method,
                    _readable(path) or "/",
                    status[-1] if status else "500",
                    time.perf_counter() - started,
                    request_id,
                    environ.get("REMOTE_ADDR"),
                )
            )

        try:
            body = self.app(environ, start_with_id)
        except BaseException:
            # The server answers 500 for an app that raised; log that, then let it.
            finish()
            raise
        return _Body(body, finish)


def _readable(wsgi_path: str) -> str:
    # WSGI hands paths over as latin-1 decoded bytes; log the UTF-8 text the client sent.
    if wsgi_path.isascii():
        return wsgi_path
    return wsgi_path.encode("latin-1", "replace").decode("utf-8", "replace")
