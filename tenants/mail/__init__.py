"""Outgoing mail: composing a message, and delivering it by SMTP or to the outbox folder.

Nothing here is ever called inside a web request to *deliver*: tenant apps call
``services.mail.send(...)`` (:class:`TenantMail`) and platform code
:func:`tenants.jobs.mail.send_platform_mail`; both queue a background job
(``tenants/jobs/mail.py``) that calls :func:`deliver`, with the job system's retries
and backoff. A slow or unreachable SMTP server therefore never slows or breaks the page
that sent the message, and never loses it: the job is retried until it goes through.

``MAIL_URL`` chooses the transport: ``smtp://user:password@host:587?starttls=1``,
``smtps://…:465`` (TLS from the first byte), or empty (the default): messages are
written as ``.eml`` files to ``instance/outbox/``, which the development server lists
at ``/dev/outbox/`` and whose links it prints in its console.
"""

from tenants.mail.compose import Envelope, compose
from tenants.mail.service import TenantMail
from tenants.mail.transport import MailConfig, MailUrlError, deliver, outbox_messages

__all__ = [
    "Envelope",
    "MailConfig",
    "MailUrlError",
    "TenantMail",
    "compose",
    "deliver",
    "outbox_messages",
]
