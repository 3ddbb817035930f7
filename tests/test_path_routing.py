"""Path-prefix mode through the real platform: /acme/... is acme's app."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.helpers import login


@pytest.fixture
def routing() -> str:
    return "path"


def test_tenant_under_its_prefix(client: Client, create_tenant) -> None:
    create_tenant("acme", name="Acme Corporation")
    response = client.get("/acme/login", headers={"Host": "example.com"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Acme Corporation" in page
    assert 'href="/acme/static/app.css' in page  # url_for keeps the prefix


def test_redirects_keep_the_prefix_and_cookie_path(client: Client, create_tenant) -> None:
    create_tenant("acme")
    assert (
        client.get("/acme/", headers={"Host": "example.com"})
        .headers["Location"]
        .startswith("/acme/login")
    )
    response = login(client, "example.com", "owner@acme.test", prefix="/acme")
    assert response.status_code == 302 and response.headers["Location"] == "/acme/"
    cookie = client.get_cookie("session", domain="example.com", path="/acme")
    assert cookie is not None and cookie.path == "/acme"
    assert client.get("/acme/", headers={"Host": "example.com"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/signup", 200), ("/healthz", 200), ("/nope/login", 404), ("/ACME/login", 404)],
    ids=["landing", "signup", "health", "unknown-tenant", "non-canonical-case"],
)
def test_platform_and_unknown_paths(client: Client, create_tenant, path: str, status: int) -> None:
    create_tenant("acme")
    assert client.get(path, headers={"Host": "example.com"}).status_code == status


def test_tenants_do_not_see_each_other_in_path_mode(client: Client, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    login(client, "example.com", "owner@acme.test", prefix="/acme")
    assert client.get("/acme/", headers={"Host": "example.com"}).status_code == 200
    response = client.get("/globex/", headers={"Host": "example.com"})
    assert response.status_code == 302 and "/globex/login" in response.headers["Location"]


def test_every_platform_route_is_a_reserved_slug(platform) -> None:
    from tenants.console import route_segments
    from tenants.registry.slugs import RESERVED_SLUGS

    assert route_segments(platform.console) <= RESERVED_SLUGS


def test_platform_pages_describe_path_addresses(client: Client) -> None:
    assert "example.com/your-team/" in client.get("/", headers={"Host": "example.com"}).get_data(
        as_text=True
    )
    assert "example.com/&lt;subdomain&gt;/" in client.get(
        "/signup", headers={"Host": "example.com"}
    ).get_data(as_text=True)
