"""The mail jobs: deliver one message, retried with backoff until the server takes it.

``mail.send`` runs in the tenant the message belongs to (queued by ``services.mail``;
a suspended or deleted tenant's mail is skipped, like all its jobs); ``mail.send_platform``
carries the platform's own mail (admins' password resets, the workspace finder). Both
make many attempts over about a day: an SMTP outage of hours delays mail, loses none.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenants.jobs.catalog import platform_job, tenant_job
from tenants.jobs.context import JobContext
from tenants.keys import derive_console_secret, derive_directory_key
from tenants.mail import Envelope, MailConfig, compose, deliver
from tenants.registry import directory
from tenants.registry.models import PlatformAdmin, Tenant, TenantStatus
from tenants.web.links import fingerprint, make_link

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


@tenant_job("mail.send", writes=False, **_RETRIES)
def send_tenant_mail(ctx: JobContext, message: dict[str, Any]) -> dict[str, bool]:
    """Deliver a tenant's message (its display name is already in ``from_name``).

    The result is shown to the tenant's owners: it says nothing of the platform's server.
    """
    envelope = Envelope.from_json(message)
    deliver(mail_config(ctx.platform), envelope, ctx.job_id)
    return {"delivered": True}


@platform_job("mail.send_platform", **_RETRIES)
def send_platform_message(ctx: JobContext, message: dict[str, Any]) -> dict[str, str]:
    envelope = Envelope.from_json(message)
    return {"to": envelope.to, "via": deliver(mail_config(ctx.platform), envelope, ctx.job_id)}


def send_platform_mail(platform: Platform, envelope: Envelope) -> Any:
    """Queue a message of the platform's own (not a tenant's); returns the job's handle."""
    return send_platform_message.enqueue(platform=platform, message=envelope.as_json())


# -- the platform's own messages -----------------------------------------------------------

#: The purpose (salt) of an admin's password-reset link (read by tenants/console).
ADMIN_RESET = "admin-reset"


@platform_job("mail.find_workspaces", max_attempts=8, min_backoff=5.0, max_backoff=600.0)
def find_workspaces(ctx: JobContext, email: str) -> dict[str, int]:
    """Mail ``email`` the workspaces it is a member of (or that there are none).

    Runs in a worker, so the page that asked answers the same, in the same time, whether
    or not the address is anyone's. The directory holds keyed hashes: the address is
    hashed again here and compared, never read from a table.
    """
    settings = ctx.platform.settings
    with Session(ctx.platform.engine) as session:
        found = [
            (tenant.display_name, settings.url_for_tenant(tenant.slug, "/login"))
            for tenant in directory.tenants_of(
                session, derive_directory_key(settings.secret_key), email
            )
        ]
    brand = settings.base_domain
    if found:
        paragraphs = [f"{email} is a member of {len(found)} workspace(s) on {brand}:"]
        paragraphs += [f"{name}: {url}" for name, url in found]
        paragraphs.append("Open one to log in.")
    else:
        paragraphs = [
            f"We found no workspace on {brand} where {email} is a member.",
            "Perhaps you joined with another address? You can also create a workspace.",
        ]
    envelope = compose(
        to=email,
        subject=f"Your workspaces on {brand}",
        brand=brand,
        paragraphs=paragraphs,
        action=None if found else ("Create a workspace", settings.url_for_platform("/signup")),
        footer="Someone (we hope you) asked for this list. If not, ignore this email.",
    )
    deliver(mail_config(ctx.platform), envelope, ctx.job_id)
    return {"workspaces": len(found)}


@platform_job("mail.admin_password_reset", max_attempts=8, min_backoff=5.0, max_backoff=600.0)
def admin_password_reset(ctx: JobContext, email: str) -> dict[str, bool]:
    """Mail a platform admin a reset link, if ``email`` is an admin's (else nothing)."""
    settings = ctx.platform.settings
    with Session(ctx.platform.engine) as session:
        admin = session.execute(
            select(PlatformAdmin).where(func.lower(PlatformAdmin.email) == email.strip().lower())
        ).scalar_one_or_none()
    if admin is None:
        return {"sent": False}
    token = make_link(
        derive_console_secret(settings.secret_key),
        ADMIN_RESET,
        admin=admin.id,
        fp=fingerprint(admin.password_hash),
    )
    minutes = settings.password_reset_minutes
    envelope = compose(
        to=admin.email,
        subject=f"Choose a new admin password for {settings.base_domain}",
        brand=settings.base_domain,
        paragraphs=[
            f"Someone (we hope you) asked to reset the platform admin password of {admin.email}.",
            f"The link works once, for {minutes} minutes, and ends every admin session of "
            "this account.",
        ],
        action=("Choose a new password", settings.url_for_platform(f"/admin/reset/{token}")),
        footer="If you did not ask for this, ignore this email and tell the other admins.",
    )
    deliver(mail_config(ctx.platform), envelope, ctx.job_id)
    return {"sent": True}


@platform_job("mail.domain_disabled", max_attempts=8, min_backoff=5.0, max_backoff=600.0)
def domain_disabled(ctx: JobContext, tenant_id: int, domain: str, error: str) -> dict[str, int]:
    """Tell each owner of a tenant that a custom domain of theirs is no longer served.

    The owners come from the tenant app (``TenantApp.owner_emails``); an app without it
    tells no one by mail. One message per owner, each queued once even if this job runs
    again (the key is this job and the address).
    """
    platform = ctx.platform
    list_owners = platform.tenant_app.owner_emails
    with Session(platform.engine, expire_on_commit=False) as session:
        tenant = session.get(Tenant, tenant_id)
    live = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
    if list_owners is None or tenant is None or tenant.status not in live:
        return {"told": 0}
    platform.storage.place(tenant.id, tenant.database)
    engine = platform.storage.engine_for(tenant.id)
    try:
        with engine.connect() as connection:
            owners = sorted({address.lower(): address for address in list_owners(connection)})
    finally:
        platform.storage.release(engine)
    name, hours = tenant.display_name, platform.settings.domain_grace_hours
    home = platform.tenant_url(tenant, "/")
    for address in owners:
        envelope = compose(
            to=address,
            subject=f"{domain} no longer shows {name}",
            brand=name,
            paragraphs=[
                f"We stopped serving {name} at {domain}: for {hours:g} hours its DNS no "
                "longer proved that the domain is yours.",
                f"The last check said: {error}" if error else "The last check found no proof.",
                f"Your workspace is safe and answers at {home} meanwhile.",
                "To serve it at the domain again, publish the TXT record shown on the "
                "Custom domains page of your settings, then press Check now there.",
            ],
            action=(f"Open {name}", home),
            footer=f"You get this email as an owner of {name}.",
        )
        send_platform_message.enqueue(
            platform=platform, message=envelope.as_json(), unique_key=f"{ctx.job_id}:{address}"
        )
    return {"told": len(owners)}
