"""The admin console's door: log-in, log-out, CSRF, the failure throttle, anonymous refusals."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants.admins import create_admin
from tenants.registry.models import PlatformAdmin
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

HOST = {"Host": "example.com"}
ADMIN_EMAIL = "root@platform.test"


def log_in_admin(
    client: Client, email: str = ADMIN_EMAIL, password: str = PASSWORD, next_url: str = ""
) -> TestResponse:
    page = client.get("/admin/login", headers=HOST)
    query = f"?next={next_url}" if next_url else ""
    return client.post(
        f"/admin/login{query}",
        headers=HOST,
        data={"email": email, "password": password, "csrf_token": csrf_token(page)},
    )


def admin_token(client: Client, path: str = "/admin/") -> str:
    """A CSRF token of the console session (from a page with a form)."""
    return csrf_token(client.get(path, headers=HOST))


@pytest.fixture
def admin(platform) -> str:
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    return ADMIN_EMAIL


def test_login_and_logout(client, admin) -> None:
    response = log_in_admin(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/", headers=HOST)
    assert page.status_code == 200
    assert ADMIN_EMAIL in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"

    # Logged in, the log-in page sends the admin on to the console.
    assert client.get("/admin/login", headers=HOST).status_code == 302

    out = client.post("/admin/logout", headers=HOST, data={"csrf_token": admin_token(client)})
    assert out.status_code == 303
    assert out.headers["Location"] == "/admin/login"
    assert client.get("/admin/", headers=HOST).status_code == 302


@pytest.mark.parametrize(
    ("email", "password"),
    [(ADMIN_EMAIL, "wrong-password"), ("nobody@platform.test", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_wrong_credentials_are_401_with_one_message(client, admin, email, password) -> None:
    response = log_in_admin(client, email, password)
    assert response.status_code == 401
    assert "do not match a platform admin" in response.get_data(as_text=True)
    assert client.get("/admin/", headers=HOST).status_code == 302


def test_email_is_matched_regardless_of_case(client, admin) -> None:
    assert log_in_admin(client, ADMIN_EMAIL.upper()).status_code == 303


def test_empty_form_is_422(client, admin) -> None:
    response = log_in_admin(client, "", "")
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)


def test_login_goes_back_to_the_page_asked_for_and_only_there(client, admin) -> None:
    assert log_in_admin(client, next_url="/admin/tenants/7").headers["Location"] == (
        "/admin/tenants/7"
    )
    client.post("/admin/logout", headers=HOST, data={"csrf_token": admin_token(client)})
    for evil in ("https://evil.test/admin/", "//evil.test/admin/", "/signup"):
        assert log_in_admin(client, next_url=evil).headers["Location"] == "/admin/"
        client.post("/admin/logout", headers=HOST, data={"csrf_token": admin_token(client)})


def test_anonymous_page_visit_redirects_to_login_and_back(client, admin) -> None:
    response = client.get("/admin/?status=all", headers=HOST)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/?status%3Dall"
    login = log_in_admin(client, next_url="/admin/%3Fstatus%3Dall")
    assert login.headers["Location"] == "/admin/?status=all"


def test_every_admin_url_refuses_anonymous_users(platform, client, create_tenant) -> None:
    tenant = create_tenant("acme")
    token = csrf_token(client.get("/admin/login", headers=HOST))
    session_id = "0" * 64
    job = "0" * 32
    pages = [
        "/admin/",
        f"/admin/tenants/{tenant.id}",
        "/admin/tenants/999",
        "/admin/jobs/",
        "/admin/migrations/",
        "/admin/account/",
        "/admin/databases",
        "/admin/account/2fa",
        "/admin/admins/",
        "/admin/admins/1/password",
        "/admin/admins/1/remove",
    ]
    actions = [
        f"/admin/account/sessions/{session_id}/end",
        "/admin/account/sessions/end-all",
        f"/admin/tenants/{tenant.id}/suspend",
        f"/admin/tenants/{tenant.id}/resume",
        f"/admin/tenants/{tenant.id}/plan",
        f"/admin/tenants/{tenant.id}/delete",
        f"/admin/tenants/{tenant.id}/undelete",
        f"/admin/tenants/{tenant.id}/purge",
        f"/admin/tenants/{tenant.id}/read-only",
        f"/admin/tenants/{tenant.id}/move",
        f"/admin/jobs/{job}/retry",
        f"/admin/jobs/{job}/discard",
        "/admin/logout",
        "/admin/account/2fa/disable",
        "/admin/admins/",
        "/admin/admins/1/password",
        "/admin/admins/1/remove",
    ]
    # Every admin route is in one of the two lists (a new one must be added here).
    rules = {
        re.sub(r"<int:tenant_id>", str(tenant.id), rule.rule)
        .replace("<session_id>", session_id)
        .replace("<job_id>", job)
        .replace("<int:admin_id>", "1")
        for rule in platform.console.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        # The ways in for someone not logged in: the login, its second step, the reset.
        and rule.endpoint
        not in {
            "admin_auth.login",
            "admin_2fa.challenge",
            "recovery.admin_forgot",
            "recovery.admin_reset",
        }
    }
    assert rules <= set(pages) | set(actions)

    for path in pages:
        response = client.get(path, headers=HOST)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/admin/login?next="), path
    for path in actions:
        data = {"csrf_token": token, "plan": "pro", "confirm": "acme"}
        response = client.post(path, headers=HOST, data=data)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/admin/login", path
    platform.registry.refresh(force=True)
    record = platform.registry.get("acme")
    assert (record.status, record.plan) == ("active", "free")
    assert platform.storage.exists(tenant.id)


def test_post_without_csrf_token_is_400(client, admin, create_tenant, platform) -> None:
    page = client.get("/admin/login", headers=HOST)
    assert page.status_code == 200
    refused = client.post(
        "/admin/login", headers=HOST, data={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert refused.status_code == 400
    assert "CSRF token is missing" in refused.get_data(as_text=True)

    tenant = create_tenant("acme")
    log_in_admin(client)
    action = client.post(f"/admin/tenants/{tenant.id}/suspend", headers=HOST, data={})
    assert action.status_code == 400
    wrong = client.post(
        f"/admin/tenants/{tenant.id}/suspend", headers=HOST, data={"csrf_token": "forged"}
    )
    assert wrong.status_code == 400
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme").status == "active"


def test_failed_logins_for_one_email_are_throttled(client, admin, platform) -> None:
    for _ in range(5):
        assert log_in_admin(client, password="wrong-password").status_code == 401
    throttled = log_in_admin(client, password="wrong-password")
    assert throttled.status_code == 429
    body = throttled.get_data(as_text=True)
    assert re.search(r"Try again in \d+ seconds?", body)
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # The right password does not get through either while the email is throttled...
    assert log_in_admin(client).status_code == 429
    # ...but the throttle is per email: another admin from the same address can log in.
    create_admin(platform, "b@p.test", PASSWORD)
    assert log_in_admin(client, "b@p.test").status_code == 303


def test_failed_logins_from_one_address_are_throttled(client, admin) -> None:
    for attempt in range(20):
        response = log_in_admin(client, f"guess{attempt}@platform.test", "wrong-password")
        assert response.status_code == 401
    assert log_in_admin(client, "fresh@platform.test", "wrong-password").status_code == 429
    assert log_in_admin(client).status_code == 429


def test_successful_logins_do_not_count_as_failures(client, admin) -> None:
    for _ in range(4):
        assert log_in_admin(client, password="wrong-password").status_code == 401
    for _ in range(3):
        assert log_in_admin(client).status_code == 303
        client.post("/admin/logout", headers=HOST, data={"csrf_token": admin_token(client)})
    assert log_in_admin(client, password="wrong-password").status_code == 401
    assert log_in_admin(client, password="wrong-password").status_code == 429


def test_a_new_password_ends_existing_sessions(client, admin, platform) -> None:
    log_in_admin(client)
    assert client.get("/admin/", headers=HOST).status_code == 200
    with Session(platform.engine) as session:
        session.execute(
            update(PlatformAdmin).values(password_hash=platform.settings.hash_password("new-pw-1"))
        )
        session.commit()
    assert client.get("/admin/", headers=HOST).status_code == 302


def test_console_session_is_worthless_on_a_tenant(client, admin, create_tenant) -> None:
    create_tenant("acme")
    log_in_admin(client)
    # The console cookie is host-only on the bare domain: a tenant never receives it.
    response = client.get("/", headers={"Host": "acme.example.com"})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


class _FormAudit(HTMLParser):
    """Collects input/select/textarea ids and <label for=...> targets."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "label" and attributes.get("for"):
            self.labelled.add(attributes["for"] or "")
        if tag in {"input", "select", "textarea"} and attributes.get("type") != "hidden":
            self.controls.append(attributes.get("id") or f"<{tag} without id>")


def test_every_input_of_the_console_has_a_label(client, admin, create_tenant) -> None:
    tenant = create_tenant("acme")
    pages = [client.get("/admin/login", headers=HOST)]
    log_in_admin(client)
    pages += [
        client.get("/admin/", headers=HOST),
        client.get(f"/admin/tenants/{tenant.id}", headers=HOST),
    ]
    for page in pages:
        assert page.status_code == 200
        audit = _FormAudit()
        audit.feed(page.get_data(as_text=True))
        assert audit.controls, page.request.path
        assert set(audit.controls) <= audit.labelled, page.request.path
