"""What the platform knows about one tenant, as plain values: no ORM, no Flask.

The dispatcher, the contract with tenant apps and the registry all pass these
around; ``tenants.registry.models`` maps them to the platform database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

#: The size of a tenant's display name (its column, and every form that sets it).
DISPLAY_NAME_SIZE = 120
#: The longest suspension reason an admin can give (shown on the tenant's 403 page).
SUSPENSION_REASON_SIZE = 500

#: The name of the platform's own database (``DATABASE_URL``) among the tenant databases.
DEFAULT_DATABASE = "default"


class RegistryUnavailable(RuntimeError):
    """The registry database cannot be read; the platform answers 503 until it can."""


class TenantStatus(enum.StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    FAILED = "failed"
    #: Unreachable, storage kept: an admin can restore it until ``purge_after``.
    DELETED = "deleted"
    #: Storage dropped after the grace period (or "purge now"); only history is left.
    PURGED = "purged"


#: Statuses of a tenant that can still be changed (suspended, resumed, deleted...).
LIVE_STATUSES = (TenantStatus.PROVISIONING, TenantStatus.ACTIVE, TenantStatus.SUSPENDED)

#: Statuses that hold their slug: at most one row per lower-cased slug among these. A
#: deleted tenant keeps its slug for its grace period, so restoring it never finds the
#: name taken and nobody can sign up as a just-deleted workspace; purging frees it.
SLUG_HOLDING_STATUSES = (*LIVE_STATUSES, TenantStatus.DELETED)

#: Retry-After for a tenant an admin put read-only (no end is known).
READ_ONLY_RETRY_SECONDS = 300


class DomainStatus(enum.StrEnum):
    """Where a tenant's custom domain stands (``tenants.domains`` moves it along)."""

    #: Added, its TXT record not seen yet: not routed, no certificate.
    PENDING = "pending"
    #: The TXT record holds the domain's token: routed, certificates issued.
    VERIFIED = "verified"
    #: Was verified, the record is gone or wrong since ``failing_since``: still routed
    #: until ``DOMAIN_GRACE_HOURS`` have passed, so a DNS hiccup takes nothing down.
    FAILING = "failing"
    #: Failed for longer than the grace: no longer routed; "Check now" verifies it again.
    DISABLED = "disabled"


#: Statuses of a domain that the dispatcher serves (and the TLS ask endpoint approves).
ROUTABLE_DOMAIN_STATUSES = (DomainStatus.VERIFIED, DomainStatus.FAILING)


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """An immutable copy of a tenant's registry row."""

    id: int
    slug: str
    display_name: str
    status: str
    plan: str
    settings: Mapping[str, Any]
    version: int
    storage_revision: str | None
    database: str = DEFAULT_DATABASE
    #: Put read-only by an admin (until they make it writable again).
    read_only: bool = False
    #: Read-only until then for an operation (a move, a backup); a lease, so a killed
    #: operation leaves the tenant writable again once it has passed.
    write_lock_until: datetime | None = None
    #: The tenant's routable custom domains (A-labels, lower-case): verified or in grace.
    custom_domains: tuple[str, ...] = ()
    #: The custom domain the tenant chose as its primary address (routable), or None:
    #: then its subdomain is the primary address.
    primary_domain: str | None = None
    suspension_reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    def refuses_writes(self, now: datetime | None = None) -> int | None:
        """Seconds a writer should wait before trying again, or None if writes are allowed."""
        if self.write_lock_until is not None:
            until = self.write_lock_until
            if until.tzinfo is None:  # SQLite gives naive datetimes; they are UTC
                until = until.replace(tzinfo=UTC)
            left = (until - (now or datetime.now(UTC))).total_seconds()
            if left > 0:
                return max(1, int(left + 0.999))
        if self.read_only:
            return READ_ONLY_RETRY_SECONDS
        return None

    @property
    def is_suspended(self) -> bool:
        return self.status == TenantStatus.SUSPENDED

    @classmethod
    def from_row(cls, row: Any) -> TenantRecord:
        """From a registry row (ORM object or result row with the same attribute names)."""
        return cls(
            id=row.id,
            slug=row.slug,
            display_name=row.display_name,
            status=str(row.status),
            plan=row.plan,
            settings=MappingProxyType(dict(row.settings or {})),
            version=row.version,
            storage_revision=row.storage_revision,
            database=row.database,
            read_only=bool(row.read_only),
            write_lock_until=row.write_lock_until,
            custom_domains=tuple(getattr(row, "custom_domains", None) or ()),
            primary_domain=getattr(row, "primary_domain", None),
            suspension_reason=getattr(row, "suspension_reason", None),
        )
