"""Outgoing mail: a real SMTP server receives what tenants send, through the mail job.

Covers: the tenant's name and accent in both parts, links from settings, the platform's
sender address; the outbox folder and the development page when no MAIL_URL is set;
an SMTP server that refuses a message leaves the job retrying, never failing the page.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from werkzeug.test import Client

from tenants import lifecycle
from tenants.jobs.mail import mail_config, send_platform_mail
from tenants.jobs.runtime import JobRuntime
from tenants.kernel import Platform
from tenants.mail import compose, outbox_messages
from tenants.mail.transport import MailUrlError, parse_mail_url
from tenants.settings import Settings, SettingsError
from tests.jobs_support import job_settings, jobs, running_worker, wait_for  # noqa: F401
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

Create = Callable[..., lifecycle.ProvisionedTenant]


def test_a_tenant_message_reaches_the_smtp_server_in_its_name_with_both_parts(
    platform: Platform,
    create_tenant: Create,
    mail_worker: JobRuntime,  # noqa: F811
    inbox: Inbox,  # noqa: F811
) -> None:
    create_tenant("acme", name="Acme & Sons")
    services = platform.services_for(platform.registry.get("acme"))
    envelope = services.mail.compose(
        to="pat@example.org",
        subject="Hello <there>",
        paragraphs=["A <b>bold</b> claim."],
        action=("Open it", services.url_for("/notes/")),
        accent="#c2410c",
        footer="You get this because you are a member.",
    )
    handle = services.mail.send(envelope)
    assert handle.id
    message = inbox.wait_for("pat@example.org")
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Acme & Sons", "no-reply@example.com")
    assert str(message["Subject"]) == "Hello <there>"
    text = text_of(message)
    assert "A <b>bold</b> claim." in text
    assert links_in(message) == [platform.settings.url_for_tenant("acme", "/notes/")]
    html = html_of(message)
    assert "A &lt;b&gt;bold&lt;/b&gt; claim." in html  # escaped, never markup
    assert "#c2410c" in html and "Acme &amp; Sons" in html
    assert platform.settings.url_for_tenant("acme", "/notes/") in html
    # Message-ID is the job's: a retried delivery is recognisably the same message.
    assert handle.id in str(message["Message-ID"])


def test_platform_mail_is_sent_by_the_platform_job(
    platform: Platform,
    mail_worker: JobRuntime,  # noqa: F811
    inbox: Inbox,  # noqa: F811
) -> None:
    envelope = compose(
        to="admin@example.org", subject="Platform", brand="Example", paragraphs=["Hi."]
    )
    send_platform_mail(platform, envelope)
    assert text_of(inbox.wait_for("admin@example.org")).startswith("Hi.")


def test_a_refusing_smtp_server_leaves_the_message_queued_for_a_retry(
    platform: Platform,
    create_tenant: Create,
    jobs: JobRuntime,  # noqa: F811
    inbox: Inbox,  # noqa: F811
) -> None:
    create_tenant("acme")
    services = platform.services_for(platform.registry.get("acme"))
    inbox.refuse = True
    handle = services.mail.send(
        services.mail.compose(to="late@example.org", subject="Later", paragraphs=["Soon."])
    )
    with running_worker(jobs):
        row = wait_for(
            lambda: (
                (r := jobs.store.get(handle.id)) is not None
                and r.attempts >= 1
                and r.state == "queued"
                and r
            )
        )
    # Not failed, not lost: queued again with attempts left, after a backoff.
    assert row.attempts < row.max_attempts
    assert row.run_at is not None
    assert inbox.to("late@example.org") == []


def test_an_unreachable_smtp_server_leaves_the_message_queued_for_a_retry(
    platform: Platform,
    create_tenant: Create,
    jobs: JobRuntime,  # noqa: F811
    smtp_server,  # noqa: F811
) -> None:
    create_tenant("acme")
    services = platform.services_for(platform.registry.get("acme"))
    smtp_server.stop()  # nothing listens on MAIL_URL's port now: connection refused
    handle = services.mail.send(
        services.mail.compose(to="late@example.org", subject="Later", paragraphs=["Soon."])
    )
    with running_worker(jobs):
        row = wait_for(
            lambda: (
                (r := jobs.store.get(handle.id)) is not None
                and r.attempts >= 1
                and r.state == "queued"
                and r
            )
        )
    assert row.attempts < row.max_attempts and "Connection refused" in (row.last_error or "")


@pytest.mark.slow
def test_a_message_refused_once_arrives_after_the_retry(
    platform: Platform,
    create_tenant: Create,
    jobs: JobRuntime,  # noqa: F811
    inbox: Inbox,  # noqa: F811
) -> None:
    create_tenant("acme")
    services = platform.services_for(platform.registry.get("acme"))
    inbox.refuse = True
    handle = services.mail.send(
        services.mail.compose(to="late@example.org", subject="Later", paragraphs=["Soon."])
    )
    with running_worker(jobs):
        # The first attempt has been refused and the job queued again for its retry.
        wait_for(
            lambda: (
                (r := jobs.store.get(handle.id)) is not None
                and r.attempts >= 1
                and r.state == "queued"
            )
        )
        inbox.refuse = False
        message = inbox.wait_for("late@example.org", timeout=60)
        row = wait_for(
            lambda: (r := jobs.store.get(handle.id)) is not None and r.state == "succeeded" and r
        )
    assert str(message["Subject"]) == "Later"
    assert row.attempts >= 2  # refused once, delivered by a retry
    assert len(inbox.to("late@example.org")) == 1  # once, not once per attempt


@pytest.fixture
def mail_overrides() -> dict[str, object]:  # noqa: F811
    return {}


def test_without_mail_url_messages_go_to_the_outbox_and_the_dev_page(
    make_platform: Callable[..., Platform],
    create_tenant: Create,
    tmp_path,
) -> None:
    platform = make_platform(mail_url="", debug=True)
    envelope = compose(
        to="dev@example.org",
        subject="Local",
        brand="Acme",
        paragraphs=["Look."],
        action=("Open", "http://acme.example.com/x"),
    )
    from tenants.mail import deliver

    path = deliver(mail_config(platform), envelope, "job1")
    assert path.startswith(str(tmp_path / "outbox"))
    # A retry of the same job rewrites its file: still one message.
    deliver(mail_config(platform), envelope, "job1")
    listed = outbox_messages(mail_config(platform))
    assert [m.subject for m in listed] == ["Local"]
    assert listed[0].links == ("http://acme.example.com/x",)
    page = Client(platform).get("/dev/outbox/", headers={"Host": "example.com"})
    assert page.status_code == 200
    assert "http://acme.example.com/x" in page.get_data(as_text=True)
    production = make_platform(mail_url="", debug=False)
    assert (
        Client(production).get("/dev/outbox/", headers={"Host": "example.com"}).status_code == 404
    )


def test_mail_settings_are_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="MAIL_URL"):
        Settings.from_environ({"MAIL_URL": "http://mail"}, load_dotenv=False)
    with pytest.raises(SettingsError, match="MAIL_FROM"):
        Settings.from_environ({"MAIL_FROM": "nobody"}, load_dotenv=False)
    settings = Settings.from_environ(
        {"MAIL_URL": "smtp://u%40x:p%3Aw@mail.test:2525?starttls=1"}, load_dotenv=False
    )
    target = parse_mail_url(settings.mail_url)
    assert (target.host, target.port, target.username, target.password, target.security) == (
        "mail.test",
        2525,
        "u@x",
        "p:w",
        "starttls",
    )
    assert parse_mail_url("smtps://mail.test").port == 465
    assert settings.mail_sender == "no-reply@localhost"
    with pytest.raises(MailUrlError):
        parse_mail_url("smtp://")
