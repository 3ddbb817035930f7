"""What the platform knows about one tenant, as plain values: no ORM, no Flask.

The dispatcher, the contract with tenant apps and the registry all pass these
around; ``tenants.registry.models`` maps them to the platform database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
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
    DELETED = "deleted"


#: Statuses that hold their slug: at most one row per lower-cased slug among these.
SLUG_HOLDING_STATUSES = (TenantStatus.PROVISIONING, TenantStatus.ACTIVE, TenantStatus.SUSPENDED)


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
    suspension_reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

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
            suspension_reason=getattr(row, "suspension_reason", None),
        )
