"""Redirects stay on the tenant, absolute links come from the registry, cookies stay home."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.conftest import PASSWORD
from tests.helpers import csrf_token, handoff_of

ACME = {"Host": "acme.example.com"}


@pytest.mark.parametrize(
    "target",
    [
        "//evil.test/",
        "https://evil.test/",
        "http:evil.test",
        "/\\evil.test",
        "javascript:alert(1)",
        "\\\\evil.test",
        " //evil.test",
        "/%2F%2Fevil.test",
    ],
    ids=[
        "scheme-relative",
        "absolute",
        "scheme-no-slashes",
        "backslash",
        "javascript",
        "unc",
        "leading-space",
        "encoded-slashes",
    ],
)
def test_login_next_never_leaves_the_tenant(client: Client, create_tenant, target: str) -> None:
    create_tenant("acme")
    page = client.get("/login", headers=ACME)
    response = client.post(
        "/login",
        headers=ACME,
        query_string={"next": target},
        data={"email": "owner@acme.test", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil" not in location.split("?")[0] or location.startswith("/%2F")


def test_login_next_within_the_tenant_is_followed(client: Client, create_tenant) -> None:
    create_tenant("acme")
    page = client.get("/login", headers=ACME)
    response = client.post(
        "/login",
        headers=ACME,
        query_string={"next": "/?tab=recent"},
        data={"email": "owner@acme.test", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.headers["Location"] == "/?tab=recent"


def test_signup_handoff_uses_the_registry_host_not_the_request_host(client: Client) -> None:
    headers = {"Host": "EXAMPLE.com.:5000"}
    page = client.get("/signup", headers=headers)
    response = client.post(
        "/signup",
        headers=headers,
        data={
            "name": "Acme",
            "subdomain": "acme",
            "email": "o@acme.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(page),
        },
    )
    assert response.status_code == 200
    assert handoff_of(response)[0] == "http://acme.example.com/login/handoff"


def test_session_cookie_flags(client: Client, create_tenant) -> None:
    create_tenant("acme")
    response = client.get("/login", headers=ACME)
    cookie_header = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header
    assert "SameSite=Lax" in cookie_header
    assert "Domain=" not in cookie_header
    assert "Cookie" in response.headers.get("Vary", "")


def test_secure_cookies_behind_https(make_platform, create_tenant) -> None:
    platform = make_platform(url_scheme="https")
    from tenants import lifecycle

    lifecycle.provision_tenant(
        platform, lifecycle.NewTenant("acme", "Acme", "owner@acme.test", PASSWORD)
    )
    response = Client(platform).get("/login", headers=ACME)
    assert "Secure" in response.headers["Set-Cookie"]
