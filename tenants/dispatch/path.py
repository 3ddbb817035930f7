"""Dispatch by path prefix: ``example.com/acme/...`` is tenant ``acme``'s app.

The first path segment names the tenant and moves from ``PATH_INFO`` into
``SCRIPT_NAME``, so the tenant app's ``url_for`` keeps the prefix. Reserved segments
(the platform's own routes: signup, admin, static, ...) never name a tenant, and a
segment that names no tenant falls through to the platform app, which answers 404
for what it does not serve. The Host must be the base domain: this dispatcher does
not guess at other names (400 for a malformed Host, 404 for a foreign one). A placed
request carries the canonical public address (the base domain at the public scheme
and port), as in the subdomain dispatcher.

Usage::

    from tenants.dispatch.path import PathDispatcher

    application = PathDispatcher(
        "example.com", platform_app, tenant_app=apps.get, reserved={"signup", "admin"}
    )
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tenants.dispatch.hosts import BadHost, Place, PublicOrigin, canonical_host, locate
from tenants.dispatch.pages import NOT_FOUND, bad_host
from tenants.dispatch.subdomain import SLUG_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_FIRST_SEGMENT = re.compile(r"^/([^/]+)(/.*)?$", re.DOTALL)


class PathDispatcher:
    """Route each request by its first path segment to a tenant app or the platform app."""

    def __init__(
        self,
        domain: str,
        platform_app: WSGIApplication,
        tenant_app: Callable[[str], WSGIApplication | None],
        reserved: Iterable[str] = (),
        *,
        public_scheme: str = "http",
        public_port: str = "",
        not_found: WSGIApplication = NOT_FOUND,
    ) -> None:
        self.domain = domain.lower().rstrip(".")
        self.platform_app = platform_app
        self.tenant_app = tenant_app
        self.reserved = frozenset(reserved)
        self.origin = PublicOrigin(public_scheme, public_port)
        #: The 404 page for a host under the domain that names no workspace.
        self.not_found = not_found

    def get_application(self, environ: WSGIEnvironment) -> WSGIApplication:
        try:
            host, _port = canonical_host(environ.get("HTTP_HOST"))
        except BadHost as error:
            return bad_host(str(error))
        if locate(host, self.domain).place is not Place.PLATFORM:
            environ["HTTP_HOST"] = host
            return self.not_found
        self.origin.apply(environ, self.domain)
        match = _FIRST_SEGMENT.match(environ.get("PATH_INFO") or "")
        if match is None or match.group(1) in self.reserved:
            return self.platform_app
        segment = match.group(1)
        app = self.tenant_app(segment)
        if app is None:
            return self.platform_app
        environ[SLUG_KEY] = segment
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + segment
        environ["PATH_INFO"] = match.group(2) or ""
        return app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.get_application(environ)(environ, start_response)
