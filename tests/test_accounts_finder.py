"""Finding one's workspaces (issue 14 item 5) and platform admins' password reset.

The root domain's Log in mails the list of workspaces an address is a member of, through
a real SMTP server, for 0, 1 and several workspaces, with the same page either way; the
platform keeps only keyed hashes of member addresses, maintained as members come and go.
"""

# ruff: noqa: F811 - the fixtures come from tests.mail_support and tests.jobs_support

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants.admins import create_admin
from tenants.keys import derive_directory_key
from tenants.registry.directory import tenants_of
from tenants.registry.models import AuditEntry, MemberDirectoryEntry
from tenants.testing import PASSWORD
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

ROOT = {"Host": "example.com"}


def ask(client: Client, email: str):
    page = client.get("/find-workspaces", headers=ROOT)
    return client.post(
        "/find-workspaces", headers=ROOT, data={"csrf_token": csrf_token(page), "email": email}
    )


def test_the_list_reaches_the_inbox_for_zero_one_and_several_workspaces(
    platform, create_tenant, mail_worker, inbox: Inbox
) -> None:
    create_tenant("acme", email="pat@example.org")
    create_tenant("globex", email="pat@example.org")
    create_tenant("initech", email="sam@example.org")
    answers = [
        ask(Client(platform), email)
        for email in ("PAT@example.org", "sam@example.org", "nobody@example.org")
    ]
    assert {answer.status_code for answer in answers} == {200}
    nonce = re.compile(r'nonce="[^"]*"')
    pages = [nonce.sub("", a.get_data(as_text=True)) for a in answers]
    assert pages[0].replace("pat@", "X@") == pages[2].replace("nobody@", "X@")

    several = inbox.wait_for("pat@example.org")
    assert links_in(several) == [
        "http://acme.example.com/login",
        "http://globex.example.com/login",
    ]
    one = inbox.wait_for("sam@example.org")
    assert links_in(one) == ["http://initech.example.com/login"]
    none = inbox.wait_for("nobody@example.org")
    assert "We found no workspace" in text_of(none)
    assert links_in(none) == ["http://example.com/signup"]


def test_the_directory_holds_keyed_hashes_kept_current(
    platform, create_tenant, mail_worker, inbox: Inbox
) -> None:
    create_tenant("acme")
    owner = Client(platform)
    login(owner, "acme.example.com", "owner@acme.test")
    add_member(owner, "ann@example.org")
    with Session(platform.engine) as session:
        hashes = session.execute(sa.select(MemberDirectoryEntry.email_hash)).scalars().all()
    assert len(hashes) == 2 and all(len(h) == 64 and "@" not in h for h in hashes)
    ask(Client(platform), "ann@example.org")
    assert links_in(inbox.wait_for("ann@example.org")) == ["http://acme.example.com/login"]
    # Removed: the next list has no acme.
    ann = member_id(platform, platform.registry.get("acme").id, "ann@example.org")
    token = csrf_token(owner.get("/members/", headers={"Host": "acme.example.com"}))
    owner.post(
        f"/members/{ann}/remove", headers={"Host": "acme.example.com"}, data={"csrf_token": token}
    )
    ask(Client(platform), "ann@example.org")
    assert "We found no workspace" in text_of(inbox.wait_for("ann@example.org", count=2))


def test_the_finder_is_throttled_and_refuses_bad_input(platform, jobs) -> None:
    client = Client(platform)
    assert ask(client, "not an email").status_code == 422
    for _ in range(5):
        assert ask(client, "pat@example.org").status_code == 200
    refused = ask(client, "pat@example.org")
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_a_platform_admin_resets_the_password_by_mail(
    platform, client: Client, mail_worker, inbox: Inbox
) -> None:
    create_admin(platform, "root@example.com", PASSWORD)
    login_page = client.get("/admin/login", headers=ROOT).get_data(as_text=True)
    assert "Forgot password?" in login_page
    page = client.get("/admin/forgot", headers=ROOT)
    for email in ("root@example.com", "stranger@example.com"):
        answer = client.post(
            "/admin/forgot", headers=ROOT, data={"csrf_token": csrf_token(page), "email": email}
        )
        assert answer.status_code == 303
    [url] = links_in(inbox.wait_for("root@example.com"))
    assert url.startswith("http://example.com/admin/reset/")
    form = open_link(client, url)
    assert form.status_code == 200
    saved = open_link(
        client,
        url,
        {
            "csrf_token": csrf_token(form),
            "password": "a brand new admin pass",
            "confirm_password": "a brand new admin pass",
        },
    )
    assert saved.status_code == 303
    assert open_link(Client(platform), url).status_code == 410  # used
    with Session(platform.engine) as session:
        actions = session.execute(sa.select(AuditEntry.action)).scalars().all()
    assert "admin.password_reset" in actions
    assert inbox.to("stranger@example.com") == []
    # A tenant's key opens nothing here: a forged link is refused.
    assert open_link(Client(platform), url[:-4] + "abcd").status_code == 400


def test_directory_rebuild_refills_the_finder_from_each_tenants_members(
    platform, create_tenant
) -> None:
    create_tenant("acme", email="pat@example.org")
    create_tenant("globex", email="sam@example.org")
    with Session(platform.engine) as session, session.begin():
        session.execute(sa.delete(MemberDirectoryEntry))
    result = platform.console.test_cli_runner().invoke(args=["tenants", "directory-rebuild"])
    assert result.exit_code == 0, result.output
    assert "Directory rebuilt for 2 tenant(s), 2 address(es)." in result.output
    with Session(platform.engine) as session:
        key = derive_directory_key(platform.settings.secret_key)
        assert [t.slug for t in tenants_of(session, key, "pat@example.org")] == ["acme"]
        assert [t.slug for t in tenants_of(session, key, "sam@example.org")] == ["globex"]
