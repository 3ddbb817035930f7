"""Forwarded headers count only from the proxies the operator declared, and then vanish.

A client that talks to the app directly can send ``X-Forwarded-For: <anyone>`` itself.
Whatever reads such a header believes a lie: Flask-Login's session protection, for one,
takes the client's address from ``X-Forwarded-For`` when it is present, so a stolen
admin cookie replayed with the victim's address in that header passed as the victim.

This middleware is the one place that decides. It runs outermost: with ``proxy_count``
> 0 it lets werkzeug's ``ProxyFix`` take the last ``proxy_count`` values of
``X-Forwarded-For/Proto/Host/Port`` (the ones the operator's proxies appended) into
``REMOTE_ADDR``, the scheme and the Host; then, whatever the count, it removes every
forwarded header from the environ, so nothing downstream (an app, an extension, a log)
can read a value the client wrote::

    application = ForwardedHeaders(RequestLog(dispatcher), proxy_count=settings.proxy_count)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Environ keys of the headers that claim to say who the client is or how it connected:
#: every header whose name has ``FORWARDED`` in it (``X-Forwarded-*``, ``Forwarded`` of
#: RFC 7239, ``X-Original-Forwarded-For``, ...) and these, which common proxies and CDNs
#: send and libraries are known to trust.
FORWARDED_KEYS = frozenset(
    {
        "HTTP_X_REAL_IP",
        "HTTP_X_CLIENT_IP",
        "HTTP_CLIENT_IP",
        "HTTP_TRUE_CLIENT_IP",
        "HTTP_CF_CONNECTING_IP",
        "HTTP_X_CLUSTER_CLIENT_IP",
    }
)


def strip_forwarded_headers(environ: WSGIEnvironment) -> None:
    """Remove every forwarded-client header from ``environ``."""
    # The substring test first: it is the cheapest, and almost always false.
    doomed = [
        key
        for key in environ
        if ("FORWARDED" in key or key in FORWARDED_KEYS) and key.startswith("HTTP_")
    ]
    for key in doomed:
        del environ[key]


class _Strip:
    """The app behind ProxyFix: the forwarded headers are resolved, now drop them."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        strip_forwarded_headers(environ)
        return self.app(environ, start_response)


class ForwardedHeaders:
    """Resolve forwarded headers from exactly ``proxy_count`` proxies, then remove them all."""

    def __init__(self, app: WSGIApplication, proxy_count: int = 0) -> None:
        if proxy_count < 0:
            raise ValueError("proxy_count is the number of proxies in front: 0 or more.")
        self.app = app
        self.proxy_count = proxy_count
        n = proxy_count
        stripped = _Strip(app)
        self._handler: WSGIApplication = (
            ProxyFix(stripped, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=0)
            if n
            else stripped
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._handler(environ, start_response)
