"""The workspace in path mode (example.com/acme/...): links and redirects keep the prefix."""

from __future__ import annotations

import pytest
from werkzeug.test import Client, TestResponse

from tests.helpers import csrf_token, login

HOST = "example.com"


@pytest.fixture
def routing() -> str:
    return "path"


def get(client: Client, path: str) -> TestResponse:
    return client.get(path, headers={"Host": HOST})


def post(client: Client, path: str, data: dict[str, str]) -> TestResponse:
    token = csrf_token(get(client, "/acme/notes/new"))
    return client.post(path, headers={"Host": HOST}, data={"csrf_token": token, **data})


def test_notes_members_settings_and_account_under_the_prefix(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    assert login(client, HOST, "owner@acme.test", prefix="/acme").status_code == 302

    home = get(client, "/acme/").get_data(as_text=True)
    for link in ("/acme/notes/", "/acme/members/", "/acme/settings/", "/acme/account/"):
        assert f'href="{link}"' in home

    created = post(client, "/acme/notes/new", {"title": "Prefixed note"})
    assert created.status_code == 302 and created.headers["Location"] == "/acme/notes/"
    notes = get(client, "/acme/notes/").get_data(as_text=True)
    assert "Prefixed note" in notes and 'href="/acme/notes/1/edit"' in notes

    added = post(
        client,
        "/acme/members/create",
        {"email": "ann@acme.test", "password": "ann-password", "role": "member"},
    )
    assert added.status_code == 302 and added.headers["Location"] == "/acme/members/"

    saved = post(client, "/acme/settings/", {"display_name": "Acme Paths", "accent": "#00aa55"})
    assert saved.status_code == 302 and saved.headers["Location"] == "/acme/settings/"
    page = get(client, "/acme/settings/").get_data(as_text=True)
    assert "Acme Paths" in page and "--brand: #00aa55" in page

    assert get(client, "/acme/account/").status_code == 200
