"""The path-prefix dispatcher as plain WSGI."""

from __future__ import annotations

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tenants.dispatch.path import PathDispatcher


def echo(name: str):
    def app(environ, start_response):
        body = f"{name}|{environ.get('SCRIPT_NAME', '')}|{environ.get('PATH_INFO', '')}"
        return Response(body)(environ, start_response)

    return app


@pytest.fixture
def client() -> Client:
    tenants = {"acme": echo("tenant:acme"), "admin": echo("tenant:admin")}
    return Client(
        PathDispatcher("example.com", echo("platform"), tenants.get, reserved={"admin", "signup"})
    )


PATHS = [
    ("tenant-root", "/acme/", 200, "tenant:acme|/acme|/"),
    ("tenant-no-trailing-slash", "/acme", 200, "tenant:acme|/acme|"),
    ("tenant-deep-path", "/acme/notes/3/edit", 200, "tenant:acme|/acme|/notes/3/edit"),
    ("platform-root", "/", 200, "platform||/"),
    ("reserved-never-a-tenant", "/admin/", 200, "platform||/admin/"),
    ("platform-route", "/signup", 200, "platform||/signup"),
    ("unknown-prefix-falls-to-platform", "/nope/x", 200, "platform||/nope/x"),
    ("case-is-not-folded", "/ACME/", 200, "platform||/ACME/"),
    ("double-slash", "//acme/", 200, "platform||//acme/"),
]


@pytest.mark.parametrize(
    ("path", "status", "body"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS]
)
def test_path_routing(client: Client, path: str, status: int, body: str) -> None:
    response = client.get(environ_overrides={"PATH_INFO": path, "HTTP_HOST": "example.com"})
    assert response.status_code == status
    assert response.get_data(as_text=True) == body


@pytest.mark.parametrize(
    ("host", "status"),
    [("acme.example.com", 404), ("evil.test", 404), ("exa mple.com", 400), ("EXAMPLE.com.", 200)],
    ids=["subdomain-host", "foreign-host", "malformed-host", "canonicalized-host"],
)
def test_path_mode_host_must_be_base_domain(client: Client, host: str, status: int) -> None:
    assert client.get("/acme/", headers={"Host": host}).status_code == status


def test_script_name_prefix_is_kept(client: Client) -> None:
    response = client.get(
        "/acme/x", headers={"Host": "example.com"}, environ_overrides={"SCRIPT_NAME": "/app"}
    )
    assert response.get_data(as_text=True) == "tenant:acme|/app/acme|/x"
