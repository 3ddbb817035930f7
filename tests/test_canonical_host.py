"""Absolute URLs come from the settings, never from the request's Host (through plain WSGI).

A client may write any port (or case, or trailing dot) in its Host header. Once the
dispatcher has placed a request, the apps see the platform's public origin for that
place, so werkzeug's trailing-slash redirects and ``url_for(..., _external=True)`` point
where the platform is really served.
"""

from __future__ import annotations

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from tenants.dispatch.path import PathDispatcher
from tenants.dispatch.subdomain import SubdomainDispatcher


@pytest.fixture
def backend() -> str:
    """Where a URL points does not depend on the database: SQLite is enough."""
    return "sqlite"


@pytest.mark.parametrize(
    ("changes", "origin"),
    [
        ({}, "http://acme.example.com"),
        ({"public_port": "8443", "url_scheme": "https"}, "https://acme.example.com:8443"),
    ],
    ids=["default-port", "public-port-and-https"],
)
@pytest.mark.parametrize(
    "host", ["acme.example.com:1", "ACME.example.com.:65535", "acme.example.com"]
)
def test_a_tenants_redirect_goes_to_its_public_origin(
    make_platform, changes, origin: str, host: str
) -> None:
    from tenants import lifecycle

    platform = make_platform(**changes)
    lifecycle.provision_tenant(
        platform, lifecycle.NewTenant("acme", "Acme", "owner@acme.test", "a-long-password")
    )
    response = Client(platform).get("/notes", headers={"Host": host})
    assert response.status_code == 308
    assert response.headers["Location"] == f"{origin}/notes/"


@pytest.mark.parametrize("routing", ["subdomain", "path"])
def test_the_platforms_redirect_goes_to_its_public_origin(platform, client) -> None:
    response = client.get("/admin", headers={"Host": "example.com:1"})
    assert response.status_code == 308
    assert response.headers["Location"] == "http://example.com/admin/"


@pytest.mark.parametrize("routing", ["path"])
def test_in_path_mode_a_tenants_redirect_keeps_its_prefix_and_the_public_host(
    platform, client, create_tenant
) -> None:
    create_tenant("acme")
    response = client.get("/acme/notes", headers={"Host": "EXAMPLE.com:1"})
    assert response.status_code == 308
    assert response.headers["Location"] == "http://example.com/acme/notes/"


def where_am_i(environ, start_response):  # noqa: ANN001, ANN201
    """What an app builds absolute URLs from: werkzeug's view of the request."""
    request = Request(environ)
    body = f"{request.host_url}|{request.url}|{request.is_secure}"
    return Response(body)(environ, start_response)


@pytest.mark.parametrize(
    ("dispatcher", "path", "seen"),
    [
        (
            SubdomainDispatcher(
                "example.com",
                where_am_i,
                lambda slug: where_am_i,
                public_scheme="https",
                public_port="8443",
            ),
            "/x?y=1",
            "https://acme.example.com:8443/|https://acme.example.com:8443/x?y=1|True",
        ),
        (
            SubdomainDispatcher("example.com", where_am_i, lambda slug: where_am_i),
            "/x",
            "http://acme.example.com/|http://acme.example.com/x|False",
        ),
        (
            PathDispatcher("example.com", where_am_i, lambda slug: where_am_i, public_port="5000"),
            "/acme/x",
            "http://example.com:5000/|http://example.com:5000/acme/x|False",
        ),
    ],
    ids=["subdomain-https-port", "subdomain-default", "path-port"],
)
def test_apps_see_the_public_origin_not_the_clients_host(dispatcher, path: str, seen: str):
    host = "example.com:1" if isinstance(dispatcher, PathDispatcher) else "acme.example.com:1"
    response = Client(dispatcher).get(path, headers={"Host": host})
    assert response.get_data(as_text=True) == seen


def test_the_platform_page_sees_the_bare_domain_at_the_public_port() -> None:
    dispatcher = SubdomainDispatcher(
        "example.com", where_am_i, lambda slug: None, public_port="8000"
    )
    response = Client(dispatcher).get("/", headers={"Host": "EXAMPLE.COM.:1"})
    assert response.get_data(as_text=True).startswith("http://example.com:8000/|")
