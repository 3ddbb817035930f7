"""Dispatch by subdomain: ``acme.example.com`` is tenant ``acme``'s app.

The bare base domain goes to the platform app; exactly one label below it names a
tenant; any other well-formed name is a tenant's verified custom domain
(``custom_domain_app``, answered from the registry's memory) or refused. Refusing is
deliberate: a request this dispatcher cannot place is answered here (400 for a
malformed Host, 404 for a name it does not serve) and never reaches an app, since
guessing would risk showing one tenant's data under another's name.

Once placed, a request carries its canonical public address, not the client's Host:
``HTTP_HOST`` becomes ``<slug>.<domain>`` (or the bare domain) with the configured
public port, and the scheme the configured one (``set_public_origin``). Every absolute
URL an app builds from the request (werkzeug's trailing-slash redirects, ``url_for(...,
_external=True)``) then points where the platform is really served, never at a port
or spelling the client made up (``Host: acme.example.com:1``).

Usage::

    from tenants.dispatch.subdomain import SubdomainDispatcher

    application = SubdomainDispatcher(
        "example.com",
        platform_app,
        tenant_app=lambda slug: apps.get(slug),  # a WSGI app, or None if unknown
        public_scheme="https",
        public_port="",  # the scheme's default port
    )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from tenants.dispatch.hosts import BadHost, Place, PublicOrigin, canonical_host, locate
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
        *,
        public_scheme: str = "http",
        public_port: str = "",
        custom_domain_app: Callable[[str], tuple[str, WSGIApplication] | None] | None = None,
        internal: Mapping[str, WSGIApplication] | None = None,
        not_found: WSGIApplication = NOT_FOUND,
    ) -> None:
        self.domain = domain.lower().rstrip(".")
        #: A host outside the base domain: (slug, app) of the tenant whose verified custom
        #: domain it is, or None (404).
        self.custom_domain_app = custom_domain_app
        #: Platform endpoints by path (the TLS ask), answered on the bare domain and on
        #: hosts that are nobody's (a proxy's own name for the app): never on a tenant's.
        self.internal = dict(internal or {})
        self.platform_app = platform_app
        self.tenant_app = tenant_app
        self.origin = PublicOrigin(public_scheme, public_port)
        #: The 404 page for a host under the domain that names no workspace.
        self.not_found = not_found
        self._tenant_suffix = "." + self.domain

    def get_application(self, environ: WSGIEnvironment) -> WSGIApplication:
        try:
            host, _port = canonical_host(environ.get("HTTP_HOST"))
        except BadHost as error:
            return bad_host(str(error))
        place, slug = locate(host, self.domain)
        if place is Place.PLATFORM:
            self.origin.apply(environ, self.domain)
            return self.internal.get(environ.get("PATH_INFO", "")) or self.platform_app
        if place is Place.TENANT and slug is not None:
            environ[SLUG_KEY] = slug
            self.origin.apply(environ, slug + self._tenant_suffix)
            return self.tenant_app(slug) or self.not_found
        if place is Place.ELSEWHERE and self.custom_domain_app is not None:
            found = self.custom_domain_app(host)
            if found is not None:
                slug, app = found
                if slug:
                    environ[SLUG_KEY] = slug
                self.origin.apply(environ, host)
                return app
        environ["HTTP_HOST"] = host
        return self.internal.get(environ.get("PATH_INFO", "")) or self.not_found

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.get_application(environ)(environ, start_response)
