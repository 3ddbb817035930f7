"""Custom domains: a tenant brings its own domain, proves it by DNS, and is served on it.

What a tenant app may use (through ``TenantServices.domains``) is here, as plain values:
:class:`DomainView`, :class:`DomainError` and the :class:`TenantDomains` protocol. The
platform's side is :mod:`tenants.domains.manager` (adding, checking, the periodic job)
and :mod:`tenants.domains.dns` (reading the TXT record with dnspython); names are
checked by :mod:`tenants.registry.domainnames`, routing is the registry's
(:mod:`tenants.registry.lookup`, key kind ``domain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["CHALLENGE_LABEL", "DomainError", "DomainView", "TenantDomains"]

#: The TXT record proving ownership lives at ``_tenants-challenge.<domain>``.
CHALLENGE_LABEL = "_tenants-challenge"


class DomainError(ValueError):
    """A domain cannot be added or changed; ``message`` is for the person who asked."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        #: The HTTP status a page answers with (422 bad input, 409 taken, 404 gone).
        self.status = status


@dataclass(frozen=True)
class DomainView:
    """One custom domain of a tenant, as its settings page shows it."""

    id: int
    #: Stored form (A-label): what DNS records and the Host header use.
    domain: str
    #: For people (U-label): ``bücher.example``.
    display: str
    status: str
    is_primary: bool
    #: What the TXT record must hold, and where it lives.
    token: str
    challenge_name: str
    #: Where the domain should point (CNAME), the platform's address.
    target: str
    created_at: datetime
    checked_at: datetime | None
    verified_at: datetime | None
    failing_since: datetime | None
    #: When a failing domain stops being served if its record does not come back.
    disable_at: datetime | None
    last_error: str | None

    @property
    def routable(self) -> bool:
        return self.status in ("verified", "failing")


class TenantDomains(Protocol):
    """One tenant's custom domains (``TenantServices.domains``); every change is audited."""

    #: How many this tenant's plan allows, and where they should point.
    limit: int
    target: str

    def list(self) -> list[DomainView]: ...

    def add(self, raw: str, *, actor: str) -> DomainView: ...

    def remove(self, domain_id: int, *, actor: str) -> None: ...

    def check(self, domain_id: int, *, actor: str) -> DomainView: ...

    def set_primary(self, domain_id: int | None, *, actor: str) -> None: ...
