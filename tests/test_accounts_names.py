"""Issue 11 item 6: people have names. Signup asks the owner's, the account page sets
it, Members shows it, the home page greets by it."""

from __future__ import annotations

from werkzeug.test import Client

from tests.helpers import csrf_token, follow_handoff
from tests.test_signup import ROOT, signup


def test_the_name_given_at_signup_greets_the_owner_and_shows_in_members(
    platform, client: Client
) -> None:
    response = signup(client, owner_name="  Peter   Gibbons ")
    assert response.status_code == 200
    assert follow_handoff(client, response).status_code == 303
    host = {"Host": "acme.example.com"}
    assert "Welcome, Peter Gibbons." in client.get("/", headers=host).get_data(as_text=True)
    members = client.get("/members/", headers=host).get_data(as_text=True)
    assert '<td data-label="Name">Peter Gibbons <span' in members


def test_signup_refuses_a_name_too_long_beside_its_field(platform, client: Client) -> None:
    response = signup(client, owner_name="x" * 121)
    assert response.status_code == 422
    assert "A name has at most 120 characters." in response.get_data(as_text=True)
    assert platform.registry.get("acme") is None


def test_signup_page_asks_for_the_name(platform, client: Client) -> None:
    page = client.get("/signup", headers=ROOT).get_data(as_text=True)
    assert 'name="owner_name"' in page and "Your name" in page


def test_the_account_page_sets_and_clears_the_name(tenant_client) -> None:
    member = tenant_client("acme", role="member")
    page = member.get("/account/")
    assert 'name="name"' in page.get_data(as_text=True)
    saved = member.post(
        "/account/profile", data={"csrf_token": csrf_token(page), "name": "Joanna  Smith"}
    )
    assert saved.status_code == 303
    assert "Welcome, Joanna Smith." in member.get("/").get_data(as_text=True)
    owner = tenant_client("acme")
    assert '<td data-label="Name">Joanna Smith</td>' in owner.get("/members/").get_data(
        as_text=True
    )
    too_long = member.post(
        "/account/profile", data={"csrf_token": csrf_token(page), "name": "y" * 121}
    )
    assert too_long.status_code == 422
    assert "Use at most 120 characters." in too_long.get_data(as_text=True)
    cleared = member.post("/account/profile", data={"csrf_token": csrf_token(page), "name": ""})
    assert cleared.status_code == 303
    assert "Welcome, member-" in member.get("/").get_data(as_text=True)
