"""Sessions and forms of the workspace: CSRF on every form, Vary: Cookie, cookie flags, pages."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants.accounts.models import User
from tenants.notes.models import Note
from tests.conftest import PASSWORD
from tests.helpers import add_member, csrf_token, login

ACME = "acme.example.com"


def get(client: Client, path: str) -> TestResponse:
    return client.get(path, headers={"Host": ACME})


@pytest.fixture
def owner(platform, create_tenant) -> Client:
    create_tenant("acme")
    client = Client(platform)
    assert login(client, ACME, "owner@acme.test").status_code == 302
    return client


def count(platform, model: type) -> int:
    tenant = platform.registry.get("acme")
    engine = platform.storage.engine_for(tenant.id)
    try:
        with Session(engine) as session:
            return session.execute(select(func.count()).select_from(model)).scalar_one()
    finally:
        platform.storage.release(engine)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/notes/new", {"title": "sneaky", "body": ""}),
        (
            "/members/create",
            {"email": "eve@acme.test", "password": "eve-password", "role": "owner"},
        ),
        ("/members/1/role", {"m1-role": "member"}),
        ("/members/1/remove", {}),
        ("/settings/", {"display_name": "Pwned", "accent": "#000000"}),
        (
            "/account/",
            {
                "current_password": PASSWORD,
                "new_password": "attacker-pass",
                "confirm_password": "attacker-pass",
            },
        ),
        ("/logout", {}),
    ],
)
def test_a_post_without_csrf_token_is_400_and_changes_nothing(
    platform, owner: Client, path: str, data: dict[str, str]
) -> None:
    response = owner.post(path, headers={"Host": ACME}, data=data)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert count(platform, User) == 1 and count(platform, Note) == 0
    page = get(owner, "/settings/")
    assert page.status_code == 200  # still logged in, still an owner
    assert "Pwned" not in page.get_data(as_text=True)
    assert login(Client(platform), ACME, "owner@acme.test").status_code == 302


def test_deleting_a_note_without_csrf_token_is_400(platform, owner: Client) -> None:
    token = csrf_token(get(owner, "/notes/new"))
    owner.post("/notes/new", headers={"Host": ACME}, data={"csrf_token": token, "title": "Keep"})
    response = owner.post("/notes/1/delete", headers={"Host": ACME})
    assert response.status_code == 400
    assert count(platform, Note) == 1


def test_login_without_csrf_token_is_400(platform, create_tenant) -> None:
    create_tenant("acme")
    response = Client(platform).post(
        "/login", headers={"Host": ACME}, data={"email": "owner@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 400


def test_a_token_of_another_tenant_is_refused(platform, create_tenant, owner: Client) -> None:
    create_tenant("globex")
    globex = Client(platform)
    login(globex, "globex.example.com", "owner@globex.test")
    foreign = csrf_token(globex.get("/notes/new", headers={"Host": "globex.example.com"}))
    response = owner.post(
        "/notes/new", headers={"Host": ACME}, data={"csrf_token": foreign, "title": "x"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/", "/notes/", "/notes/new", "/members/", "/account/"])
def test_pages_that_read_the_session_vary_on_cookie(owner: Client, path: str) -> None:
    response = get(owner, path)
    assert response.status_code == 200
    assert "Cookie" in response.vary


def test_the_login_page_varies_on_cookie(platform, create_tenant) -> None:
    create_tenant("acme")
    response = get(Client(platform), "/login")
    assert response.status_code == 200 and "Cookie" in response.vary


def _session_cookie_header(response: TestResponse) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(headers) == 1, headers
    return headers[0]


def test_session_cookie_is_host_only_httponly_lax(platform, create_tenant) -> None:
    create_tenant("acme")
    response = login(Client(platform), ACME, "owner@acme.test")
    header = _session_cookie_header(response)
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in header.lower().replace(" ", "")
    assert "domain" not in attributes  # host-only: no other subdomain receives it
    assert "secure" not in attributes  # plain http in tests
    assert "Path=/" in header


def test_session_cookie_is_secure_behind_https(make_platform, platform, create_tenant) -> None:
    create_tenant("acme")
    https = make_platform(url_scheme="https")
    client = Client(https)
    page = client.get("/login", headers={"Host": ACME}, base_url="https://acme.example.com")
    response = client.post(
        "/login",
        # Over https Flask-WTF also wants a same-origin Referer (WTF_CSRF_SSL_STRICT).
        headers={"Host": ACME, "Referer": "https://acme.example.com/login"},
        base_url="https://acme.example.com",
        data={"email": "owner@acme.test", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    header = _session_cookie_header(response)
    assert "Secure" in header and "HttpOnly" in header and "Domain" not in header


class _PageShape(HTMLParser):
    """Counts <title> and <main>, and checks that every visible field has a <label>."""

    def __init__(self) -> None:
        super().__init__()
        self.titles = 0
        self.mains = 0
        self.fields: list[str | None] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "title":
            self.titles += 1
        elif tag == "main":
            self.mains += 1
        elif tag == "label" and attributes.get("for"):
            self.labels.add(attributes["for"])
        elif tag in {"input", "select", "textarea"} and attributes.get("type") not in {
            "hidden",
            "submit",
        }:
            self.fields.append(attributes.get("id"))


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/notes/",
        "/notes/new",
        "/notes/1/edit",
        "/members/",
        "/members/create",
        "/settings/",
        "/account/",
    ],
)
def test_pages_have_a_title_one_main_and_a_label_for_every_field(
    platform, owner: Client, path: str
) -> None:
    token = csrf_token(get(owner, "/notes/new"))
    owner.post("/notes/new", headers={"Host": ACME}, data={"csrf_token": token, "title": "One"})
    response = get(owner, path)
    assert response.status_code == 200
    shape = _PageShape()
    shape.feed(response.get_data(as_text=True))
    assert shape.titles == 1 and shape.mains == 1
    assert all(field_id in shape.labels for field_id in shape.fields), (
        shape.fields,
        shape.labels,
    )


def test_navigation_shows_owner_links_to_owners_only(platform, owner: Client) -> None:
    page = get(owner, "/notes/").get_data(as_text=True)
    for link in ('href="/notes/"', 'href="/members/"', 'href="/settings/"', 'href="/account/"'):
        assert link in page
    assert '<a href="/notes/" aria-current="page">Notes</a>' in page
    add_member(owner, ACME, "ann@acme.test", "ann-password")
    ann = Client(platform)
    login(ann, ACME, "ann@acme.test", "ann-password")
    member_page = get(ann, "/notes/").get_data(as_text=True)
    assert 'href="/members/"' in member_page and 'href="/account/"' in member_page
    assert 'href="/settings/"' not in member_page
