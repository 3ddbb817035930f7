"""Security headers on every response of every app: one table of (host, path) with ids.

The platform app, a tenant app, static files, error pages of both, and the dispatcher's
own 400/403/404/503 pages all pass through one middleware (tenants.dispatch.headers);
each row checks the whole set, and that every inline style on the page is one the
page's Content-Security-Policy allows (so the policy breaks no page: the browser
journeys in tests/e2e check the same in Chromium).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

import pytest
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Response

from tenants import lifecycle
from tenants.dispatch.headers import SecurityHeaders
from tenants.dispatch.pages import UNAVAILABLE

_STYLE = re.compile(r"<style(?P<attributes>[^>]*)>(?P<css>.*?)</style>", re.DOTALL)
_NONCE_ATTRIBUTE = re.compile(r'nonce="([^"]*)"')


@pytest.fixture
def backend() -> str:
    """The headers do not depend on the database: SQLite is enough."""
    return "sqlite"


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def check_security_headers(response: TestResponse, https: bool = False) -> None:
    headers = response.headers
    assert headers.getlist("X-Frame-Options") == ["DENY"]
    assert headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert headers.getlist("Referrer-Policy") == ["same-origin"]
    [policy] = headers.getlist("Content-Security-Policy")
    csp = directives(policy)
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["form-action"][0] == "'self'"
    hsts = headers.getlist("Strict-Transport-Security")
    assert hsts == (["max-age=31536000; includeSubDomains"] if https else [])
    # Every inline style is allowed by this response's nonce or by its exact hash.
    allowed = set(csp["style-src"])
    for match in _STYLE.finditer(response.get_data(as_text=True)):
        nonce = _NONCE_ATTRIBUTE.search(match.group("attributes"))
        digest = base64.b64encode(hashlib.sha256(match.group("css").encode()).digest()).decode()
        assert (nonce is not None and f"'nonce-{nonce.group(1)}'" in allowed) or (
            f"'sha256-{digest}'" in allowed
        ), f"an inline style the policy blocks: {match.group(0)[:80]}"


@pytest.fixture
def tenants_in_every_state(platform, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("paused")
    lifecycle.suspend_tenant(platform, "paused")


SUBDOMAIN_PAGES = [
    # (id, Host, path, status)
    ("platform-landing", "example.com", "/", 200),
    ("platform-signup", "example.com", "/signup", 200),
    ("platform-admin-login", "example.com", "/admin/login", 200),
    ("platform-admin-redirect", "example.com", "/admin/", 302),
    ("platform-health", "example.com", "/healthz", 200),
    ("platform-static", "example.com", "/static/app.css", 200),
    ("platform-404", "example.com", "/no-such-page", 404),
    ("tenant-login", "acme.example.com", "/login", 200),
    ("tenant-home-redirect", "acme.example.com", "/", 302),
    ("tenant-static", "acme.example.com", "/static/app.css", 200),
    ("tenant-404", "acme.example.com", "/no-such-page", 404),
    ("tenant-trailing-slash-redirect", "acme.example.com", "/notes", 308),
    ("dispatcher-400-malformed-host", "a..b.example.com", "/", 400),
    ("dispatcher-403-suspended", "paused.example.com", "/login", 403),
    ("dispatcher-404-unknown-tenant", "nope.example.com", "/", 404),
    ("dispatcher-404-foreign-host", "evil.test", "/", 404),
]


@pytest.mark.parametrize(
    ("host", "path", "status"),
    [row[1:] for row in SUBDOMAIN_PAGES],
    ids=[row[0] for row in SUBDOMAIN_PAGES],
)
def test_every_response_carries_the_security_headers(
    client: Client, tenants_in_every_state, host: str, path: str, status: int
) -> None:
    response = client.get(path, headers={"Host": host}, buffered=True)
    assert response.status_code == status
    check_security_headers(response)


PATH_PAGES = [
    ("platform-landing", "/", 200),
    ("tenant-login", "/acme/login", 200),
    ("tenant-static", "/acme/static/app.css", 200),
    ("tenant-404", "/acme/no-such-page", 404),
    ("platform-static", "/static/app.css", 200),
    ("unknown-segment-404", "/nope/login", 404),
    ("suspended-403", "/paused/login", 403),
]


@pytest.mark.parametrize("routing", ["path"])
@pytest.mark.parametrize(
    ("path", "status"), [row[1:] for row in PATH_PAGES], ids=[row[0] for row in PATH_PAGES]
)
def test_every_response_carries_the_security_headers_in_path_mode(
    client: Client, tenants_in_every_state, path: str, status: int
) -> None:
    response = client.get(path, headers={"Host": "example.com"}, buffered=True)
    assert response.status_code == status
    check_security_headers(response)
    # One origin for everything: forms only post to it.
    assert directives(response.headers["Content-Security-Policy"])["form-action"] == ["'self'"]


def innermost_dispatcher(platform):  # noqa: ANN001, ANN201
    """The dispatcher under the platform's middleware (each layer keeps its app in .app)."""
    layer = platform.wsgi_app
    while not hasattr(layer, "tenant_app"):
        layer = layer.app
    return layer


