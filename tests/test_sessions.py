"""Server-side sessions (issue 10, item 5): logout ends a login, copies of its cookie included.

Tenant users' sessions are rows in the tenant's storage, admins' in the platform
database; both on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants.accounts.models import User, UserSession
from tenants.admins import create_admin
from tenants.registry.models import AdminSession
from tenants.sessions import TOUCH_EVERY, utcnow
from tenants.testing import PASSWORD
from tests.helpers import csrf_token

ACME = {"Host": "acme.example.com"}
ROOT = {"Host": "example.com"}
ADMIN = "root@platform.test"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def log_in(platform, agent: str = FIREFOX, remember: bool = False) -> Client:
    client = Client(platform)
    headers = {**ACME, "User-Agent": agent}
    page = client.get("/login", headers=headers)
    data = {"email": "owner@acme.test", "password": PASSWORD, "csrf_token": csrf_token(page)}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", headers=headers, data=data)
    assert response.status_code == 302
    return client


def copy_of(client: Client, platform, name: str = "session", domain: str = "acme.example.com"):
    """Another browser holding a copy of ``client``'s cookie (what a thief would have)."""
    copy = Client(platform)
    cookie = client.get_cookie(name, domain=domain)
    assert cookie is not None
    copy.set_cookie(name, cookie.value, domain=domain)
    return copy


def logged_in(client: Client, path: str = "/notes/", headers=ACME) -> bool:
    response = client.get(path, headers=headers)
    return response.status_code == 200


def post(client: Client, path: str, headers=ACME, page: str = "/account/") -> TestResponse:
    token = csrf_token(client.get(page, headers=headers))
    return client.post(path, headers=headers, data={"csrf_token": token})


def tenant_rows(platform, tenant_id: int) -> list[UserSession]:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with Session(engine) as session:
            return list(session.execute(select(UserSession)).scalars())
    finally:
        platform.storage.release(engine)


def test_logout_ends_the_session_for_every_copy_of_the_cookie(platform, create_tenant) -> None:
    create_tenant("acme")
    browser = log_in(platform)
    stolen = copy_of(browser, platform)
    assert logged_in(stolen)
    assert post(browser, "/logout").status_code == 302
    assert not logged_in(browser)
    assert not logged_in(stolen)


def test_the_account_page_lists_sessions_and_ends_one_or_all(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    laptop = log_in(platform, FIREFOX)
    phone = log_in(platform, IPHONE)
    page = laptop.get("/account/", headers=ACME).get_data(as_text=True)
    assert "Firefox on Linux" in page and "Mobile Safari on iOS (iPhone)" in page
    assert page.count("End this session") == 2 and "this device" in page

    phone_row = next(row for row in tenant_rows(platform, tenant.id) if "iPhone" in row.user_agent)
    ended = post(laptop, f"/account/sessions/{phone_row.id}/end")
    assert ended.status_code == 303 and ended.headers["Location"] == "/account/"
    assert not logged_in(phone) and logged_in(laptop)
    # Someone else's (or an unknown) session id is a 404, and changes nothing.
    assert post(laptop, f"/account/sessions/{'f' * 64}/end").status_code == 404
    assert post(laptop, "/account/sessions/not-an-id/end").status_code == 404

    phone = log_in(platform, IPHONE)
    out = post(laptop, "/account/sessions/end-all")
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert not logged_in(laptop) and not logged_in(phone)
    assert tenant_rows(platform, tenant.id) == []


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(
    platform, create_tenant
) -> None:
    create_tenant("acme")
    laptop = log_in(platform, FIREFOX, remember=True)
    phone = log_in(platform, IPHONE)
    token = csrf_token(laptop.get("/account/", headers=ACME))
    changed = laptop.post(
        "/account/",
        headers=ACME,
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "a-new-password-9",
            "confirm_password": "a-new-password-9",
        },
    )
    assert changed.status_code == 302
    assert logged_in(laptop) and not logged_in(phone)
    # "Remember me" carries over to the new session: its cookie still outlives the browser.
    assert laptop.get_cookie("session", domain="acme.example.com").expires is not None


def test_a_password_changed_any_other_way_ends_every_session(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    browser = log_in(platform)
    engine = platform.storage.engine_for(tenant.id)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(User.__table__).values(password_hash="pbkdf2:sha256:1000$x$y")
            )
    finally:
        platform.storage.release(engine)
    assert not logged_in(browser)


