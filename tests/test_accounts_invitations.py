"""Invitations (issue 14 item 2): an owner invites an email; the message reaches a real
SMTP server; the invitee opens the link, chooses a name and password and lands logged in.
Every way a link can be unusable has its own clear page; links are bound to their tenant.
"""

# The fixtures come from tests.mail_support and tests.jobs_support (imported below).
# ruff: noqa: F811

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants.accounts import invitations
from tenants.accounts.models import PENDING_EMAIL_INDEX, Invitation, utcnow
from tenants.keys import derive_directory_key
from tenants.registry.directory import tenants_of
from tests.accounts_support import open_link, user_row, verify_all
from tests.helpers import csrf_token, login
from tests.jobs_support import job_settings, jobs  # noqa: F401 - fixtures
from tests.mail_support import (  # noqa: F401 - fixtures
    Inbox,
    html_of,
    inbox,
    links_in,
    mail_overrides,
    mail_worker,
    queue_kind,
    smtp_server,
    tenants_settings_overrides,
    text_of,
)

NEW_PASSWORD = "a fine new password"


def invite(owner, email: str, role: str = "member"):
    page = owner.get("/members/new")
    return owner.post(
        "/members/new", data={"csrf_token": csrf_token(page), "email": email, "role": role}
    )


def accept(client: Client, url: str, name: str = "Ann Example", password: str = NEW_PASSWORD):
    page = open_link(client, url)
    assert page.status_code == 200, page.get_data(as_text=True)[:400]
    return open_link(
        client,
        url,
        {
            "csrf_token": csrf_token(page),
            "name": name,
            "password": password,
            "confirm_password": password,
        },
    )