def test_the_registry_unavailable_page_carries_them_too(platform, client, monkeypatch) -> None:
    monkeypatch.setattr(innermost_dispatcher(platform), "tenant_app", lambda slug: UNAVAILABLE)
    response = client.get("/login", headers={"Host": "acme.example.com"})
    assert response.status_code == 503
    check_security_headers(response)


def test_over_https_every_response_also_has_hsts(make_platform, create_tenant) -> None:
    platform = make_platform(url_scheme="https")
    lifecycle.provision_tenant(
        platform, lifecycle.NewTenant("acme", "Acme", "owner@acme.test", "a-long-password")
    )
    client = Client(platform)
    for host, path, status in (
        ("example.com", "/", 200),
        ("acme.example.com", "/login", 200),
        ("nope.example.com", "/", 404),
    ):
        response = client.get(path, headers={"Host": host}, base_url="https://localhost")
        assert response.status_code == status
        check_security_headers(response, https=True)


def test_the_workspace_accent_style_gets_a_fresh_nonce_on_every_response(
    client: Client, tenants_in_every_state
) -> None:
    nonces = []
    for _ in range(2):
        response = client.get("/login", headers={"Host": "acme.example.com"})
        [nonce] = _NONCE_ATTRIBUTE.findall(response.get_data(as_text=True))
        assert "--accent" in response.get_data(as_text=True)
        assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
        nonces.append(nonce)
    assert len(nonces[0]) == 32 and nonces[0] != nonces[1]


def test_signup_may_end_on_a_tenant_host(client: Client, tenants_in_every_state) -> None:
    """form-action also governs the redirect after a post: signup lands on the new tenant."""
    response = client.get("/signup", headers={"Host": "example.com"})
    targets = directives(response.headers["Content-Security-Policy"])["form-action"]
    assert targets == ["'self'", "http://example.com", "http://*.example.com"]


# -- apps may add to the headers, never silently lose them ------------------------------------


def app_setting(headers: Iterable[tuple[str, str]]):  # noqa: ANN201
    def app(environ, start_response):  # noqa: ANN001, ANN202
        response = Response("<p>hi</p>", mimetype="text/html")
        for name, value in headers:
            response.headers.add(name, value)
        return response(environ, start_response)

    return app


def test_an_app_cannot_weaken_them() -> None:
    weakening = [
        ("X-Frame-Options", "SAMEORIGIN"),
        ("x-content-type-options", "sniff-away"),
        ("Referrer-Policy", "unsafe-url"),
        ("Strict-Transport-Security", "max-age=0"),
    ]
    response = Client(SecurityHeaders(app_setting(weakening), https=True)).get("/")
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]
    assert response.headers.getlist("Strict-Transport-Security") == [
        "max-age=31536000; includeSubDomains"
    ]


def test_an_app_can_tighten_them() -> None:
    own_policy = "script-src 'none'"
    tighter = [("Referrer-Policy", "no-referrer"), ("Content-Security-Policy", own_policy)]
    response = Client(SecurityHeaders(app_setting(tighter))).get("/")
    assert response.headers.getlist("Referrer-Policy") == ["no-referrer"]
    # Browsers enforce every policy sent: the app's own adds to ours.
    policies = response.headers.getlist("Content-Security-Policy")
    assert len(policies) == 2 and policies[0] == own_policy
    assert "frame-ancestors 'none'" in policies[1]
