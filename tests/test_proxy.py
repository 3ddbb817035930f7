"""Forwarded headers are trusted from exactly PROXY_COUNT proxies, and from none by default."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tenants.admins import create_admin
from tenants.dispatch.forwarded import ForwardedHeaders
from tenants.settings import Settings
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

# A client talking to the app directly sets these itself: with no proxy they are lies.
SPOOFED = {
    "Host": "example.com",
    "X-Forwarded-Host": "acme.example.com",
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
}

#: The address the app sees the connection come from (the client, or the proxy).
PEER = {"REMOTE_ADDR": "192.0.2.10"}


def logged_client_address(caplog: pytest.LogCaptureFixture, request_id: str) -> str:
    for record in caplog.records:
        if record.name == "tenants.requests":
            line = json.loads(record.getMessage())
            if line["request_id"] == request_id:
                return line["remote_addr"]
    raise AssertionError(f"no request log line for {request_id}")


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings.from_environ({}, load_dotenv=False).proxy_count == 0


def test_without_proxies_a_forwarded_host_is_ignored(
    make_platform, create_tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenants.requests")
    create_tenant("acme")
    client = Client(make_platform(proxy_count=0, request_log="logger"))
    response = client.get(
        "/", headers={**SPOOFED, "X-Request-ID": "direct"}, environ_base=PEER, buffered=True
    )
    # The platform's own landing page answered, not the tenant named by the header.
    assert response.status_code == 200
    assert "X-Tenant" not in response.headers
    assert logged_client_address(caplog, "direct") == PEER["REMOTE_ADDR"]


def test_behind_one_proxy_the_forwarded_host_picks_the_tenant(
    make_platform, create_tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenants.requests")
    create_tenant("acme")
    client = Client(make_platform(proxy_count=1, request_log="logger"))
    response = client.get(
        "/login", headers={**SPOOFED, "X-Request-ID": "proxied"}, environ_base=PEER, buffered=True
    )
    assert response.status_code == 200
    assert response.headers["X-Tenant"] == "acme"
    # The request log runs inside ProxyFix: it records the client, not the proxy.
    assert logged_client_address(caplog, "proxied") == "203.0.113.7"


def test_behind_one_proxy_only_the_last_hop_is_believed(make_platform, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    client = Client(make_platform(proxy_count=1))
    # A client's own X-Forwarded-Host comes first; the proxy appends the one it saw.
    headers = {"Host": "example.com", "X-Forwarded-Host": "globex.example.com, acme.example.com"}
    response = client.get("/login", headers=headers)
    assert response.headers["X-Tenant"] == "acme"


def test_a_malformed_forwarded_host_is_refused_like_a_malformed_host(
    make_platform, create_tenant
) -> None:
    create_tenant("acme")
    client = Client(make_platform(proxy_count=1))
    headers = {"Host": "example.com", "X-Forwarded-Host": "acme.example.com@evil.test"}
    response = client.get("/login", headers=headers)
    assert response.status_code == 400
    assert "X-Tenant" not in response.headers


# -- only PROXY_COUNT decides, everywhere: nothing downstream reads a forwarded header -------

VICTIM, ATTACKER, PROXY = "198.51.100.20", "203.0.113.66", "192.0.2.10"
BROWSER = {"Host": "example.com", "User-Agent": "victim-browser/1.0"}
ADMIN_EMAIL = "root@platform.test"


def admin_cookie(platform, remote_addr: str, forwarded_for: str | None = None) -> str:
    """Log in to the admin console from ``remote_addr``; the session cookie it set."""
    client = Client(platform)
    via = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    environ = {"REMOTE_ADDR": remote_addr}
    page = client.get("/admin/login", headers={**BROWSER, **via}, environ_base=environ)
    response = client.post(
        "/admin/login",
        headers={**BROWSER, **via},
        environ_base=environ,
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 303, response.status_code
    cookie = response.headers["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("platform_session=")
    return cookie


def console_with(platform, cookie: str, remote_addr: str, forwarded_for: str | None) -> int:
    """The status of the admin tenants list requested with ``cookie`` (200, or 302 to log in)."""
    headers = {**BROWSER, "Cookie": cookie}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    # No cookie jar: the stolen cookie is sent as the header the attacker writes.
    response = Client(platform, use_cookies=False).get(
        "/admin/", headers=headers, environ_base={"REMOTE_ADDR": remote_addr}
    )
    return response.status_code


def test_a_stolen_admin_cookie_with_the_victims_address_in_x_forwarded_for_is_refused(
    make_platform,
) -> None:
    """No proxy (PROXY_COUNT=0): the attacker's own X-Forwarded-For must not make it the victim.

    Flask-Login's "strong" session protection binds the session to the client's address;
    it reads X-Forwarded-For when present, so the header alone used to pass the check.
    """
    platform = make_platform(proxy_count=0)
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    cookie = admin_cookie(platform, VICTIM)
    assert console_with(platform, cookie, VICTIM, None) == 200  # the victim, still logged in
    assert console_with(platform, cookie, ATTACKER, VICTIM) == 302  # replayed elsewhere: refused
    assert console_with(platform, cookie, ATTACKER, None) == 302


def test_behind_one_proxy_only_the_address_the_proxy_appended_counts(make_platform) -> None:
    platform = make_platform(proxy_count=1)
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    # The victim's browser -> the proxy, which appends the address it saw.
    cookie = admin_cookie(platform, PROXY, forwarded_for=VICTIM)
    assert console_with(platform, cookie, PROXY, VICTIM) == 200
    # The attacker sends the victim's address itself; the proxy appends the attacker's.
    assert console_with(platform, cookie, PROXY, f"{VICTIM}, {ATTACKER}") == 302
    # (PROXY_COUNT=1 also declares that nothing reaches the app except through the proxy:
    # the app cannot tell a proxy's hop from a client's, so it must not be reachable directly.)


def seen_by_the_app(proxy_count: int, headers: dict[str, str]) -> dict[str, Any]:
    def app(environ, start_response):  # noqa: ANN001, ANN202
        seen = {
            "remote_addr": environ.get("REMOTE_ADDR"),
            "scheme": environ.get("wsgi.url_scheme"),
            "host": environ.get("HTTP_HOST"),
            "forwarded": sorted(k for k in environ if "FORWARDED" in k or k.endswith("_IP")),
        }
        return Response(json.dumps(seen), mimetype="application/json")(environ, start_response)

    response = Client(ForwardedHeaders(app, proxy_count)).get(
        "/", headers={"Host": "example.com", **headers}, environ_base=PEER
    )
    return response.json


CLIENT_CLAIMS = {
    "X-Forwarded-For": "203.0.113.1, 203.0.113.2",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "acme.example.com",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/evil",
    "Forwarded": "for=203.0.113.3;proto=https",
    "X-Real-IP": "203.0.113.4",
    "True-Client-IP": "203.0.113.5",
    "CF-Connecting-IP": "203.0.113.6",
}


@pytest.mark.parametrize(
    ("proxy_count", "remote_addr", "scheme", "host"),
    [
        (0, PEER["REMOTE_ADDR"], "http", "example.com"),
        (1, "203.0.113.2", "https", "acme.example.com:8443"),
        (2, "203.0.113.1", "http", "example.com"),
    ],
    ids=["no-proxy", "one-proxy", "two-proxies-one-hop-short"],
)
def test_forwarded_headers_are_resolved_by_the_count_then_removed(
    proxy_count: int, remote_addr: str, scheme: str, host: str
) -> None:
    seen = seen_by_the_app(proxy_count, CLIENT_CLAIMS)
    assert (seen["remote_addr"], seen["scheme"], seen["host"]) == (remote_addr, scheme, host)
    assert seen["forwarded"] == []  # nothing downstream can read what the client claimed
