"""The platform database: the tenant registry, platform admins and the audit log.

These tables live in the platform database (the default schema on PostgreSQL,
``platform.db`` on SQLite); each tenant's own tables live in its own storage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
    literal_column,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from tenants.plans import DEFAULT_PLAN, validate_plan
from tenants.registry.record import (
    DEFAULT_DATABASE,
    DISPLAY_NAME_SIZE,
    LIVE_STATUSES,
    ROUTABLE_DOMAIN_STATUSES,
    SLUG_HOLDING_STATUSES,
    SUSPENSION_REASON_SIZE,
    DomainStatus,
    TenantStatus,
)
from tenants.sessions import SessionColumns

__all__ = [
    "AdminSession",
    "DEFAULT_DATABASE",
    "HOLDS_SLUG",
    "LIVE_STATUSES",
    "SLUG_HOLDING_STATUSES",
    "AuditEntry",
    "MemberDirectoryEntry",
    "MigrationRun",
    "MigrationRunTenant",
    "PlatformAdmin",
    "RegistryBase",
    "RegistryChange",
    "RegistryClock",
    "Tenant",
    "TenantDomain",
    "TenantStatus",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


#: The longest DNS name (RFC 1035), in its A-label form.
DOMAIN_NAME_SIZE = 253


class RegistryBase(DeclarativeBase):
    """Declarative base of the platform database (not of any tenant's)."""


_SLUG_HOLDING_SQL = "status IN ('provisioning', 'active', 'suspended', 'deleted')"


class Tenant(RegistryBase):
    __tablename__ = "tenants"
    __table_args__ = (
        # The database, not a check-then-insert, keeps live slugs unique regardless of case;
        # failed and purged rows stay as history and free their slug (a deleted one holds
        # it through its grace period).
        Index(
            "uq_tenants_live_slug",
            func.lower(text("slug")),
            unique=True,
            sqlite_where=text(_SLUG_HOLDING_SQL),
            postgresql_where=text(_SLUG_HOLDING_SQL),
        ),
        # The admin list filters by status and pages by id (keyset), newest first.
        Index("ix_tenants_status_id", "status", "id"),
        # "Who is behind the head revision" (tenants migrate's fast path, the admin's
        # migrations page) is an index-only count, not a scan of every row.
        Index("ix_tenants_status_revision", "status", "storage_revision"),
        # Substring search on slug and name (pg_trgm GIN indexes) are created by the
        # migration on PostgreSQL only, as is the generated ``key_hash`` column with its
        # index (see tenants.registry.keyindex): neither exists on SQLite.
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_SIZE))
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.PROVISIONING)
    plan: Mapped[str] = mapped_column(String(40), default=DEFAULT_PLAN)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Which PostgreSQL database holds the tenant's schema ("default": the platform's own).
    database: Mapped[str] = mapped_column(
        String(40), default=DEFAULT_DATABASE, server_default=DEFAULT_DATABASE
    )
    #: The tenant storage's Alembic revision, so "who is behind" is one query.
    storage_revision: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Why an admin suspended the tenant, shown to its members on the 403 page (None: none).
    suspension_reason: Mapped[str | None] = mapped_column(
        String(SUSPENSION_REASON_SIZE), default=None
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The id of this row's last entry in the change feed (see RegistryChange): it only
    #: grows, so apps and sessions compare it to tell an old copy from a new one.
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    #: When it was deleted, and when the purge job drops its storage (None unless deleted).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    purge_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: Read-only by an admin's choice; ``write_lock_until``: by an operation's lease.
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    write_lock_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: A move to another database in progress (``tenants.moves``): from, to, flipped.
    move_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The routable rows of ``tenant_domains`` (A-labels), copied here in the same
    #: transaction that changes them: the change feed and every point query return the
    #: tenant's row, and each process learns from it which domain keys route to it.
    custom_domains: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    #: The primary address when it is a routable custom domain (else the subdomain is).
    primary_domain: Mapped[str | None] = mapped_column(String(DOMAIN_NAME_SIZE), default=None)

    @validates("plan")
    def _known_plan(self, _key: str, plan: str) -> str:
        """Every write of a plan, from any entry point, is one of tenants.plans.PLANS."""
        return validate_plan(plan)

    def __repr__(self) -> str:
        return f"<Tenant {self.id} {self.slug!r} {self.status}>"


#: "The tenant holds its slug", with the statuses written out as in the partial indexes'
#: WHERE clause: with bound parameters instead, SQLite (always) and PostgreSQL (once a
#: statement is prepared) cannot tell that those indexes apply, and scan the table.
HOLDS_SLUG = Tenant.status.in_([literal_column(f"'{status}'") for status in SLUG_HOLDING_STATUSES])


class TenantDomain(RegistryBase):
    """A custom domain a tenant added, and what its DNS said when last checked.

    The unique index on ``lower(domain)`` covers every row, pending ones too: a name is
    claimed by whoever adds it first, and a second tenant is refused by the database
    (not a check-then-insert). Ownership is proven by the TXT record
    ``_tenants-challenge.<domain>`` holding ``token``; only verified (or failing, in
    grace) domains are routed, copied to ``tenants.custom_domains``.
    """

    __tablename__ = "tenant_domains"
    __table_args__ = (
        Index("uq_tenant_domains_domain", func.lower(text("domain")), unique=True),
        Index("ix_tenant_domains_tenant", "tenant_id", "id"),
        # The periodic check picks the domains checked longest ago.
        Index("ix_tenant_domains_checked", "checked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    #: The A-label form, lower-case (``xn--bcher-kva.example``); shown as its U-label.
    domain: Mapped[str] = mapped_column(String(DOMAIN_NAME_SIZE))
    #: What the TXT record must hold (random, per domain).
    token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=DomainStatus.PENDING)
    #: The tenant chose it as its primary address (effective while it is routable).
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)

    @property
    def routable(self) -> bool:
        return self.status in ROUTABLE_DOMAIN_STATUSES

    def __repr__(self) -> str:
        return f"<TenantDomain {self.id} {self.domain!r} {self.status}>"


class RegistryChange(RegistryBase):
    """The change feed: one row per change to a tenant, appended by the writer's transaction.

    ``id`` comes from a sequence (an autoincrement on SQLite); ``txid`` is the writer's
    PostgreSQL transaction id, which lets pollers read the feed exactly although
    transactions commit in another order than they drew their ids
    (``tenants.registry.feed`` has the argument). Writers never update a shared row.
    """

    __tablename__ = "registry_changes"
    __table_args__ = (
        Index("ix_registry_changes_txid", "txid"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    txid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegistryClock(RegistryBase):
    """One row: how far the change feed has been pruned.

    Change ids up to ``generation`` may be gone (old entries are deleted as the feed
    grows); a poller whose position is below it cannot know what it missed and reloads.
    Only pruning writes this row, so it orders nothing else.
    """

    __tablename__ = "registry_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class PlatformAdmin(RegistryBase):
    __tablename__ = "platform_admins"
    __table_args__ = (Index("uq_platform_admins_email", func.lower(text("email")), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Two-factor sign-in: the TOTP secret (base32) once enrolled, and the last time step
    #: accepted (a code never works twice).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: Hashes of the unused recovery codes (each works once, then leaves the list).
    recovery_codes: Mapped[list[str] | None] = mapped_column(JSON)


class MemberDirectoryEntry(RegistryBase):
    """ "This email is a member of this tenant", as a keyed hash: the workspace finder's index.

    The platform never stores tenants' member addresses in clear: ``email_hash`` is an
    HMAC-SHA256 of the lower-cased address under a key derived from ``SECRET_KEY``, so
    the table alone (a backup, a leaked dump) neither lists addresses nor lets anyone
    confirm a guess without the key. Tenant apps keep it current through
    ``services.directory`` as members join, leave and change address.
    """

    __tablename__ = "member_directory"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: The size of ``audit_log.actor``: "signup:" and the longest email fit.
AUDIT_ACTOR_SIZE = 320


class AdminSession(SessionColumns, RegistryBase):
    """One login of a platform admin (see ``tenants.sessions``): logout deletes it."""

    __tablename__ = "admin_sessions"
    __table_args__ = (Index("ix_admin_sessions_admin", "admin_id"),)

    admin_id: Mapped[int] = mapped_column(ForeignKey("platform_admins.id", ondelete="CASCADE"))


class AuditEntry(RegistryBase):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), default=None)
    #: Who: "cli", an admin's email, "signup:<email>" (an email has at most 254 characters).
    actor: Mapped[str] = mapped_column(String(AUDIT_ACTOR_SIZE))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MigrationRun(RegistryBase):
    """One ``tenants migrate`` run over the fleet: the head of the migration ledger.

    A run that is ``running`` or ``stopped`` (a canary, ``--fail-fast``, or a process
    killed half-way) is unfinished: the next ``tenants migrate`` for the same target
    revision continues it instead of starting over (see :mod:`tenants.fleet`).
    """

    __tablename__ = "migration_runs"
    __table_args__ = (Index("ix_migration_runs_state", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The tenant history's head when the run began: what every tenant is brought to.
    target_revision: Mapped[str] = mapped_column(String(64))
    #: running | stopped | finished | failed | abandoned (see tenants.fleet.RunState).
    state: Mapped[str] = mapped_column(String(20))
    #: keep-going | fail-fast
    mode: Mapped[str] = mapped_column(String(20))
    #: fleet (every tenant behind the head; resumed by the next plain run) | named
    scope: Mapped[str] = mapped_column(String(20), default="fleet")
    jobs: Mapped[int] = mapped_column(Integer)
    #: How many tenants the run was asked to migrate (its ledger rows).
    total: Mapped[int] = mapped_column(Integer)
    #: Who started it ("cli").
    actor: Mapped[str] = mapped_column(String(60), default="cli")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class MigrationRunTenant(RegistryBase):
    """One tenant of a migration run: from/to revision, state, error, duration."""

    __tablename__ = "migration_run_tenants"
    __table_args__ = (
        Index("ix_migration_run_tenants_state", "run_id", "state"),
        Index("ix_migration_run_tenants_tenant", "tenant_id", "run_id"),
    )

    run_id: Mapped[int] = mapped_column(
        ForeignKey("migration_runs.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63))
    database: Mapped[str] = mapped_column(String(40), default=DEFAULT_DATABASE)
    #: pending | done | failed | busy (another run held the tenant's lock)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    from_revision: Mapped[str | None] = mapped_column(String(64), default=None)
    to_revision: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
