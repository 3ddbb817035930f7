"""Password reset (issue 14 item 3): "Forgot password?" mails a single-use link through a
real SMTP server; the same answer for unknown addresses; throttled; the new password ends
every session; a link of acme never works on globex; owners send members a link."""

# ruff: noqa: F811 - the fixtures come from tests.mail_support and tests.jobs_support

from __future__ import annotations

import re
import time

import pytest
from werkzeug.test import Client

from tests.accounts_support import open_link
from tests.helpers import csrf_token, login
from tests.jobs_support import job_settings, jobs  # noqa: F401
from tests.mail_support import (  # noqa: F401
    Inbox,
    inbox,
    links_in,
    mail_overrides,
    mail_worker,
    queue_kind,
    smtp_server,
    tenants_settings_overrides,
    text_of,
)
from tests.test_workspace_members import add_member, member_id

ACME = "acme.example.com"
NEW_PASSWORD = "correct horse battery"


def forgot(client: Client, email: str, host: str = ACME):
    page = client.get("/login/forgot", headers={"Host": host})
    return client.post(
        "/login/forgot",
        headers={"Host": host},
        data={"csrf_token": csrf_token(page), "email": email},
    )


def choose(client: Client, url: str, password: str = NEW_PASSWORD):
    page = open_link(client, url)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return open_link(
        client,
        url,
        {"csrf_token": csrf_token(page), "password": password, "confirm_password": password},
    )


def test_a_member_resets_the_password_and_every_session_ends(
    platform, create_tenant, mail_worker, inbox: Inbox
) -> None:
    create_tenant("acme")
    elsewhere = Client(platform)
    assert login(elsewhere, ACME, "owner@acme.test").status_code == 302
    login_page = Client(platform).get("/login", headers={"Host": ACME}).get_data(as_text=True)
    assert "Forgot password?" in login_page

    browser = Client(platform)
    answer = forgot(browser, "Owner@Acme.test")
    assert answer.status_code == 303
    notice = browser.get("/login", headers={"Host": ACME}).get_data(as_text=True)
    assert "If owner@acme.test has an account here, a link" in notice

    message = inbox.wait_for("owner@acme.test")
    assert "Choose a new password for Acme" == str(message["Subject"])
    [url] = links_in(message)
    assert url.startswith("http://acme.example.com/login/reset/")
    assert choose(browser, url).status_code == 303
    # The other device is logged out; the old password is gone; the new one works.
    assert elsewhere.get("/notes/", headers={"Host": ACME}).status_code == 302
    assert login(Client(platform), ACME, "owner@acme.test").status_code == 401
    assert login(Client(platform), ACME, "owner@acme.test", NEW_PASSWORD).status_code == 302
    # Single use: the password changed, so the link is spent.
    spent = open_link(Client(platform), url)
    assert spent.status_code == 410
    assert "already used" in spent.get_data(as_text=True)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(platform, create_tenant, jobs) -> None:
    create_tenant("acme")
    known, unknown = Client(platform), Client(platform)
    a = forgot(known, "owner@acme.test")
    b = forgot(unknown, "nobody@acme.test")
    assert (a.status_code, a.headers["Location"]) == (b.status_code, b.headers["Location"])
    text_a = known.get("/login", headers={"Host": ACME}).get_data(as_text=True)
    text_b = unknown.get("/login", headers={"Host": ACME}).get_data(as_text=True)
    notice = re.compile(r'<p class="flash">(.*?)</p>', re.S)
    assert [m.replace("owner@", "X@") for m in notice.findall(text_a)] == [
        m.replace("nobody@", "X@") for m in notice.findall(text_b)
    ]
    assert "a link to choose a new password is on its way" in text_b
    # Both only queued the same job: the lookup happens in the worker, not the request.
    queued = jobs.store.search(names=["accounts.send_password_reset"], limit=10)[0]
    assert sorted(row.args["email"] for row in queued) == ["nobody@acme.test", "owner@acme.test"]


def test_the_worker_mails_nothing_for_an_unknown_address(
    platform, create_tenant, mail_worker, inbox: Inbox
) -> None:
    create_tenant("acme")
    forgot(Client(platform), "nobody@acme.test")
    forgot(Client(platform), "owner@acme.test")
    inbox.wait_for("owner@acme.test")
    assert inbox.to("nobody@acme.test") == []


def test_reset_requests_are_throttled(platform, create_tenant, jobs) -> None:
    create_tenant("acme")
    browser = Client(platform)
    for _ in range(5):
        assert forgot(browser, "owner@acme.test").status_code == 303
    refused = forgot(browser, "owner@acme.test")
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_expired_forged_and_cross_tenant_links_get_clear_pages(
    platform, create_tenant, mail_worker, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tenant("acme")
    create_tenant("globex")
    forgot(Client(platform), "owner@acme.test")
    [url] = links_in(inbox.wait_for("owner@acme.test"))
    replayed = open_link(Client(platform), url.replace("acme.example.com", "globex.example.com"))
    assert replayed.status_code == 400
    assert "This password reset link is not valid" in replayed.get_data(as_text=True)
    forged = open_link(Client(platform), url[:-3] + "abc")
    assert forged.status_code == 400
    # An hour and a minute later the link has expired.
    real_time = time.time
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real_time() + 61 * 60)
    expired = open_link(Client(platform), url)
    assert expired.status_code == 410
    assert "has expired" in expired.get_data(as_text=True)


def test_an_owner_sends_a_member_a_reset_link(
    platform, create_tenant, mail_worker, inbox: Inbox
) -> None:
    create_tenant("acme")
    owner = Client(platform)
    login(owner, ACME, "owner@acme.test")
    add_member(owner, "ann@acme.test")
    members = owner.get("/members/", headers={"Host": ACME})
    ann_id = member_id(platform, platform.registry.get("acme").id, "ann@acme.test")
    sent = owner.post(
        f"/members/{ann_id}/send-reset",
        headers={"Host": ACME},
        data={"csrf_token": csrf_token(members)},
    )
    assert sent.status_code == 303
    [url] = links_in(inbox.wait_for("ann@acme.test"))
    assert choose(Client(platform), url).status_code == 303
    assert login(Client(platform), ACME, "ann@acme.test", NEW_PASSWORD).status_code == 302


def test_members_cannot_send_reset_links(platform, tenant_client) -> None:
    member = tenant_client("acme", role="member")
    token = csrf_token(member.get("/members/"))
    assert member.post("/members/1/send-reset", data={"csrf_token": token}).status_code == 403


def test_a_workspace_reset_link_opens_nothing_in_the_admin_console(
    platform, create_tenant, mail_worker, inbox: Inbox
) -> None:
    create_tenant("acme")
    forgot(Client(platform), "owner@acme.test")
    [url] = links_in(inbox.wait_for("owner@acme.test"))
    token = url.rsplit("/", 1)[1]
    refused = Client(platform).get(f"/admin/reset/{token}", headers={"Host": "example.com"})
    assert refused.status_code == 400
    assert "This reset link is not valid" in refused.get_data(as_text=True)
