"""The platform database: the tenant registry, platform admins and the audit log.

These tables live in the platform database (the default schema on PostgreSQL,
``platform.db`` on SQLite); each tenant's own tables live in its own storage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenants.registry.record import DEFAULT_DATABASE, SLUG_HOLDING_STATUSES, TenantStatus

__all__ = [
    "DEFAULT_DATABASE",
    "SLUG_HOLDING_STATUSES",
    "AuditEntry",
    "PlatformAdmin",
    "RegistryBase",
    "RegistryClock",
    "Tenant",
    "TenantStatus",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryBase(DeclarativeBase):
    """Declarative base of the platform database (not of any tenant's)."""


_SLUG_HOLDING_SQL = "status IN ('provisioning', 'active', 'suspended')"


class Tenant(RegistryBase):
    __tablename__ = "tenants"
    __table_args__ = (
        # The database, not a check-then-insert, keeps live slugs unique regardless of case;
        # failed and deleted rows stay as history and free their slug.
        Index(
            "uq_tenants_live_slug",
            func.lower(text("slug")),
            unique=True,
            sqlite_where=text(_SLUG_HOLDING_SQL),
            postgresql_where=text(_SLUG_HOLDING_SQL),
        ),
        Index("ix_tenants_version", "version"),
        Index("ix_tenants_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.PROVISIONING)
    plan: Mapped[str] = mapped_column(String(40), default="free")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Which PostgreSQL database holds the tenant's schema ("default": the platform's own).
    database: Mapped[str] = mapped_column(
        String(40), default=DEFAULT_DATABASE, server_default=DEFAULT_DATABASE
    )
    #: The tenant storage's Alembic revision, so "who is behind" is one query.
    storage_revision: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The registry generation of this row's last change (see RegistryClock).
    version: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<Tenant {self.id} {self.slug!r} {self.status}>"


class RegistryClock(RegistryBase):
    """One row whose generation goes up by one with every change to any tenant.

    A process compares it with the generation it last saw (one tiny query per poll)
    and reloads only the rows whose ``version`` is newer.
    """

    __tablename__ = "registry_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class PlatformAdmin(RegistryBase):
    __tablename__ = "platform_admins"
    __table_args__ = (Index("uq_platform_admins_email", func.lower(text("email")), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(RegistryBase):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), default=None)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
