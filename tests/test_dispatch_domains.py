"""Custom-domain hosts through the dispatcher as plain WSGI: one table of Host headers, with ids.

The real SubdomainDispatcher, TenantResolver, AppCache and TLS ask endpoint; only the
registry's answers are a dictionary here (test_domains.py runs the real registry).
"""

from __future__ import annotations

from types import MappingProxyType

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tenants.dispatch.cache import AppCache
from tenants.dispatch.resolver import TenantResolver
from tenants.dispatch.subdomain import SLUG_KEY, SubdomainDispatcher
from tenants.dispatch.tlsask import TlsAsk
from tenants.registry.record import TenantRecord


def record(tenant_id: int, slug: str, status: str = "active", **fields) -> TenantRecord:
    return TenantRecord(
        tenant_id, slug, slug.title(), status, "free", MappingProxyType({}), 1, None, **fields
    )


TENANTS = {
    "acme": record(
        1,
        "acme",
        custom_domains=("notes.acme.org", "wiki.acme.org"),
        primary_domain="notes.acme.org",
    ),
    "globex": record(2, "globex", custom_domains=("globex.net",)),  # subdomain is primary
    "paused": record(
        3, "paused", "suspended", custom_domains=("paused.org",), primary_domain="paused.org"
    ),
    "initech": record(4, "initech"),
}
DOMAINS = {domain: t for t in TENANTS.values() for domain in t.custom_domains}


def echo(name: str):
    def app(environ, start_response):
        body = f"{name}|{environ.get(SLUG_KEY, '-')}|{environ['HTTP_HOST']}"
        return Response(body)(environ, start_response)

    return app


def tenant_host(tenant: TenantRecord) -> str:
    return tenant.primary_domain or f"{tenant.slug}.example.com"


@pytest.fixture
def client() -> Client:
    resolver = TenantResolver(
        TENANTS.get,
        AppCache(8),
        lambda tenant: echo(f"tenant:{tenant.slug}"),
        lookup_domain=DOMAINS.get,
        tenant_host=tenant_host,
        scheme="https",
    )
    dispatcher = SubdomainDispatcher(
        "example.com",
        echo("platform"),
        resolver,
        public_scheme="https",
        custom_domain_app=resolver.for_domain,
        internal={TlsAsk.PATH: TlsAsk(DOMAINS.get)},
    )
    return Client(dispatcher)


HOSTS = [
    # (id, Host, path, status, body or Location)
    ("primary-domain", "notes.acme.org", "/", 200, "tenant:acme|acme|notes.acme.org"),
    (
        "primary-domain-case-port-dot",
        "NOTES.Acme.ORG.:8443",
        "/",
        200,
        "tenant:acme|acme|notes.acme.org",
    ),
    (
        "other-domain-redirects",
        "wiki.acme.org",
        "/a/b?x=1&y=%20",
        301,
        "https://notes.acme.org/a/b?x=1&y=%20",
    ),
    (
        "subdomain-redirects-to-primary",
        "acme.example.com",
        "/notes/?page=2",
        301,
        "https://notes.acme.org/notes/?page=2",
    ),
    (
        "domain-redirects-to-subdomain-primary",
        "globex.net",
        "/login",
        301,
        "https://globex.example.com/login",
    ),
    (
        "subdomain-primary-served",
        "globex.example.com",
        "/",
        200,
        "tenant:globex|globex|globex.example.com",
    ),
    ("suspended-domain", "paused.org", "/", 403, "suspended"),
    ("suspended-subdomain", "paused.example.com", "/", 403, "suspended"),
    ("unknown-domain", "unknown.org", "/", 404, "No workspace here"),
    ("lookalike-of-domain", "notes.acme.org.evil.net", "/", 404, "No workspace here"),
    (
        "tenant-without-domains",
        "initech.example.com",
        "/",
        200,
        "tenant:initech|initech|initech.example.com",
    ),
    ("malformed", "notes_acme.org", "/", 400, "Bad request"),
    ("ask-verified", "app", "/_platform/tls-ask?domain=notes.acme.org", 200, "ok"),
    ("ask-verified-other", "127.0.0.1:8000", "/_platform/tls-ask?domain=WIKI.acme.org.", 200, "ok"),
    ("ask-on-bare-domain", "example.com", "/_platform/tls-ask?domain=globex.net", 200, "ok"),
    ("ask-suspended", "app", "/_platform/tls-ask?domain=paused.org", 404, "No active"),
    ("ask-unknown", "app", "/_platform/tls-ask?domain=unknown.org", 404, "No active"),
    ("ask-subdomain", "app", "/_platform/tls-ask?domain=acme.example.com", 404, "No active"),
    ("ask-missing", "app", "/_platform/tls-ask", 400, "?domain="),
    ("ask-malformed", "app", "/_platform/tls-ask?domain=a_b..org", 400, "Not a domain"),
    ("ask-too-many-fields", "app", "/_platform/tls-ask?" + "&".join(["a=1"] * 9), 400, "?domain="),
    (
        "ask-not-on-tenant-host",
        "acme.example.com",
        "/_platform/tls-ask?domain=notes.acme.org",
        301,
        "https://notes.acme.org/_platform/tls-ask?domain=notes.acme.org",
    ),
    (
        "ask-not-on-custom-domain",
        "notes.acme.org",
        "/_platform/tls-ask?domain=notes.acme.org",
        200,
        "tenant:acme|acme|notes.acme.org",
    ),
]


@pytest.mark.parametrize(
    ("host", "path", "status", "expected"), [h[1:] for h in HOSTS], ids=[h[0] for h in HOSTS]
)
def test_custom_domain_hosts(client: Client, host: str, path: str, status: int, expected: str):
    response = client.get(path, headers={"Host": host})
    assert response.status_code == status
    if status in (301, 308):
        assert response.headers["Location"] == expected
    else:
        assert expected in response.get_data(as_text=True)


def test_post_to_a_non_primary_address_keeps_its_method() -> None:
    resolver = TenantResolver(
        TENANTS.get,
        AppCache(2),
        lambda t: echo(t.slug),
        lookup_domain=DOMAINS.get,
        tenant_host=tenant_host,
    )
    client = Client(
        SubdomainDispatcher(
            "example.com", echo("p"), resolver, custom_domain_app=resolver.for_domain
        )
    )
    response = client.post("/login?next=/", headers={"Host": "wiki.acme.org"})
    assert response.status_code == 308
    assert response.headers["Location"] == "http://notes.acme.org/login?next=/"


def test_ask_refuses_other_methods(client: Client) -> None:
    response = client.post("/_platform/tls-ask?domain=notes.acme.org", headers={"Host": "app"})
    assert response.status_code == 405
