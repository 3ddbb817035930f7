"""Forwarded headers are trusted from exactly PROXY_COUNT proxies, and from none by default."""

from __future__ import annotations

import json
import logging

import pytest
from werkzeug.test import Client

from tenants.settings import Settings

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
