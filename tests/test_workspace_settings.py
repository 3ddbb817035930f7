"""Workspace settings (owners): name and accent, saved in the registry, shown on every page."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants import lifecycle
from tenants.accounts.settings_page import DEFAULT_ACCENT, valid_accent
from tenants.registry.models import AuditEntry, Tenant
from tests.helpers import add_member, csrf_token, login

ACME = "acme.example.com"


def get(client: Client, path: str) -> TestResponse:
    return client.get(path, headers={"Host": ACME})


def save(client: Client, name: str, accent: str) -> TestResponse:
    token = csrf_token(get(client, "/settings/"))
    return client.post(
        "/settings/",
        headers={"Host": ACME},
        data={"csrf_token": token, "display_name": name, "accent": accent},
    )


@pytest.fixture
def owner(platform, create_tenant) -> Client:
    create_tenant("acme", name="Acme")
    client = Client(platform)
    assert login(client, ACME, "owner@acme.test").status_code == 302
    return client


def test_saved_name_and_accent_show_on_the_next_page(platform, owner: Client) -> None:
    before = get(owner, "/").get_data(as_text=True)
    assert f"--accent: {DEFAULT_ACCENT}" in before

    response = save(owner, "Acme Rockets", "#FF6600")
    assert response.status_code == 302 and response.headers["Location"] == "/settings/"

    page = get(owner, "/settings/").get_data(as_text=True)
    assert "Workspace settings saved." in page  # the flash survives the app's rebuild
    assert "◆</span> Acme Rockets</a>" in page  # top bar
    assert "<title>Workspace settings · Acme Rockets</title>" in page
    assert "--brand: #ff6600" in page
    assert 'value="Acme Rockets"' in page and 'value="#ff6600"' in page
    notes = get(owner, "/notes/").get_data(as_text=True)
    assert "Acme Rockets" in notes and "--brand: #ff6600" in notes
    login_page = Client(platform).get("/login", headers={"Host": ACME}).get_data(as_text=True)
    assert "Log in to Acme Rockets" in login_page


def test_saving_writes_the_registry_and_an_audit_entry(platform, owner: Client) -> None:
    save(owner, "Acme Rockets", "#123abc")
    with Session(platform.engine) as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == "acme")).scalar_one()
        assert tenant.display_name == "Acme Rockets"
        assert tenant.settings["accent"] == "#123abc"
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "tenant.update")
        ).scalar_one()
        assert entry.actor == "owner@acme.test" and entry.tenant_id == tenant.id


@pytest.mark.parametrize(
    ("name", "accent", "field", "message"),
    [
        ("Acme", "red", "accent", "Use a colour like #4f46e5."),
        ("Acme", "#12345g", "accent", "Use a colour like #4f46e5."),
        ("Acme", "#123456\n", "accent", "Use a colour like #4f46e5."),
        ("Acme", "#1234567", "accent", "Use a colour like #4f46e5."),
        ("   ", "#123456", "display_name", "Give the workspace a name."),
        ("x" * 121, "#123456", "display_name", "120"),
    ],
    ids=["word", "not-hex", "trailing-newline", "seven-digits", "blank-name", "long-name"],
)
def test_invalid_settings_are_422_beside_the_field(
    platform, owner: Client, name: str, accent: str, field: str, message: str
) -> None:
    response = save(owner, name, accent)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page and message in page
    with Session(platform.engine) as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == "acme")).scalar_one()
        assert tenant.display_name == "Acme" and "accent" not in (tenant.settings or {})


def test_members_cannot_change_settings(platform, owner: Client) -> None:
    add_member(owner, ACME, "ann@acme.test", "ann-password")
    ann = Client(platform)
    login(ann, ACME, "ann@acme.test", "ann-password")
    assert 'href="/settings/"' not in get(ann, "/").get_data(as_text=True)
    assert get(ann, "/settings/").status_code == 403
    token = csrf_token(get(ann, "/notes/new"))
    response = ann.post(
        "/settings/",
        headers={"Host": ACME},
        data={"csrf_token": token, "display_name": "Ann's", "accent": "#000000"},
    )
    assert response.status_code == 403
    assert "Acme" in get(ann, "/").get_data(as_text=True)


def test_an_invalid_accent_in_the_registry_is_not_put_in_the_page(platform, owner: Client) -> None:
    hostile = "red;}</style><script>alert(1)</script>"
    lifecycle.update_tenant(platform, "acme", actor="test", settings={"accent": hostile})
    page = get(owner, "/").get_data(as_text=True)
    assert f"--accent: {DEFAULT_ACCENT}" in page
    assert "alert(1)" not in page


@pytest.mark.parametrize(
    ("stored", "used"),
    [
        ("#A1b2C3", "#A1b2C3"),
        ("#a1b2c3\n", DEFAULT_ACCENT),
        ("#fff", DEFAULT_ACCENT),
        ("blue", DEFAULT_ACCENT),
        (None, DEFAULT_ACCENT),
        (123456, DEFAULT_ACCENT),
    ],
)
def test_valid_accent(stored: object, used: str) -> None:
    assert valid_accent(stored) == used
