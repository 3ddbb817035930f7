"""The mail jobs: deliver one message, retried with backoff until the server takes it.

``mail.send`` runs in the tenant the message belongs to (queued by ``services.mail``;
a suspended or deleted tenant's mail is skipped, like all its jobs); ``mail.send_platform``
carries the platform's own mail (admins' password resets, the workspace finder). Both
make many attempts over about a day: an SMTP outage of hours delays mail, loses none.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tenants.jobs.catalog import platform_job, tenant_job
from tenants.jobs.context import JobContext
from tenants.mail import Envelope, MailConfig, deliver

if TYPE_CHECKING:
    from tenants.kernel import Platform

_RETRIES = {"max_attempts": 12, "min_backoff": 5.0, "max_backoff": timedelta(hours=2)}


def mail_config(platform: Platform) -> MailConfig:
    settings = platform.settings
    return MailConfig(
        url=settings.mail_url,
        sender=settings.mail_sender,
        instance_path=settings.instance_path,
        echo=settings.debug,
    )


@tenant_job("mail.send", **_RETRIES)
def send_tenant_mail(ctx: JobContext, message: dict[str, Any]) -> dict[str, str]:
    """Deliver a tenant's message (its display name is already in ``from_name``)."""
    envelope = Envelope.from_json(message)
    return {"to": envelope.to, "via": deliver(mail_config(ctx.platform), envelope, ctx.job_id)}


@platform_job("mail.send_platform", **_RETRIES)
def send_platform_message(ctx: JobContext, message: dict[str, Any]) -> dict[str, str]:
    envelope = Envelope.from_json(message)
    return {"to": envelope.to, "via": deliver(mail_config(ctx.platform), envelope, ctx.job_id)}


def send_platform_mail(platform: Platform, envelope: Envelope) -> Any:
    """Queue a message of the platform's own (not a tenant's); returns the job's handle."""
    return send_platform_message.enqueue(platform=platform, message=envelope.as_json())
