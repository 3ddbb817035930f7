"""The front page's Log in, the Admin link only for admins, and branded error pages.

A returning user gets from the landing page to their workspace's login; an error inside
a workspace keeps its name, navigation and a way back, as the 429 page always did.
"""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tenants.admins import create_admin
from tenants.web.colors import readable_accent
from tests.conftest import PASSWORD
from tests.helpers import add_member, login
from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

ACME = {"Host": "acme.example.com"}


def test_landing_has_log_in_and_no_admin_link_for_visitors(platform, client) -> None:
    page = client.get("/", headers=HOST).get_data(as_text=True)
    assert 'href="/login"' in page and 'action="/login"' in page and 'name="workspace"' in page
    assert 'href="/admin/"' not in page
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    assert log_in_admin(client).status_code == 303
    assert 'href="/admin/"' in client.get("/", headers=HOST).get_data(as_text=True)


def test_log_in_sends_you_to_your_workspace(client, create_tenant) -> None:
    create_tenant("acme")
    assert client.get("/login", headers=HOST).status_code == 200
    for typed in ("acme", " ACME ", "acme.example.com", "https://acme.example.com/notes/"):
        answer = client.get("/login", headers=HOST, query_string={"workspace": typed})
        assert answer.status_code == 303, typed
        assert answer.headers["Location"] == "http://acme.example.com/login"

    unknown = client.get("/login", headers=HOST, query_string={"workspace": "acme-typo"})
    assert unknown.status_code == 404
    body = unknown.get_data(as_text=True)
    assert "There is no workspace “acme-typo”" in body and 'href="/signup"' in body
    assert 'value="acme-typo"' in body  # what was typed stays, to be corrected
    for bad in ("", "a b!", "x" * 64):
        refused = client.get("/login", headers=HOST, query_string={"workspace": bad})
        assert refused.status_code == 422, bad


def test_errors_inside_a_workspace_keep_it(platform, create_tenant) -> None:
    create_tenant("acme", name="Acme Rockets")
    owner = Client(platform)
    assert login(owner, "acme.example.com", "owner@acme.test").status_code == 302
    assert add_member(owner, "acme.example.com", "m@acme.test", PASSWORD).status_code == 302
    member = Client(platform)
    assert login(member, "acme.example.com", "m@acme.test").status_code == 302

    for client, path, code in ((member, "/settings/", 403), (member, "/no-such-page", 404)):
        answer = client.get(path, headers=ACME)
        assert answer.status_code == code, path
        body = answer.get_data(as_text=True)
        assert "Acme Rockets</a>" in body  # the workspace's name in the top bar
        assert 'href="/notes/"' in body  # its navigation
        assert ">Back to Acme Rockets</a>" in body  # and a way back
        assert f"--accent: {readable_accent('#4f46e5')}" in body  # its colours
        assert "Log out" in body


def test_platform_errors_keep_the_platform_chrome(client) -> None:
    answer = client.get("/no-such-page", headers=HOST)
    assert answer.status_code == 404
    body = answer.get_data(as_text=True)
    assert 'href="/login"' in body and 'href="/signup"' in body
    assert "Go to the home page" in body


@pytest.mark.parametrize("routing", ["path"])
def test_log_in_in_path_mode(client, create_tenant) -> None:
    create_tenant("acme")
    for typed in ("acme", "example.com/acme/", "https://example.com/acme/notes/"):
        answer = client.get("/login", headers=HOST, query_string={"workspace": typed})
        assert answer.status_code == 303, typed
        assert answer.headers["Location"] == "http://example.com/acme/login"
