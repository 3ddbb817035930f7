"""Mailed links in path routing (example.com/acme/...): built from settings with the
tenant's prefix, and they work there (issue 14: links never from the request's Host)."""

# ruff: noqa: F811 - the fixtures come from tests.mail_support and tests.jobs_support

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.accounts_support import open_link, verify_all
from tests.helpers import csrf_token
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
)


@pytest.fixture
def routing() -> str:
    return "path"


def test_an_invitation_link_carries_the_tenants_path_and_works(
    platform, tenant_client, mail_worker, inbox: Inbox
) -> None:
    owner = tenant_client("acme")
    verify_all(platform, "acme")
    page = owner.get("/members/new")
    sent = owner.post(
        "/members/new",
        data={"csrf_token": csrf_token(page), "email": "ann@example.org", "role": "member"},
        # A forged Host changes nothing in the link: it is built from the settings.
        headers={"Host": "example.com", "X-Forwarded-Host": "evil.test"},
    )
    assert sent.status_code == 303
    [url] = links_in(inbox.wait_for("ann@example.org"))
    assert url.startswith("http://example.com/acme/invitations/")
    browser = Client(platform)
    form = open_link(browser, url)
    assert form.status_code == 200
    joined = open_link(
        browser,
        url,
        {
            "csrf_token": csrf_token(form),
            "name": "Ann",
            "password": "a long password",
            "confirm_password": "a long password",
        },
    )
    assert joined.status_code == 303
    assert joined.headers["Location"].startswith("/acme/")
