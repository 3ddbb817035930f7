"""``services.mail``: how a tenant app sends a message (queued, never sent in the request)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tenants.mail.compose import Envelope, compose


class TenantMail:
    """One tenant's outgoing mail. ``send`` queues a job and returns its handle at once.

    The sender's display name is the tenant's (``Acme <no-reply@platform>``); the
    address is the platform's ``MAIL_FROM``, so the platform's SPF/DKIM cover every tenant.
    """

    def __init__(self, brand: str, enqueue: Callable[[dict[str, str]], Any]) -> None:
        self.brand = brand
        self._enqueue = enqueue

    def send(self, envelope: Envelope) -> Any:
        """Queue ``envelope`` for delivery; returns the job's handle (``.id``)."""
        return self._enqueue(envelope.as_json())

    def compose(
        self,
        *,
        to: str,
        subject: str,
        paragraphs: Sequence[str],
        action: tuple[str, str] | None = None,
        footer: str = "",
        accent: str | None = None,
        brand: str | None = None,
    ) -> Envelope:
        """A message from this tenant (its name, the given accent): see ``tenants.mail.compose``."""
        return compose(
            to=to,
            subject=subject,
            brand=brand or self.brand,
            paragraphs=paragraphs,
            action=action,
            footer=footer,
            accent=accent,
        )

    def __repr__(self) -> str:
        return f"<TenantMail of {self.brand}>"