def test_sessions_end_when_their_lifetime_does(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    browser = log_in(platform)
    [row] = tenant_rows(platform, tenant.id)
    lifetime = row.expires_at - row.created_at
    assert lifetime == timedelta(hours=platform.settings.session_lifetime_hours)
    # Without "remember me" the cookie ends with the browser.
    assert browser.get_cookie("session", domain="acme.example.com").expires is None
    engine = platform.storage.engine_for(tenant.id)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(UserSession.__table__).values(expires_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        platform.storage.release(engine)
    assert not logged_in(browser)


def test_remember_me_makes_a_longer_session_and_a_lasting_cookie(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    browser = log_in(platform, remember=True)
    [row] = tenant_rows(platform, tenant.id)
    assert row.remember is True
    assert row.expires_at - row.created_at == timedelta(
        days=platform.settings.session_remember_days
    )
    assert browser.get_cookie("session", domain="acme.example.com").expires is not None
    assert "Keep me logged in" in Client(platform).get("/login", headers=ACME).get_data(True)


def test_last_seen_is_written_only_every_few_minutes(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    browser = log_in(platform)
    [row] = tenant_rows(platform, tenant.id)
    first_seen = row.last_seen_at
    browser.get("/notes/", headers=ACME).close()
    assert tenant_rows(platform, tenant.id)[0].last_seen_at == first_seen

    earlier = utcnow() - TOUCH_EVERY - timedelta(seconds=5)
    engine = platform.storage.engine_for(tenant.id)
    try:
        with engine.begin() as connection:
            connection.execute(update(UserSession.__table__).values(last_seen_at=earlier))
    finally:
        platform.storage.release(engine)
    response = browser.get("/notes/", headers=ACME)
    response.close()  # written once the response is sent, outside the request's transaction
    seen = tenant_rows(platform, tenant.id)[0].last_seen_at
    assert seen.replace(tzinfo=None) > earlier.replace(tzinfo=None)


def test_a_session_is_checked_with_one_query(platform, create_tenant) -> None:
    """The login is one point read per request (joined with the user), nothing more."""
    from sqlalchemy import event

    tenant = create_tenant("acme")
    browser = log_in(platform)
    browser.get("/account/", headers=ACME).close()  # app built, pages compiled
    app = platform.tenant_app_for("acme")
    statements: list[str] = []
    engine = app.services.engine

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        browser.get("/static/app.css", headers=ACME).close()
        browser.get("/account/sessions/x/end", headers=ACME).close()  # 405: no view runs
        statements.clear()
        response = browser.get("/members/", headers=ACME)
        response.close()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    session_reads = [s for s in statements if "user_sessions" in s]
    assert len(session_reads) == 1, statements
    assert "user_sessions.id =" in session_reads[0]
    assert tenant.id


# -- platform admins ---------------------------------------------------------------------


@pytest.fixture
def admin(platform) -> str:
    create_admin(platform, ADMIN, PASSWORD)
    return ADMIN


def admin_log_in(platform, agent: str = FIREFOX) -> Client:
    client = Client(platform)
    headers = {**ROOT, "User-Agent": agent}
    page = client.get("/admin/login", headers=headers)
    response = client.post(
        "/admin/login",
        headers=headers,
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 303
    return client


def admin_in(client: Client, agent: str = FIREFOX) -> bool:
    return client.get("/admin/", headers={**ROOT, "User-Agent": agent}).status_code == 200


def test_admin_logout_ends_the_session_for_every_copy(platform, admin) -> None:
    browser = admin_log_in(platform)
    stolen = copy_of(browser, platform, "platform_session", "example.com")
    assert admin_in(stolen)
    out = post(browser, "/admin/logout", headers={**ROOT, "User-Agent": FIREFOX}, page="/admin/")
    assert out.status_code == 303
    assert not admin_in(stolen) and not admin_in(browser)
    with Session(platform.engine) as session:
        assert session.execute(select(AdminSession)).first() is None


def test_admin_sessions_page_ends_one_or_all(platform, admin) -> None:
    laptop = admin_log_in(platform, FIREFOX)
    phone = admin_log_in(platform, IPHONE)
    headers = {**ROOT, "User-Agent": FIREFOX}
    page = laptop.get("/admin/account/", headers=headers).get_data(as_text=True)
    assert "Firefox on Linux" in page and "Mobile Safari on iOS (iPhone)" in page
    with Session(platform.engine) as session:
        phone_row = next(
            row
            for row in session.execute(select(AdminSession)).scalars()
            if "iPhone" in row.user_agent
        )
    ended = post(laptop, f"/admin/account/sessions/{phone_row.id}/end", headers, "/admin/account/")
    assert ended.status_code == 303
    assert not admin_in(phone, IPHONE) and admin_in(laptop)
    out = post(laptop, "/admin/account/sessions/end-all", headers, "/admin/account/")
    assert out.status_code == 303 and out.headers["Location"] == "/admin/login"
    assert not admin_in(laptop)


def test_an_unknown_admin_email_does_the_same_hash_work(platform, admin, monkeypatch) -> None:
    import hashlib

    from tests.test_workspace_throttle import CountingHash

    def attempt(email: str, address: str) -> int:
        client = Client(platform)
        environ = {"REMOTE_ADDR": address}
        page = client.get("/admin/login", headers=ROOT, environ_base=environ)
        return client.post(
            "/admin/login",
            headers=ROOT,
            environ_base=environ,
            data={"email": email, "password": "wrong-password", "csrf_token": csrf_token(page)},
        ).status_code

    assert attempt("nobody@platform.test", "192.0.2.1") == 401  # the stand-in hash is made
    counting = CountingHash()
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    assert attempt(ADMIN, "192.0.2.2") == 401
    admin_work = list(counting.runs)
    counting.runs.clear()
    assert attempt("nobody@platform.test", "192.0.2.3") == 401
    assert admin_work and counting.runs == admin_work


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_admin_logins_posted_any_way_meet_the_same_limits(platform, admin, how) -> None:
    import json

    client = Client(platform)
    for _ in range(5):
        page = client.get("/admin/login", headers=ROOT)
        data = {"email": ADMIN, "password": "wrong", "csrf_token": csrf_token(page)}
        assert client.post("/admin/login", headers=ROOT, data=data).status_code == 401
    page = client.get("/admin/login", headers=ROOT)
    token = csrf_token(page)
    if how == "json":
        response = client.post(
            "/admin/login",
            headers={**ROOT, "X-CSRFToken": token},
            data=json.dumps({"email": ADMIN, "password": PASSWORD}),
            content_type="application/json",
        )
    else:
        response = client.post(
            "/admin/login",
            headers=ROOT,
            data={"email": ADMIN, "password": PASSWORD, "csrf_token": token},
            content_type="multipart/form-data",
        )
    assert response.status_code == 429
