"""A custom domain disabled after its grace period: each owner of its tenant is told by mail.

Real parts: the test DNS server (the record is published, then removed), the platform's
job worker on the embedded queue, and an SMTP server that receives the messages.
"""

# ruff: noqa: F811 - the fixtures come from tests.mail_support and tests.jobs_support
from __future__ import annotations

from datetime import timedelta

import pytest
from werkzeug.test import Client

from tests.helpers import add_member, login
from tests.jobs_support import job_settings, jobs, wait_for  # noqa: F401
from tests.mail_support import (  # noqa: F401
    Inbox,
    inbox,
    links_in,
    mail_worker,
    queue_kind,
    smtp_server,
    tenants_settings_overrides,
    text_of,
)

ACME = "acme.example.com"


@pytest.fixture
def mail_overrides(dns_server):
    return {"dns_resolver": dns_server.address, "domain_grace_hours": 2.0}


def test_every_owner_and_no_one_else_is_mailed_once_when_a_domain_is_disabled(
    platform, create_tenant, dns_server, mail_worker, inbox: Inbox
) -> None:
    acme = create_tenant("acme")
    owner = Client(platform)
    assert login(owner, ACME, "owner@acme.test").status_code == 302
    for email, role in (("second@acme.test", "owner"), ("member@acme.test", "member")):
        assert add_member(owner, ACME, email, "a long enough password", role).status_code < 400
    domains = platform.domains
    view = domains.add(acme.id, "notes.acme.org", actor="owner")
    dns_server.zone.publish_txt(view.challenge_name, view.token)
    assert domains.check(acme.id, view.id, actor="owner").status == "verified"

    dns_server.zone.remove(view.challenge_name)
    start = domains.now()
    assert domains.check(acme.id, view.id, actor="job").status == "failing"
    domains.now = lambda: start + timedelta(hours=2, minutes=1)
    assert domains.check(acme.id, view.id, actor="job").status == "disabled"

    for address in ("owner@acme.test", "second@acme.test"):
        message = inbox.wait_for(address)
        assert message["Subject"] == "notes.acme.org no longer shows Acme"
        text = text_of(message)
        assert "for 2 hours its DNS no longer proved that the domain is yours" in text
        assert "Check now" in text
        assert set(links_in(message)) == {"http://acme.example.com/"}  # the subdomain, served

    # Still disabled at the next "Check now": no second message.
    assert domains.check(acme.id, view.id, actor="owner").status == "disabled"
    told = wait_for(
        lambda: [
            row
            for row in mail_worker.store.search(names=["mail.domain_disabled"], limit=10)[0]
            if row.state == "succeeded"
        ]
    )
    assert [row.result for row in told] == [{"told": 2}]
    sent = wait_for(
        lambda: (
            [
                row
                for row in mail_worker.store.search(names=["mail.send_platform"], limit=10)[0]
                if row.state == "succeeded"
            ]
            or None
        )
    )
    assert len(sent) == 2
    assert inbox.to("member@acme.test") == []
    assert len(inbox.to("owner@acme.test")) == 1
