"""The middleware every response passes through, around the dispatcher.

Outermost first:

1. ``ForwardedHeaders``: the client's address, scheme and Host from ``proxy_count``
   proxies, then every forwarded header removed (nothing downstream reads one);
2. ``RequestLog``: a request id, and one JSON line when the response is done;
3. ``SecurityHeaders``: frame, sniffing, referrer, CSP and (on https) HSTS headers.

So each covers every answer: tenant apps, the platform app and the dispatcher's own
400/403/404/503 pages. Plain WSGI, like the dispatcher::

    application = around_dispatcher(dispatcher, proxy_count=1, request_log=open_sink("-"))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tenants.dispatch.forwarded import ForwardedHeaders
from tenants.dispatch.headers import SecurityHeaders
from tenants.dispatch.logsink import LineSink
from tenants.dispatch.requestlog import RequestLog

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def around_dispatcher(
    dispatcher: WSGIApplication,
    *,
    proxy_count: int = 0,
    request_log: LineSink | None = None,
    https: bool = False,
    form_action: Iterable[str] = (),
) -> WSGIApplication:
    """``dispatcher`` inside the edge middleware (see the module docstring)."""
    app: WSGIApplication = SecurityHeaders(dispatcher, https=https, form_action=form_action)
    app = RequestLog(app, request_log)
    return ForwardedHeaders(app, proxy_count=proxy_count)
