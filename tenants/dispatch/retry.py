"""One more try for a read that met its tenant's old storage just after a move.

A process serves a tenant from where its app was built until its next registry poll
shows that the tenant moved to another database. A request that comes in meanwhile
finds the old copy locked away or gone; the tenant app then re-reads the registry
(which drops its app) and answers 503 with the :data:`STORAGE_MOVED` header. A write is
left at that answer, "send it again" (nothing was saved, and running it again here
could surprise a client that sent it once). A read is safe to run again: this
middleware dispatches it once more, to the app built for the new copy, and the client
never sees the move. The header never leaves the platform.

Plain WSGI, like the dispatcher::

    >>> tries = []
    >>> def moved_once(environ, start_response):
    ...     tries.append(environ["PATH_INFO"])
    ...     if len(tries) == 1:  # the app built for the old copy
    ...         start_response("503 Service Unavailable", [(STORAGE_MOVED, "1")])
    ...         return [b"moved"]
    ...     start_response("200 OK", [("Content-Type", "text/plain")])
    ...     return [b"the new copy"]
    >>> from werkzeug.test import Client
    >>> Client(RetryReadAfterMove(moved_once)).get("/notes/").get_data()
    b'the new copy'
    >>> tries
    ['/notes/', '/notes/']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenants.dispatch.readonly import SAFE_METHODS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Set by a tenant app on its answer to a request that met the old copy after a move.
STORAGE_MOVED = "X-Tenants-Storage-Moved"
_MARKER = STORAGE_MOVED.lower()


class RetryReadAfterMove:
    """Serve ``app``; run a safe request once more if its answer says the storage moved."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        safe = environ.get("REQUEST_METHOD", "GET").upper() in SAFE_METHODS
        # The dispatcher may rewrite the environ (path routing shifts the prefix), so the
        # retry needs the environ as it came: a shallow copy, about 0.2 µs a request.
        pristine = dict(environ) if safe else None
        moved = False
        answering = True

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal moved
            marked = any(name.lower() == _MARKER for name, _ in headers)
            if marked and safe and answering and pristine is not None:
                moved = True
                return _discard
            return start_response(status, [h for h in headers if h[0].lower() != _MARKER], exc_info)

        body = self.app(environ, start)
        answering = False  # an app that starts its answer lazily is passed through as is
        if not moved or pristine is None:
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()

        def again(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [h for h in headers if h[0].lower() != _MARKER], exc_info)

        return self.app(pristine, again)


def _discard(_data: bytes) -> None:
    """The ``write`` of an answer that is thrown away."""
