"""The worker side of a fleet run: migrate tenants, in a process of its own.

Workers are started with ``spawn`` (never ``fork``: a forked child would share the
parent's pooled connections and whatever threads held locks when it forked). Each one
opens its own engines with one connection per database, migrates the batches it is
given and hands back one :class:`Result` per tenant; only the parent writes the ledger
and the registry, so workers never touch the platform database.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tenants.contract import load_tenant_app
from tenants.database import create_platform_engine
from tenants.settings import Settings
from tenants.storage import PostgresStorage, SQLiteStorage, TenantBusy, TenantStorage
from tenants.storage.backends import MissingStorage

#: Ledger row states a result can have.
DONE, FAILED, BUSY = "done", "failed", "busy"


@dataclass(frozen=True)
class Job:
    """One tenant to migrate, with what the registry says about it."""

    tenant_id: int
    slug: str
    database: str
    from_revision: str | None


@dataclass(frozen=True)
class Result:
    tenant_id: int
    slug: str
    state: str
    from_revision: str | None
    to_revision: str | None
    error: str | None
    started_at: datetime
    duration_ms: int


@dataclass(frozen=True)
class WorkerSetup:
    """What a spawned worker needs to open tenant storage like the parent does."""

    settings: Settings
    #: The tenant history to apply: the tenant app's, or a deployed copy of it.
    migrations: Path


_storage: TenantStorage | None = None
_several_databases = False


def open_storage(setup: WorkerSetup) -> TenantStorage:
    """Tenant storage with engines of one connection per database (a worker's share)."""
    settings = setup.settings
    tenant_app = dataclasses.replace(
        load_tenant_app(settings.tenant_app), migrations=setup.migrations
    )
    if not settings.is_postgres:
        return SQLiteStorage.beside(settings.database_url, settings.instance_path, tenant_app)

    def engine(url: str):  # noqa: ANN202 - an Engine
        return create_platform_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_recycle=settings.pool_recycle_seconds,
            transaction_pooler=settings.database_pooler == "transaction",
        )

    others = {name: engine(url) for name, url in settings.tenant_databases.items()}
    return PostgresStorage(engine(settings.database_url), tenant_app, others)


def initialize(setup: WorkerSetup) -> None:
    """The pool's initializer: open this worker's storage once."""
    global _storage, _several_databases
    _storage = open_storage(setup)
    _several_databases = bool(setup.settings.tenant_databases)


def migrate_batch(jobs: Sequence[Job]) -> list[Result]:
    """Migrate a batch (all of one database) in this worker; a result for each tenant."""
    if _storage is None:
        raise RuntimeError("migrate_batch runs in a worker that initialize() set up")
    try:
        return [migrate_one(_storage, job) for job in jobs]
    finally:
        if _several_databases and isinstance(_storage, PostgresStorage) and jobs:
            # Hold no idle connection to a database between batches: the parent counts
            # this worker against a database's budget only while a batch of it runs.
            _storage.databases[jobs[0].database].dispose()


def migrate_one(storage: TenantStorage, job: Job) -> Result:
    """Migrate one tenant; its failure is a result, never an exception."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    to_revision: str | None = None
    error: str | None = None
    state = DONE
    if isinstance(storage, PostgresStorage):
        storage.place(job.tenant_id, job.database)
    try:
        # Missing storage fails, and is never created by migrating it (SQLite would build
        # an empty tenant; PostgreSQL's migrate checks in its first statement).
        if not isinstance(storage, PostgresStorage) and not storage.exists(job.tenant_id):
            raise MissingStorage(
                f"its storage {storage.location(job.tenant_id)} is missing; "
                "restore it, or delete the tenant"
            )
        to_revision = storage.migrate(job.tenant_id)
    except TenantBusy as busy:
        state, error = BUSY, first_line(busy)
    except Exception as failure:
        state, error = FAILED, first_line(failure)
    return Result(
        tenant_id=job.tenant_id,
        slug=job.slug,
        state=state,
        from_revision=job.from_revision,
        to_revision=to_revision,
        error=error,
        started_at=started_at,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:500]
