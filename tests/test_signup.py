"""Signup at the root domain: validation, the race for a name, and the way in."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client

from tenants.tokens import make_login_token
from tenants.workspace.factory import derive_tenant_secret
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

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


def follow_to_tenant(client: Client, location: str):
    parts = urlsplit(location)
    return client.get(parts.path, headers={"Host": parts.netloc})


def test_signup_lands_logged_in_on_the_tenant(platform, client: Client) -> None:
    response = signup(client)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("http://acme.example.com/login/token/")
    landed = follow_to_tenant(client, location)
    assert landed.status_code == 302 and landed.headers["Location"] == "/"
    home = client.get("/", headers={"Host": "acme.example.com"})
    assert home.status_code == 200
    assert "Acme Corporation" in home.get_data(as_text=True)
    assert platform.registry.get("acme").status == "active"


def test_login_token_works_once(client: Client) -> None:
    location = signup(client).headers["Location"]
    assert follow_to_tenant(client, location).headers["Location"] == "/"
    other = Client(client.application)
    replay = follow_to_tenant(other, location)
    assert replay.headers["Location"].startswith("/login")
    assert other.get("/", headers={"Host": "acme.example.com"}).status_code == 302


def test_login_token_expires(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import tenants.tokens

    location = signup(client).headers["Location"]
    monkeypatch.setattr(tenants.tokens, "LOGIN_TOKEN_MAX_AGE", -1)
    other = Client(client.application)
    assert follow_to_tenant(other, location).headers["Location"].startswith("/login")
    assert other.get("/", headers={"Host": "acme.example.com"}).status_code == 302


def test_login_token_of_one_tenant_is_refused_by_another(
    platform, client: Client, create_tenant
) -> None:
    acme = create_tenant("acme")
    create_tenant("globex")
    token = make_login_token(
        derive_tenant_secret(platform.settings.secret_key, acme.id), acme.id, 1
    )
    response = client.get(f"/login/token/{token}", headers={"Host": "globex.example.com"})
    assert response.headers["Location"].startswith("/login")
    assert client.get("/", headers={"Host": "globex.example.com"}).status_code == 302


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
    assert signup(client).status_code == 303
    again = signup(Client(client.application), subdomain="ACME")
    assert again.status_code == 409
    assert "is taken" in again.get_data(as_text=True)
    assert len(platform.storage.existing_ids()) == 1


def test_subdomain_is_stored_canonical(platform, client: Client) -> None:
    response = signup(client, subdomain="  Acme-Corp ")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("http://acme-corp.example.com/")
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
    assert sorted(statuses) == [303] + [409] * 7
    assert len(platforms[0].storage.existing_ids()) == 1
    platforms[0].registry.refresh(force=True)
    assert platforms[0].registry.get("contested").status == "active"
