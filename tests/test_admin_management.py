"""Managing platform admins: `tenants admin list|passwd|remove` and the console's Admins page.

Every change is audited; a password change or a removal ends the admin's sessions; the
last admin cannot be removed (nobody could log in to add another).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants.admins import InvalidAdmin, create_admin, remove_admin, set_admin_password
from tenants.registry.models import AdminSession, AuditEntry, PlatformAdmin
from tests.conftest import PASSWORD
from tests.helpers import csrf_token
from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

OTHER = "second@platform.test"
NEW_PASSWORD = "a brand new password"


def admin_audit(platform) -> list[tuple[str, str, str]]:
    with Session(platform.engine) as session:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.action.startswith("admin.")).order_by(AuditEntry.id)
        ).scalars()
        return [(row.actor, row.action, row.detail["email"]) for row in rows]


def sessions_of(platform, email: str) -> int:
    with Session(platform.engine) as session:
        admin = session.execute(
            select(PlatformAdmin).where(PlatformAdmin.email == email)
        ).scalar_one()
        return len(
            session.execute(select(AdminSession).where(AdminSession.admin_id == admin.id)).all()
        )


def admin_ids(platform) -> dict[str, int]:
    with Session(platform.engine) as session:
        return {row.email: row.id for row in session.execute(select(PlatformAdmin)).scalars()}


@pytest.fixture
def make_client(platform):
    """Another browser (its own cookies)."""
    return lambda: Client(platform)


@pytest.fixture
def cli(platform):
    runner = platform.console.test_cli_runner()
    return lambda *args, **kwargs: runner.invoke(args=list(args), **kwargs)


def test_cli_list_passwd_remove(cli, platform) -> None:
    assert "No admins yet" in cli("admin", "list").output
    assert cli("admin", "create", ADMIN_EMAIL, "--password", PASSWORD).exit_code == 0
    assert cli("admin", "create", OTHER, "--password", PASSWORD).exit_code == 0
    listing = cli("admin", "list").output
    assert ADMIN_EMAIL in listing and OTHER in listing

    changed = cli("admin", "passwd", OTHER.upper(), "--password", NEW_PASSWORD)
    assert changed.exit_code == 0, changed.output
    # Asked for (twice) when not given on the command line.
    prompted = cli("admin", "passwd", OTHER, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output

    short = cli("admin", "passwd", OTHER, "--password", "short")
    assert short.exit_code == 1 and short.output.strip() == ("Error: Use at least 8 characters.")
    unknown = cli("admin", "passwd", "nobody@x.test", "--password", NEW_PASSWORD)
    assert unknown.exit_code == 1 and "There is no admin “nobody@x.test”" in unknown.output

    unconfirmed = cli("admin", "remove", OTHER)
    assert unconfirmed.exit_code == 1 and "--yes" in unconfirmed.output
    assert OTHER in cli("admin", "list").output
    removed = cli("admin", "remove", OTHER, "--yes")
    assert removed.exit_code == 0 and f"Removed admin {OTHER}." in removed.output
    last = cli("admin", "remove", ADMIN_EMAIL, "--yes")
    assert last.exit_code == 1
    assert "only admin; add another admin before removing this one" in last.output
    assert OTHER not in cli("admin", "list").output and ADMIN_EMAIL in cli("admin", "list").output

    assert admin_audit(platform) == [
        ("cli", "admin.create", ADMIN_EMAIL),
        ("cli", "admin.create", OTHER),
        ("cli", "admin.password", OTHER),
        ("cli", "admin.password", OTHER),
        ("cli", "admin.remove", OTHER),
    ]


def test_a_new_password_works_and_ends_the_sessions(platform, make_client) -> None:
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    browser = make_client()
    assert log_in_admin(browser).status_code == 303
    assert sessions_of(platform, ADMIN_EMAIL) == 1
    set_admin_password(platform, ADMIN_EMAIL, NEW_PASSWORD)
    assert sessions_of(platform, ADMIN_EMAIL) == 0
    assert browser.get("/admin/", headers=HOST).status_code == 302  # logged out
    assert log_in_admin(browser).status_code != 303  # the old password no longer works
    assert log_in_admin(browser, password=NEW_PASSWORD).status_code == 303


def test_the_last_admin_stays(platform) -> None:
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    with pytest.raises(InvalidAdmin, match="only admin"):
        remove_admin(platform, ADMIN_EMAIL)
    assert admin_ids(platform).keys() == {ADMIN_EMAIL}


@pytest.fixture
def console(platform, client):
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    create_admin(platform, OTHER, PASSWORD)
    assert log_in_admin(client).status_code == 303
    return client


def test_console_adds_an_admin(console, platform) -> None:
    page = console.get("/admin/admins/", headers=HOST)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert ADMIN_EMAIL in body and OTHER in body and 'href="/admin/admins/"' in body
    token = csrf_token(page)
    added = console.post(
        "/admin/admins/",
        headers=HOST,
        data={"csrf_token": token, "email": "third@platform.test", "password": NEW_PASSWORD},
    )
    assert added.status_code == 303
    assert "third@platform.test" in admin_ids(platform)
    again = console.post(
        "/admin/admins/",
        headers=HOST,
        data={"csrf_token": token, "email": "THIRD@platform.test", "password": NEW_PASSWORD},
    )
    assert again.status_code == 409 and "exists already" in again.get_data(as_text=True)
    short = console.post(
        "/admin/admins/",
        headers=HOST,
        data={"csrf_token": token, "email": "fourth@platform.test", "password": "short"},
    )
    assert short.status_code == 422 and "fourth@platform.test" not in admin_ids(platform)
    history = console.get("/admin/admins/", headers=HOST).get_data(as_text=True)
    assert "added" in history and "third@platform.test" in history
    assert admin_audit(platform)[-1] == (ADMIN_EMAIL, "admin.create", "third@platform.test")


def test_console_changes_a_password(console, platform, make_client) -> None:
    other_browser = make_client()
    assert log_in_admin(other_browser, email=OTHER).status_code == 303
    other_id = admin_ids(platform)[OTHER]
    form = console.get(f"/admin/admins/{other_id}/password", headers=HOST)
    assert form.status_code == 200
    token = csrf_token(form)
    differ = console.post(
        f"/admin/admins/{other_id}/password",
        headers=HOST,
        data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": "something else"},
    )
    assert differ.status_code == 422 and "The two passwords differ" in differ.get_data(as_text=True)
    done = console.post(
        f"/admin/admins/{other_id}/password",
        headers=HOST,
        data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 303
    assert other_browser.get("/admin/", headers=HOST).status_code == 302
    assert log_in_admin(make_client(), email=OTHER, password=NEW_PASSWORD).status_code == 303
    assert admin_audit(platform)[-1] == (ADMIN_EMAIL, "admin.password", OTHER)

    # One's own: the other sessions end, this one stays.
    my_id = admin_ids(platform)[ADMIN_EMAIL]
    second_device = make_client()
    assert log_in_admin(second_device).status_code == 303
    mine = console.post(
        f"/admin/admins/{my_id}/password",
        headers=HOST,
        data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert mine.status_code == 303
    assert console.get("/admin/", headers=HOST).status_code == 200
    assert second_device.get("/admin/", headers=HOST).status_code == 302


def test_console_removal_asks_first(console, platform) -> None:
    other_id = admin_ids(platform)[OTHER]
    confirm = console.get(f"/admin/admins/{other_id}/remove", headers=HOST)
    assert confirm.status_code == 200
    body = confirm.get_data(as_text=True)
    assert f"{OTHER}</span>?" in body and "Remove admin" in body and "Cancel" in body
    assert OTHER in admin_ids(platform)  # looking at the question removes no one
    token = csrf_token(confirm)
    assert console.post(f"/admin/admins/{other_id}/remove", headers=HOST).status_code == 400
    removed = console.post(
        f"/admin/admins/{other_id}/remove", headers=HOST, data={"csrf_token": token}
    )
    assert removed.status_code == 303 and OTHER not in admin_ids(platform)
    assert admin_audit(platform)[-1] == (ADMIN_EMAIL, "admin.remove", OTHER)
    gone = console.get(f"/admin/admins/{other_id}/remove", headers=HOST)
    assert gone.status_code == 404

    # Now the only admin: no Remove button, and the action itself refuses.
    my_id = admin_ids(platform)[ADMIN_EMAIL]
    page = console.get("/admin/admins/", headers=HOST).get_data(as_text=True)
    assert "Remove…" not in page and "The only admin cannot be removed" in page
    last = console.post(f"/admin/admins/{my_id}/remove", headers=HOST, data={"csrf_token": token})
    assert last.status_code == 409 and "only admin" in last.get_data(as_text=True)
    assert ADMIN_EMAIL in admin_ids(platform)


def test_removing_oneself_logs_out(console, platform) -> None:
    my_id = admin_ids(platform)[ADMIN_EMAIL]
    token = csrf_token(console.get(f"/admin/admins/{my_id}/remove", headers=HOST))
    out = console.post(f"/admin/admins/{my_id}/remove", headers=HOST, data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"].endswith("/admin/login")
    assert console.get("/admin/", headers=HOST).status_code == 302
    assert admin_ids(platform).keys() == {OTHER}


def test_the_pages_need_an_admin(platform, client) -> None:
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    for path in ("/admin/admins/", "/admin/admins/1/password", "/admin/admins/1/remove"):
        assert client.get(path, headers=HOST).status_code == 302, path
