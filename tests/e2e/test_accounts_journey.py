"""Accounts and email in a real browser (issue 14): an owner invites, the message arrives
at a real SMTP server (aiosmtpd), the invitee opens its link, chooses a name and password
and lands in the workspace; then uses "Forgot password?" end to end.

The platform runs as in production: gunicorn, plus a job worker process that delivers
the mail (nothing is sent inside a request).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, Server, _free_port, screenshot, start_gunicorn
from tests.e2e.test_journeys import check_accessible
from tests.mail_support import Inbox, SmtpServer, links_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.server]

OWNER = ("olga@acme.test", "olga-password-1")
INVITEE = ("ivy@example.org", "ivy-password-1", "Ivy Invitee")
NEW_PASSWORD = "ivy-new-password-2"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> Iterator[Server]:
    """gunicorn and a job worker, sending mail to the test SMTP server."""
    instance = tmp_path_factory.mktemp("e2e-accounts")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{instance / 'platform.db'}",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_hex(32),
        "BASE_DOMAIN": "localhost",
        "PUBLIC_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "MAIL_URL": smtp.url,
        "MAIL_FROM": "no-reply@localhost",
        "JOBS_POLL_MS": "50",
        "ADMIN_REQUIRE_2FA": "0",
    }
    env.pop("FLASK_DEBUG", None)
    Server(port, env).flask("db", "upgrade")
    web = start_gunicorn(port, env, instance / "gunicorn.log")
    worker_log = (instance / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "tenants.wsgi",
            "jobs",
            "worker",
            "--threads",
            "2",
        ],
        env=env,
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    yield Server(port, env)
    for process in (worker, web):
        process.terminate()
    for process in (worker, web):
        process.wait(20)
    worker_log.close()


def test_invite_accept_and_forgot_password_in_the_browser(
    browser, mail_server: Server, smtp: SmtpServer
) -> None:
    inbox: Inbox = smtp.inbox
    owner_context = browser.new_context(viewport={"width": 1280, "height": 860})
    page: Page = owner_context.new_page()
    page.set_default_timeout(15_000)

    # The owner signs up, and confirms the address from the message.
    page.goto(mail_server.url(None, "/signup"))
    page.get_by_label("Workspace name").fill("Acme Corporation")
    page.get_by_label("Subdomain").fill("acme")
    page.get_by_label("Your name").fill("Olga Owner")
    page.get_by_label("Your email").fill(OWNER[0])
    page.get_by_label("Password", exact=True).fill(OWNER[1])
    page.get_by_label("Password again").fill(OWNER[1])
    page.get_by_role("button", name="Create workspace").click()
    expect(page).to_have_url(mail_server.url("acme", "/"))
    expect(page.locator(".banner")).to_contain_text("Confirm your email")
    [confirm] = links_in(inbox.wait_for(OWNER[0], timeout=60))
    page.goto(confirm)
    page.get_by_role("button", name=f"Confirm {OWNER[0]}").click()
    expect(page.locator("main")).to_contain_text(f"{OWNER[0]} is confirmed")

    # The owner invites; the message arrives; the invitee joins from its link.
    page.get_by_role("link", name="Members").click()
    page.get_by_role("link", name="Invite member").click()
    check_accessible(page)
    page.get_by_label("Email").fill(INVITEE[0])
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("main")).to_contain_text(f"An invitation to {INVITEE[0]} is on its way")
    expect(page.locator("#invitations")).to_contain_text(INVITEE[0])
    screenshot(page, "14-invitations")
    message = inbox.wait_for(INVITEE[0], timeout=60)
    assert "invited you to Acme Corporation" in str(message["Subject"])
    [invitation] = links_in(message)
    assert invitation.startswith(mail_server.url("acme", "/invitations/"))

    invitee_context = browser.new_context(viewport={"width": 390, "height": 844})
    invitee = invitee_context.new_page()
    invitee.set_default_timeout(15_000)
    invitee.goto(invitation)
    check_accessible(invitee)
    invitee.get_by_label("Your name").fill(INVITEE[2])
    invitee.get_by_label("Password", exact=True).fill(INVITEE[1])
    invitee.get_by_label("Repeat the password").fill(INVITEE[1])
    screenshot(invitee, "15-accept-invitation")
    invitee.get_by_role("button", name="Join the workspace").click()
    expect(invitee).to_have_url(mail_server.url("acme", "/"))
    expect(invitee.locator("main")).to_contain_text(f"Welcome, {INVITEE[2]}")

    # Forgot password, end to end: log out, ask for a link, choose a new password.
    log_out = invitee.get_by_role("button", name="Log out")
    if not log_out.is_visible():  # at phone width the navigation is behind the Menu button
        invitee.locator("label.menu-button").click()
    log_out.click()
    invitee.get_by_role("link", name="Forgot password?").click()
    check_accessible(invitee)
    invitee.get_by_label("Email").fill(INVITEE[0])
    invitee.get_by_role("button", name="Send me a link").click()
    expect(invitee.locator("main")).to_contain_text("a link to choose a new password is on its way")
    [reset] = links_in(inbox.wait_for(INVITEE[0], count=2, timeout=60))
    invitee.goto(reset)
    check_accessible(invitee)
    invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Save password").click()
    expect(invitee.locator("main")).to_contain_text("Your password is changed")
    invitee.get_by_label("Email").fill(INVITEE[0])
    invitee.get_by_label("Password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Log in").click()
    expect(invitee).to_have_url(mail_server.url("acme", "/"))
    expect(invitee.locator("main")).to_contain_text(f"Welcome, {INVITEE[2]}")

    # The link works once.
    invitee.goto(reset)
    expect(invitee.locator("main")).to_contain_text("already used")
    invitee_context.close()
    owner_context.close()
