"""Dispatch by subdomain: ``acme.example.com`` is tenant ``acme``'s app.

The bare base domain goes to the platform app; exactly one label below it names a
tenant; anything else is refused. Refusing is deliberate: a request this dispatcher
cannot place is answered here (400 for a malformed Host, 404 for a name it does not
serve) and never reaches an app, since guessing would risk showing one tenant's data
under another's name.

Usage::

    from tenants.dispatch.subdomain import SubdomainDispatcher

    application = SubdomainDispatcher(
        "example.com",
        platform_app,
        tenant_app=lambda slug: apps.get(slug),  # a WSGI app, or None if unknown
    )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tenants.dispatch.hosts import BadHost, Place, canonical_host, locate
from tenants.dispatch.pages import NOT_FOUND, bad_host

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The WSGI environ key that carries the tenant's slug to logging and the app.
SLUG_KEY = "tenants.slug"


class SubdomainDispatcher:
    """Route each request by its Host to the platform app or one tenant's app."""

    def __init__(
        self,
        domain: str,
        platform_app: WSGIApplication,
        tenant_app: Callable[[str], WSGIApplication | None],
    ) -> None:
        self.domain = domain.lower().rstrip(".")
        self.platform_app = platform_app
        self.tenant_app = tenant_app

    def get_application(self, environ: WSGIEnvironment) -> WSGIApplication:
        try:
            host, port = canonical_host(environ.get("HTTP_HOST"))
        except BadHost as error:
            return bad_host(str(error))
        environ["HTTP_HOST"] = f"{host}:{port}" if port else host
        place, slug = locate(host, self.domain)
        if place is Place.PLATFORM:
            return self.platform_app
        if place is Place.TENANT and slug is not None:
            environ[SLUG_KEY] = slug
            return self.tenant_app(slug) or NOT_FOUND
        return NOT_FOUND

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.get_application(environ)(environ, start_response)
