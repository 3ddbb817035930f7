"""Email verification (issue 14 items 4 and 6): the owner's address at signup and every
changed address is confirmed by a link that reaches a real SMTP server; an unverified
owner sees a banner and cannot invite; links are bound to their tenant and address."""

# ruff: noqa: F811 - the fixtures come from tests.mail_support and tests.jobs_support

from __future__ import annotations

from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants.keys import derive_directory_key
from tenants.registry.directory import tenants_of
from tenants.testing import PASSWORD
from tests.accounts_support import confirm_link, open_link, user_row
from tests.helpers import csrf_token, follow_handoff, login
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
from tests.test_signup import signup

ACME = {"Host": "acme.example.com"}
BANNER = "Confirm your email, <strong>"


def finder(platform, email: str) -> list[str]:
    with Session(platform.engine) as session:
        key = derive_directory_key(platform.settings.secret_key)
        return [tenant.slug for tenant in tenants_of(session, key, email)]


def test_the_owner_confirms_the_address_from_signup_and_may_then_invite(
    platform, client: Client, mail_worker, inbox: Inbox
) -> None:
    follow_handoff(client, signup(client, owner_name="Fran"))
    home = client.get("/", headers=ACME).get_data(as_text=True)
    assert BANNER in home and "Until then you cannot invite others." in home
    assert client.get("/members/new", headers=ACME).status_code == 403

    message = inbox.wait_for("founder@acme.test")
    assert str(message["Subject"]) == "Confirm your email for Acme Corporation"
    [url] = links_in(message)
    # Opening the link (as a mail scanner does) only asks; it confirms nothing.
    asked = open_link(client, url)
    assert asked.status_code == 200 and "Confirm founder@acme.test" in asked.get_data(as_text=True)
    assert BANNER in client.get("/", headers=ACME).get_data(as_text=True)
    assert open_link(client, url, data={}).status_code == 400  # a POST without its CSRF token
    assert BANNER in client.get("/", headers=ACME).get_data(as_text=True)
    confirmed = confirm_link(client, url)
    assert confirmed.status_code == 303
    account = client.get("/account/", headers=ACME).get_data(as_text=True)
    assert "founder@acme.test is confirmed" in account and BANNER not in account
    assert client.get("/members/new", headers=ACME).status_code == 200
    assert finder(platform, "Founder@Acme.test") == ["acme"]
    # Following it again changes nothing and says so kindly.
    assert confirm_link(client, url).status_code == 303


def test_the_banner_sends_the_link_again(platform, tenant_client, mail_worker, inbox) -> None:
    owner = tenant_client("acme")
    page = owner.get("/")
    sent = owner.post("/account/verify/send", data={"csrf_token": csrf_token(page)})
    assert sent.status_code == 303
    assert "A confirmation link is on its way to owner@acme.test" in owner.get(
        "/account/"
    ).get_data(as_text=True)
    [url] = links_in(inbox.wait_for("owner@acme.test"))
    assert confirm_link(Client(platform), url).status_code == 303
    assert user_row(platform, "acme", "owner@acme.test").email_verified_at is not None


def test_changing_the_email_waits_for_the_new_address_link(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    page = owner.get("/account/")
    data = {"csrf_token": csrf_token(page), "new_email": "boss@acme.test"}
    wrong = owner.post("/account/email", data={**data, "email_password": "not it"})
    assert wrong.status_code == 422 and "That is not your password." in wrong.get_data(as_text=True)
    asked = owner.post("/account/email", data={**data, "email_password": PASSWORD})
    assert asked.status_code == 303, asked.get_data(as_text=True)[:500]
    account = owner.get("/account/").get_data(as_text=True)
    assert "until then you keep owner@acme.test" in account
    notice = inbox.wait_for("owner@acme.test")
    assert "is changing" in str(notice["Subject"]) and "boss@acme.test" in text_of(notice)
    [url] = links_in(inbox.wait_for("boss@acme.test"))
    assert confirm_link(owner, url).status_code == 303
    assert "Your email is now boss@acme.test" in owner.get("/account/").get_data(as_text=True)
    again = login(Client(platform), "acme.example.com", "boss@acme.test", PASSWORD)
    assert again.status_code == 302
    assert finder(platform, "boss@acme.test") == ["acme"]
    assert finder(platform, "owner@acme.test") == []
    # Following it again only confirms the address it is now.
    assert confirm_link(Client(platform), url).status_code == 303


def test_a_link_to_an_address_asked_for_earlier_is_out_of_date(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")

    def ask_for(address: str) -> None:
        owner.post(
            "/account/email",
            data={
                "csrf_token": csrf_token(owner.get("/account/")),
                "new_email": address,
                "email_password": PASSWORD,
            },
        )

    ask_for("boss@acme.test")
    [first] = links_in(inbox.wait_for("boss@acme.test"))
    ask_for("chief@acme.test")
    stale = open_link(Client(platform), first)
    assert stale.status_code == 410 and "out of date" in stale.get_data(as_text=True)
    [second] = links_in(inbox.wait_for("chief@acme.test"))
    assert confirm_link(Client(platform), second).status_code == 303
    assert user_row(platform, "acme", "chief@acme.test") is not None


def test_an_address_of_another_member_is_refused(platform, tenant_client, jobs) -> None:
    owner = tenant_client("acme")
    member = tenant_client("acme", role="member")
    taken = member.post(
        "/account/email",
        data={
            "csrf_token": csrf_token(member.get("/account/")),
            "new_email": "OWNER@acme.test",
            "email_password": PASSWORD,
        },
    )
    assert taken.status_code == 409
    assert owner.get("/").status_code == 200


def test_a_confirmation_link_of_acme_is_refused_on_globex(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    tenant_client("globex")
    owner.post("/account/verify/send", data={"csrf_token": csrf_token(owner.get("/"))})
    [url] = links_in(inbox.wait_for("owner@acme.test"))
    refused = open_link(Client(platform), url.replace("acme.example.com", "globex.example.com"))
    assert refused.status_code == 400
    assert "This confirmation link is not valid" in refused.get_data(as_text=True)
    assert user_row(platform, "globex", "owner@globex.test").email_verified_at is None
