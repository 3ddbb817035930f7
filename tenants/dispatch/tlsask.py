"""The question a TLS-terminating proxy asks before it gets a certificate for a name.

Caddy's ``on_demand_tls`` (``ask``) requests ``GET /_platform/tls-ask?domain=<name>``
before issuing a certificate for a name it has never seen, and issues one only on a 200.
Approving every name would let anyone point DNS at the platform and spend the
certificate authority's rate limits (or have us hold certificates for names we do not
serve); so the answer is 200 only for a verified (or in-grace) custom domain of an
active tenant, read from the registry's memory like every routing decision, and 404
otherwise (400 without a well-formed ``domain``). Subdomains of the base domain are
served with the operator's wildcard certificate, not on demand: refused here too.

The dispatcher answers this path on the bare domain and on hosts that are nobody's
(``app:8000``, the proxy's name for the app), never on a tenant's host, where the path
belongs to the tenant's app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from tenants.registry.domainnames import canonical_or_none
from tenants.registry.record import RegistryUnavailable, TenantRecord, TenantStatus

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class TlsAsk:
    """WSGI app: 200 if a certificate may be issued for ``?domain=``, else 4xx (503 if unsure)."""

    PATH = "/_platform/tls-ask"

    def __init__(self, lookup_domain: Callable[[str], TenantRecord | None]) -> None:
        self.lookup_domain = lookup_domain

    def decide(self, raw: str | None) -> tuple[int, str]:
        if not raw:
            return 400, "Give the name as ?domain=."
        domain = canonical_or_none(raw)
        if domain is None:
            return 400, "Not a domain name."
        try:
            tenant = self.lookup_domain(domain)
        except RegistryUnavailable:
            return 503, "The registry cannot be read; ask again."
        if tenant is None or tenant.status != TenantStatus.ACTIVE:
            return 404, "No active workspace has verified this domain."
        return 200, "ok"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, message = 405, "GET only."
        else:
            try:
                query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=5)
            except ValueError:
                query = {}
            values = query.get("domain")
            status, message = self.decide(values[0] if values else None)
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        body = (message + "\n").encode()
        start_response(
            f"{status} {reason.get(status, 'Service Unavailable')}",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]