def test_an_invitation_reaches_the_inbox_and_the_invitee_lands_logged_in(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    response = invite(owner, "Ann@Example.org")
    assert response.status_code == 303
    members = owner.get("/members/").get_data(as_text=True)
    assert "An invitation to Ann@Example.org is on its way." in members
    assert "Pending invitations" in members and "Ann@Example.org" in members

    message = inbox.wait_for("ann@example.org")
    assert "invited you to Acme" in str(message["Subject"])
    assert message["From"].addresses[0].display_name == "Acme"
    [url] = links_in(message)
    assert url.startswith("http://acme.example.com/invitations/")
    assert url in html_of(message)

    invitee = Client(platform)
    joined = accept(invitee, url)
    assert joined.status_code == 303
    home = open_link(invitee, "http://acme.example.com/")
    assert "Welcome, Ann Example." in home.get_data(as_text=True)
    ann = user_row(platform, "acme", "ann@example.org")
    assert ann is not None and ann.role == "member" and ann.email_verified_at is not None
    # Listed for the owner, no longer pending; the finder's directory knows the address.
    members = owner.get("/members/").get_data(as_text=True)
    assert (
        '<td data-label="Name">Ann Example</td>' in members and "Pending invitations" not in members
    )
    with Session(platform.engine) as session:
        key = derive_directory_key(platform.settings.secret_key)
        assert [t.slug for t in tenants_of(session, key, "ANN@example.org")] == ["acme"]
    # The password they chose works; the link does not work twice.
    assert (
        login(Client(platform), "acme.example.com", "ann@example.org", NEW_PASSWORD).status_code
        == 302
    )
    again = open_link(Client(platform), url)
    assert again.status_code == 410
    assert "This invitation was already accepted" in again.get_data(as_text=True)


def test_an_unverified_owner_cannot_invite(platform, tenant_client) -> None:
    owner = tenant_client("acme")
    page = owner.get("/members/new")
    assert page.status_code == 403
    assert "Verify your email first" in page.get_data(as_text=True)


def test_inviting_a_member_or_someone_invited_is_409_beside_the_field(
    platform, tenant_client, jobs
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    taken = invite(owner, "OWNER@acme.test")
    assert taken.status_code == 409
    assert "is already a member of this workspace" in taken.get_data(as_text=True)
    assert invite(owner, "bob@example.org").status_code == 303
    twice = invite(owner, "BOB@example.org")
    assert twice.status_code == 409
    assert "was already invited; resend or revoke" in twice.get_data(as_text=True)
    bad = invite(owner, "not an email", role="admin")
    assert bad.status_code == 422


def test_the_database_keeps_one_pending_invitation_per_address(platform, create_tenant) -> None:
    """Whatever the case of the address; accepted and revoked ones do not count."""
    create_tenant("acme")
    _add_invitation(platform, "acme", "ann@example.org")
    with pytest.raises(sa.exc.IntegrityError) as refused:
        _add_invitation(platform, "acme", "ANN@Example.org")
    assert PENDING_EMAIL_INDEX in str(refused.value.orig)
    # Ended invitations of an address leave room for a new pending one, and only one.
    _add_invitation(platform, "acme", "bob@example.org", accepted_at=utcnow())
    _add_invitation(platform, "acme", "Bob@example.org", revoked_at=utcnow())
    _add_invitation(platform, "acme", "BOB@example.org")
    with pytest.raises(sa.exc.IntegrityError):
        _add_invitation(platform, "acme", "bob@example.org")
    assert sorted(_pending_emails(platform, "acme")) == ["BOB@example.org", "ann@example.org"]


def test_two_invitations_racing_for_one_address_make_one_and_a_409(
    platform, tenant_client, jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    assert invite(owner, "bob@example.org").status_code == 303
    # The second request checked before the first one committed: its check found nothing.
    monkeypatch.setattr(invitations, "_pending_for", lambda email: None)
    second = invite(owner, "BOB@example.org")
    assert second.status_code == 409
    assert "BOB@example.org was already invited; resend or revoke" in second.get_data(as_text=True)
    assert _pending_emails(platform, "acme") == ["bob@example.org"]
    # The request after it is served as usual.
    assert invite(owner, "carol@example.org").status_code == 303


def test_resend_replaces_the_link_and_revoke_withdraws_it(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    invite(owner, "bob@example.org")
    [first] = links_in(inbox.wait_for("bob@example.org"))
    [invitation_id] = _invitation_ids(platform, "acme")
    token = csrf_token(owner.get("/members/"))
    resent = owner.post(f"/members/invitations/{invitation_id}/resend", data={"csrf_token": token})
    assert resent.status_code == 303
    [second] = links_in(inbox.wait_for("bob@example.org", count=2))
    assert first != second
    old = open_link(Client(platform), first)
    assert old.status_code == 410 and "was replaced" in old.get_data(as_text=True)
    assert open_link(Client(platform), second).status_code == 200
    revoked = owner.post(f"/members/invitations/{invitation_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    gone = open_link(Client(platform), second)
    assert gone.status_code == 410 and "was withdrawn" in gone.get_data(as_text=True)
    # Nothing pending is left to resend.
    again = owner.post(f"/members/invitations/{invitation_id}/resend", data={"csrf_token": token})
    assert again.status_code == 409


def test_an_expired_invitation_says_so_and_the_owner_can_invite_again(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    invite(owner, "late@example.org")
    [url] = links_in(inbox.wait_for("late@example.org"))
    _age_invitations(platform, "acme", timedelta(seconds=1))
    expired = open_link(Client(platform), url)
    assert expired.status_code == 410
    assert "This invitation has expired" in expired.get_data(as_text=True)
    assert "expired" in owner.get("/members/").get_data(as_text=True)
    # Inviting the address again renews that invitation (no second row, a fresh link).
    assert invite(owner, "late@example.org").status_code == 303
    [fresh] = links_in(inbox.wait_for("late@example.org", count=2))
    assert accept(Client(platform), fresh).status_code == 303
    assert len(_invitation_ids(platform, "acme")) == 1


def test_an_invitation_of_acme_never_works_on_globex(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    tenant_client("globex")
    verify_all(platform, "acme")
    invite(owner, "ann@example.org")
    [url] = links_in(inbox.wait_for("ann@example.org"))
    replayed = url.replace("acme.example.com", "globex.example.com")
    refused = open_link(Client(platform), replayed)
    assert refused.status_code == 400
    assert "This invitation link is not valid" in refused.get_data(as_text=True)
    assert user_row(platform, "globex", "ann@example.org") is None


def test_forged_links_count_against_the_throttle(platform, tenant_client) -> None:
    tenant_client("acme")
    browser = Client(platform)
    for attempt in range(5):
        forged = open_link(browser, f"http://acme.example.com/invitations/forged.{attempt}")
        assert forged.status_code == 400
    throttled = open_link(browser, "http://acme.example.com/invitations/forged.6")
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers


def test_the_accept_form_refuses_bad_input_beside_the_fields(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    invite(owner, "ann@example.org")
    [url] = links_in(inbox.wait_for("ann@example.org"))
    browser = Client(platform)
    page = open_link(browser, url)
    refused = open_link(
        browser,
        url,
        {"csrf_token": csrf_token(page), "name": "", "password": "short", "confirm_password": "x"},
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Tell the team your name." in text and "Use 8 to" in text
    common = open_link(
        browser,
        url,
        {
            "csrf_token": csrf_token(page),
            "name": "Ann",
            "password": "password123",
            "confirm_password": "password123",
        },
    )
    assert common.status_code == 422
    assert "one of the most common passwords" in common.get_data(as_text=True)
    assert user_row(platform, "acme", "ann@example.org") is None


def _invitation_ids(platform, slug: str) -> list[int]:
    engine = platform.storage.engine_for(platform.registry.get(slug).id)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(Invitation.id)).scalars())
    finally:
        platform.storage.release(engine)


def _age_invitations(platform, slug: str, by: timedelta) -> None:
    engine = platform.storage.engine_for(platform.registry.get(slug).id)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        platform.storage.release(engine)


def _add_invitation(platform, slug: str, email: str, **ended) -> None:
    engine = platform.storage.engine_for(platform.registry.get(slug).id)
    try:
        with Session(engine) as session:
            session.add(
                Invitation(
                    email=email,
                    nonce=secrets.token_hex(16),
                    expires_at=utcnow() + timedelta(days=7),
                    **ended,
                )
            )
            session.commit()
    finally:
        platform.storage.release(engine)


def _pending_emails(platform, slug: str) -> list[str]:
    engine = platform.storage.engine_for(platform.registry.get(slug).id)
    try:
        with engine.connect() as connection:
            pending = sa.select(Invitation.email).where(
                Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
            )
            return list(connection.execute(pending).scalars())
    finally:
        platform.storage.release(engine)
