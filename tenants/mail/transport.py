"""Delivering one :class:`~tenants.mail.compose.Envelope`: SMTP, or the outbox folder.

Called only by the mail jobs (``tenants/jobs/mail.py``): an exception here (the SMTP
server is down, refuses the login, times out) fails the attempt and the job system
retries it with backoff, so a message is never lost to a passing outage. The
``Message-ID`` is derived from the job's id, the same on every attempt, so a message
delivered twice (a worker died after the server accepted it) is recognisably one message.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tenants.mail.compose import Envelope

#: How long one SMTP conversation may stall before the attempt fails (and is retried).
SMTP_TIMEOUT_SECONDS = 20.0


class MailUrlError(ValueError):
    """MAIL_URL is not usable; the message says how to write it."""


@dataclass(frozen=True)
class MailConfig:
    """Where mail goes, read from the platform's settings (``MAIL_URL``, ``MAIL_FROM``)."""

    url: str
    sender: str
    instance_path: Path
    #: Print each outbox message's links in the console (the development server).
    echo: bool = False

    @property
    def outbox(self) -> Path:
        return self.instance_path / "outbox"

    def smtp(self) -> SmtpTarget | None:
        return parse_mail_url(self.url) if self.url else None


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str
    password: str
    #: "plain" (no TLS: a local catcher), "starttls" (upgrade, usually 587), "tls" (465).
    security: str


def parse_mail_url(url: str) -> SmtpTarget:
    """``smtp://user:pass@host:587?starttls=1`` or ``smtps://user:pass@host:465``."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise MailUrlError(
            f"MAIL_URL={url!r} is not an SMTP address; write it like "
            "smtp://user:password@mail.example.com:587?starttls=1 (or smtps://…:465), "
            "or leave it empty to write messages to instance/outbox/."
        )
    try:
        port = parts.port
    except ValueError:
        raise MailUrlError(f"MAIL_URL={url!r} has no valid port number.") from None
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[-1].lower() in {"1", "true", "yes", "on"}
    security = "tls" if parts.scheme == "smtps" else ("starttls" if starttls else "plain")
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if security == "tls" else 587 if starttls else 25),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        security=security,
    )


def build_message(config: MailConfig, envelope: Envelope, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((envelope.from_name, config.sender))
    message["To"] = envelope.to
    message["Subject"] = envelope.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = config.sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(envelope.text)
    message.add_alternative(envelope.html, subtype="html")
    return message


def deliver(config: MailConfig, envelope: Envelope, message_id: str) -> str:
    """Send ``envelope``; return where it went (for the job's result)."""
    message = build_message(config, envelope, message_id)
    target = config.smtp()
    if target is None:
        return str(_write_to_outbox(config, message, message_id, envelope))
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if target.security == "tls" else smtplib.SMTP
    kwargs = {"context": context} if target.security == "tls" else {}
    with smtp_class(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, **kwargs) as smtp:
        if target.security == "starttls":
            smtp.starttls(context=context)
        if target.username:
            smtp.login(target.username, target.password)
        smtp.send_message(message)
    return f"smtp://{target.host}:{target.port}"


def _write_to_outbox(
    config: MailConfig, message: EmailMessage, message_id: str, envelope: Envelope
) -> Path:
    config.outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    # Named by the job's id: a retried job overwrites its own file, never adds a second.
    path = config.outbox / f"{stamp}-{message_id.replace(':', '-')}.eml"
    for existing in config.outbox.glob(f"*-{message_id.replace(':', '-')}.eml"):
        path = existing
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(message.as_bytes(policy=policy.SMTP))
    temporary.replace(path)
    if config.echo:
        links = [word for word in envelope.text.split() if word.startswith(("http://", "https://"))]
        print(f"  mail: to {envelope.to}: {envelope.subject}", flush=True)
        for link in links:
            print(f"        {link}", flush=True)
    return path


@dataclass(frozen=True)
class OutboxMessage:
    name: str
    to: str
    subject: str
    sender: str
    date: str
    text: str
    links: tuple[str, ...]


def outbox_messages(config: MailConfig, limit: int = 100) -> list[OutboxMessage]:
    """The newest messages of the outbox folder (the development page lists them)."""
    if not config.outbox.is_dir():
        return []
    paths = sorted(config.outbox.glob("*.eml"), reverse=True)[:limit]
    found = []
    for path in paths:
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        found.append(
            OutboxMessage(
                name=path.name,
                to=str(parsed["To"] or ""),
                subject=str(parsed["Subject"] or ""),
                sender=str(parsed["From"] or ""),
                date=str(parsed["Date"] or ""),
                text=text,
                links=tuple(w for w in text.split() if w.startswith(("http://", "https://"))),
            )
        )
    return found
