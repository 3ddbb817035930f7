"""Signup at the root domain: validation, the race for a name, and the way in."""

from __future__ import annotations

import threading

import pytest
from werkzeug.test import Client

from tenants.accounts.tokens import make_login_token
from tenants.keys import derive_tenant_secret
from tests.conftest import PASSWORD
from tests.helpers import csrf_token, follow_handoff, handoff_of

ROOT = {"Host": "example.com"}


def signup(client: Client, **fields: str):
    page = client.get("/signup", headers=ROOT)
    data = {
        "name": "Acme Corporation",
        "subdomain": "acme",
        "email": "founder@acme.test",
        "password": PASSWORD,
        "csrf_token": csrf_token(page),
    }
    data.update(fields)
    return client.post("/signup", headers=ROOT, data=data)


def test_signup_hands_the_owner_over_by_a_post_with_no_token_in_any_url(
    platform, client: Client
) -> None:
    response = signup(client)
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Continue to your workspace" in page  # works without JavaScript
    assert '<script src="/static/handoff.js">' in page  # a file: no inline script for CSP
    url, fields = handoff_of(response)
    assert url == "http://acme.example.com/login/handoff"
    assert set(fields) == {"token"} and fields["token"] not in url
    landed = follow_handoff(client, response)
    assert landed.status_code == 303 and landed.headers["Location"] == "/"
    home = client.get("/", headers={"Host": "acme.example.com"})
    assert home.status_code == 200
    assert "Acme Corporation" in home.get_data(as_text=True)
    assert platform.registry.get("acme").status == "active"


def test_the_handoff_script_is_served(client: Client) -> None:
    script = client.get("/static/handoff.js", headers=ROOT)
    body = script.get_data(as_text=True)
    script.close()
    assert script.status_code == 200 and "submit()" in body


def test_sign_in_token_works_once(client: Client) -> None:
    response = signup(client)
    assert follow_handoff(client, response).headers["Location"] == "/"
    other = Client(client.application)
    replay = follow_handoff(other, response)
    assert replay.status_code == 303 and replay.headers["Location"].startswith("/login")
    assert other.get("/", headers={"Host": "acme.example.com"}).status_code == 302


def test_sign_in_token_expires(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import tenants.accounts.tokens

    response = signup(client)
    monkeypatch.setattr(tenants.accounts.tokens, "LOGIN_TOKEN_MAX_AGE", -1)
    other = Client(client.application)
    assert follow_handoff(other, response).headers["Location"].startswith("/login")
    assert other.get("/", headers={"Host": "acme.example.com"}).status_code == 302


def test_sign_in_token_of_one_tenant_is_refused_by_another(
    platform, client: Client, create_tenant
) -> None:
    acme = create_tenant("acme")
    create_tenant("globex")
    token = make_login_token(
        derive_tenant_secret(platform.settings.secret_key, acme.id), acme.id, 1
    )
    globex = {"Host": "globex.example.com"}
    response = client.post("/login/handoff", headers=globex, data={"token": token})
    assert response.headers["Location"].startswith("/login")
    assert client.get("/", headers=globex).status_code == 302


def test_a_token_in_a_url_signs_nobody_in(platform, client: Client, create_tenant) -> None:
    acme = create_tenant("acme")
    token = make_login_token(
        derive_tenant_secret(platform.settings.secret_key, acme.id), acme.id, acme.owner_id
    )
    acme_host = {"Host": "acme.example.com"}
    old_link = client.get(f"/login/token/{token}", headers=acme_host)
    assert old_link.status_code == 410
    assert "Log in with your email and password" in old_link.get_data(as_text=True)
    assert client.get(f"/login/handoff?token={token}", headers=acme_host).status_code == 405
    assert client.get("/", headers=acme_host).status_code == 302


INVALID = [
    ("subdomain-too-short", {"subdomain": "ab"}, "subdomain", "at least 3"),
    ("subdomain-underscore", {"subdomain": "acme_corp"}, "subdomain", "letters a-z"),
    ("subdomain-leading-hyphen", {"subdomain": "-acme"}, "subdomain", "letters a-z"),
    ("subdomain-reserved", {"subdomain": "www"}, "subdomain", "reserved"),
    ("subdomain-platform-route", {"subdomain": "admin"}, "subdomain", "reserved"),
    ("subdomain-punycode", {"subdomain": "xn--80ak6aa92e"}, "subdomain", "xn--"),
    ("subdomain-too-long", {"subdomain": "a" * 64}, "subdomain", "at most 63"),
    ("name-blank", {"name": "   "}, "name", "name"),
    ("email-malformed", {"email": "founder"}, "email", "email address"),
    ("password-short", {"password": "short"}, "password", "at least 8"),
    ("subdomain-missing", {"subdomain": ""}, "subdomain", "required"),
]


@pytest.mark.parametrize(
    ("fields", "field", "message"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID]
)
def test_invalid_signup_is_422_with_the_message_by_the_field(
    platform, client: Client, fields: dict[str, str], field: str, message: str
) -> None:
    response = signup(client, **fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    error_html = page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message.lower() in error_html.lower()
    assert platform.storage.existing_ids() == set()


def test_taken_subdomain_is_409_whatever_the_case(platform, client: Client) -> None:
    assert signup(client).status_code == 200
    again = signup(Client(client.application), subdomain="ACME")
    assert again.status_code == 409
    assert "is taken" in again.get_data(as_text=True)
    assert len(platform.storage.existing_ids()) == 1


def test_subdomain_is_stored_canonical(platform, client: Client) -> None:
    response = signup(client, subdomain="  Acme-Corp ")
    assert response.status_code == 200
    assert handoff_of(response)[0].startswith("http://acme-corp.example.com/")
    assert platform.registry.get("acme-corp") is not None


def test_signup_without_csrf_token_is_400(platform, client: Client) -> None:
    response = client.post(
        "/signup",
        headers=ROOT,
        data={"name": "X", "subdomain": "acme", "email": "a@b.test", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert platform.registry.get("acme") is None


def test_concurrent_signups_for_one_name_exactly_one_wins(make_platform) -> None:
    # Two platforms over one database, like two server processes, four requests each.
    platforms = [make_platform(), make_platform()]
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def attempt(index: int) -> None:
        client = Client(platforms[index % 2])
        page = client.get("/signup", headers=ROOT)
        barrier.wait(10)
        response = client.post(
            "/signup",
            headers=ROOT,
            data={
                "name": f"Racer {index}",
                "subdomain": "contested",
                "email": f"racer{index}@x.test",
                "password": PASSWORD,
                "csrf_token": csrf_token(page),
            },
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] + [409] * 7
    assert len(platforms[0].storage.existing_ids()) == 1
    platforms[0].registry.refresh(force=True)
    assert platforms[0].registry.get("contested").status == "active"
