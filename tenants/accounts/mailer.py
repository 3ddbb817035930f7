"""The accounts' messages, in the workspace's name and accent, queued through ``services.mail``.

Every link in them is built from the platform's settings (``services.url_for``), never
from the request's Host: a forged Host header cannot make a workspace mail a link to
somewhere else. Sending only queues a job, so the page answers at once whatever the
SMTP server is doing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app

from tenants.appkit.flask_app import tenant_services


def link(path: str) -> str:
    """The absolute URL of ``path`` in this workspace (settings, not the request)."""
    return tenant_services().url_for(path)


def send(
    to: str,
    subject: str,
    paragraphs: Sequence[str],
    *,
    action: tuple[str, str] | None = None,
    footer: str = "",
) -> Any:
    services = tenant_services()
    config = current_app.config
    envelope = services.mail.compose(
        to=to,
        subject=subject,
        paragraphs=paragraphs,
        action=action,
        footer=footer or f"Sent by {config['TENANT_NAME']} ({services.url_for('/')}).",
        accent=config.get("TENANT_ACCENT"),
        brand=config["TENANT_NAME"],
    )
    return services.mail.send(envelope)
