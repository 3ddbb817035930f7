"""Where a tenant's data lives: a SQLite file each, or a PostgreSQL schema each.

Both backends create a tenant's storage all-or-nothing: the SQLite file is built
under a temporary name and renamed into place; the PostgreSQL schema is created,
filled and stamped in one transaction. A failure leaves no file and no schema.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tenants.contract import TenantApp
from tenants.database import create_sqlite_engine
from tenants.registry.models import DEFAULT_DATABASE, Tenant
from tenants.storage import migrations

#: Fills a new tenant's storage (the owner account) inside the creating transaction.
Populate = Callable[[Session], None]
#: Loads rows into a storage being restored, inside the creating transaction.
Load = Callable[[Connection], None]

#: The first key of every per-tenant advisory lock ("tenM" in ASCII); the second is the
#: tenant id. Two-key locks live in their own space, apart from one-key locks of others.
MIGRATION_LOCK_CLASS = 0x74656E4D


class TenantBusy(RuntimeError):
    """Another process is migrating this tenant right now (it holds the tenant's lock)."""


class MissingStorage(FileNotFoundError):
    """The registry says the tenant has storage, but its file or schema is not there."""


class TenantStorage(ABC):
    """The storage of every tenant on one kind of database.

    What a tenant's storage holds comes from the tenant app: its tables
    (``tenant_app.metadata``) and its Alembic history (``tenant_app.migrations``).
    """

    kind: str
    tenant_app: TenantApp

    @abstractmethod
    def location(self, tenant_id: int) -> str:
        """The file path or schema name of a tenant's storage (for people and tests)."""

    @abstractmethod
    def engine_for(self, tenant_id: int) -> Engine:
        """The engine a tenant app uses; hand it back to :meth:`release` when done."""

    @abstractmethod
    def release(self, engine: Engine) -> None:
        """Free what :meth:`engine_for` made (a no-op where engines share one pool)."""

    @abstractmethod
    def create(self, tenant_id: int, populate: Populate) -> str:
        """Create, fill and stamp a tenant's storage, all or nothing; return its revision."""

    @abstractmethod
    def restore(self, tenant_id: int, revision: str, load: Load) -> str:
        """Create the storage at ``revision``, ``load`` rows into it, migrate it to the head.

        All or nothing, like :meth:`create`; returns the revision after (the head).
        """

    @abstractmethod
    def drop(self, tenant_id: int) -> None:
        """Remove a tenant's storage and everything in it (idempotent)."""

    @abstractmethod
    def exists(self, tenant_id: int) -> bool: ...

    @abstractmethod
    def migrate(self, tenant_id: int) -> str | None:
        """Apply pending tenant revisions in one transaction; return the revision after.

        Holds the tenant's migration lock while it runs, so two runs (two ``tenants
        migrate`` processes, or two workers of one) never migrate one tenant at once: the
        second raises :class:`TenantBusy` at once instead of waiting. On SQLite a missing
        file is built from the history (callers that must not create one check
        :meth:`exists` first); on PostgreSQL a missing schema raises
        :class:`MissingStorage`.
        """

    @abstractmethod
    def revision(self, tenant_id: int) -> str | None:
        """The revision recorded in the tenant's storage."""

    @abstractmethod
    def existing_ids(self) -> set[int]:
        """Tenant ids that have storage, to find orphans."""

    def partial_ids(self) -> set[int]:
        """Tenant ids with storage left half-built by a process that died while building it.

        None by default: a backend that builds in one transaction leaves nothing.
        """
        return set()

    def forget(self, tenant_id: int) -> None:  # noqa: B027 - optional hook, no-op by default
        """Drop anything cached about where the tenant's storage is (it may move)."""

    def place(self, tenant_id: int, database: str) -> None:  # noqa: B027 - optional hook
        """Note where the tenant's storage lives, from a fresher registry record."""


class SQLiteStorage(TenantStorage):
    """One SQLite file per tenant, beside the platform database file."""

    kind = "sqlite"
    _FILE = re.compile(r"^tenant-(\d+)\.db$")
    _BUILDING = re.compile(r"^tenant-(\d+)\.db\.building-[0-9a-f]+(?:-wal|-shm|-journal)?$")

    def __init__(self, directory: Path, tenant_app: TenantApp) -> None:
        self.directory = directory
        self.tenant_app = tenant_app

    @classmethod
    def beside(cls, platform_url: str, fallback: Path, tenant_app: TenantApp) -> SQLiteStorage:
        database = make_url(platform_url).database
        if database and database != ":memory:":
            return cls(Path(database).resolve().parent, tenant_app)
        return cls(fallback, tenant_app)

    def location(self, tenant_id: int) -> str:
        return str(self.directory / f"tenant-{tenant_id}.db")

    def _url(self, path: str | Path) -> str:
        return f"sqlite:///{path}"

    def engine_for(self, tenant_id: int) -> Engine:
        return create_sqlite_engine(self._url(self.location(tenant_id)))

    def release(self, engine: Engine) -> None:
        engine.dispose()

    def create(self, tenant_id: int, populate: Populate) -> str:
        return self._build(
            tenant_id, lambda connection: _fill(self.tenant_app, connection, populate, schema=None)
        )

    def restore(self, tenant_id: int, revision: str, load: Load) -> str:
        return self._build(
            tenant_id,
            lambda connection: _fill_at(self.tenant_app, connection, revision, load, schema=None),
        )

    def _build(self, tenant_id: int, fill: Callable[[Connection], str]) -> str:
        final = Path(self.location(tenant_id))
        if final.exists():
            raise FileExistsError(f"{final} already exists; remove it or pick another tenant id.")
        self.directory.mkdir(parents=True, exist_ok=True)
        building = final.with_name(f"{final.name}.building-{secrets.token_hex(4)}")
        engine = create_sqlite_engine(self._url(building))
        try:
            with engine.begin() as connection:
                revision = fill(connection)
            engine.dispose()
            # Fold the WAL into the file so that one rename moves the whole database.
            _checkpoint(building)
            os.replace(building, final)
        except BaseException:
            engine.dispose()
            _remove_sqlite_files(building)
            raise
        return revision

    def drop(self, tenant_id: int) -> None:
        """Remove the tenant's file and any half-built one a dead process left."""
        final = Path(self.location(tenant_id))
        _remove_sqlite_files(final)
        Path(f"{final}.lock").unlink(missing_ok=True)
        if self.directory.exists():
            for path in self.directory.glob(f"{final.name}.building-*"):
                if self._BUILDING.match(path.name):
                    path.unlink(missing_ok=True)

    def exists(self, tenant_id: int) -> bool:
        return Path(self.location(tenant_id)).exists()

    def migrate(self, tenant_id: int) -> str | None:
        with self._migration_lock(tenant_id):
            return self._migrate(tenant_id)

    @contextlib.contextmanager
    def _migration_lock(self, tenant_id: int) -> Iterator[None]:
        """An exclusive ``flock`` on ``tenant-N.db.lock`` beside the tenant's file.

        A file of its own, not the database file: closing any descriptor of a file drops
        every POSIX lock the process holds on it, SQLite's own included. The kernel frees
        the lock when its holder dies, so a killed run never leaves a tenant locked.
        """
        descriptor = os.open(
            f"{self.location(tenant_id)}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TenantBusy(
                    f"another run is migrating tenant {tenant_id} (it holds its lock)"
                ) from None
            yield
        finally:
            os.close(descriptor)

    def _migrate(self, tenant_id: int) -> str | None:
        engine = self.engine_for(tenant_id)
        try:
            with engine.begin() as connection:
                return migrations.upgrade(
                    self.tenant_app.migrations, connection, metadata=self.tenant_app.metadata
                )
        finally:
            engine.dispose()

    def revision(self, tenant_id: int) -> str | None:
        engine = self.engine_for(tenant_id)
        try:
            with engine.connect() as connection:
                return migrations.current_revision(connection)
        finally:
            engine.dispose()

    def existing_ids(self) -> set[int]:
        return self._ids_matching(self._FILE)

    def partial_ids(self) -> set[int]:
        """Ids with a ``tenant-N.db.building-*`` file: a build that a dead process left."""
        return self._ids_matching(self._BUILDING)

    def _ids_matching(self, pattern: re.Pattern[str]) -> set[int]:
        if not self.directory.exists():
            return set()
        return {
            int(match.group(1))
            for name in os.listdir(self.directory)
            if (match := pattern.match(name))
        }


class PostgresStorage(TenantStorage):
    """One schema per tenant, all served through the process's shared pools.

    Queries name the schema in their SQL (``schema_translate_map``), so no connection
    carries a ``search_path`` from one tenant to the next, and a transaction-mode
    pooler in front of PostgreSQL is safe.

    Tenant schemas may live in more than one database: the registry row says which
    (``tenants.database``), and each process keeps one pool per database, so
    connections grow with databases, never with tenants.
    """

    kind = "postgresql"
    _SCHEMA = re.compile(r"^tenant_(\d+)$")
    _PLACEMENT = select(Tenant.database).where(Tenant.id == bindparam("tenant_id"))
    _LOCK_AND_CHECK = text(
        "SELECT pg_try_advisory_xact_lock(:class, :tenant), "
        "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :schema)"
    )

    def __init__(
        self,
        engine: Engine,
        tenant_app: TenantApp,
        databases: Mapping[str, Engine] | None = None,
    ) -> None:
        self.engine = engine
        self.tenant_app = tenant_app
        self.databases: dict[str, Engine] = {DEFAULT_DATABASE: engine, **(databases or {})}
        self._placement: dict[int, str] = {}

    def location(self, tenant_id: int) -> str:
        return f"tenant_{int(tenant_id)}"

    def database_of(self, tenant_id: int) -> str:
        """The database holding the tenant's schema, read once from the registry."""
        name = self._placement.get(tenant_id)
        if name is None:
            with self.engine.connect() as connection:
                found = connection.execute(self._PLACEMENT, {"tenant_id": tenant_id}).scalar()
            name = self._placement[tenant_id] = found or DEFAULT_DATABASE
        return name

    def forget(self, tenant_id: int) -> None:
        self._placement.pop(tenant_id, None)

    def place(self, tenant_id: int, database: str) -> None:
        """Say where a tenant lives, from a registry row the caller has just read.

        Saves the placement query per tenant when a fleet run migrates many of them.
        """
        self._placement[tenant_id] = database

    def _engine(self, tenant_id: int) -> Engine:
        name = self.database_of(tenant_id)
        try:
            return self.databases[name]
        except KeyError:
            raise UnknownDatabase(
                f"Tenant {tenant_id} lives in database “{name}”, which TENANT_DATABASES does "
                f"not name; add {name}=postgresql://… to TENANT_DATABASES."
            ) from None

    def engine_for(self, tenant_id: int) -> Engine:
        # A lightweight copy of the shared engine: same pool, schema compiled into the SQL.
        return self._engine(tenant_id).execution_options(
            schema_translate_map={None: self.location(tenant_id)}
        )

    def release(self, engine: Engine) -> None:
        # The pool is shared by every tenant: nothing of this tenant's to dispose.
        return None

    def create(self, tenant_id: int, populate: Populate) -> str:
        schema = self.location(tenant_id)
        with self._engine(tenant_id).begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            return _fill(self.tenant_app, _in_schema(connection, schema), populate, schema=schema)

    def restore(self, tenant_id: int, revision: str, load: Load) -> str:
        schema = self.location(tenant_id)
        with self._engine(tenant_id).begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            return _fill_at(
                self.tenant_app, _in_schema(connection, schema), revision, load, schema=schema
            )

    #: Tables dropped per transaction when a schema is dropped (see :meth:`drop`).
    drop_batch_tables = 50

    def drop(self, tenant_id: int) -> None:
        """Drop the schema's tables a batch per transaction, then the (small) schema.

        One ``DROP SCHEMA ... CASCADE`` takes a lock per table, index and sequence in a
        single transaction, which fails with "out of shared memory" on a large schema
        (``max_locks_per_transaction``) and holds every lock until the end. In batches,
        each transaction locks at most ``drop_batch_tables`` tables and what hangs off
        them; what is left (views, types, functions) goes with the schema. Idempotent:
        an interrupted drop is finished by the next one.
        """
        drop_schema(self._engine(tenant_id), self.location(tenant_id), self.drop_batch_tables)

    def exists(self, tenant_id: int) -> bool:
        with self._engine(tenant_id).connect() as connection:
            return bool(
                connection.execute(
                    text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"),
                    {"schema": self.location(tenant_id)},
                ).scalar()
            )

    def migrate(self, tenant_id: int) -> str | None:
        """Migrate under a transaction-scoped advisory lock on the tenant's database.

        ``pg_try_advisory_xact_lock`` is released by the commit or rollback that ends the
        migration, or by the server when the connection dies, and is safe behind a
        transaction-mode pooler (a session-level lock would not be).
        """
        schema = self.location(tenant_id)
        with self._engine(tenant_id).begin() as connection:
            # One round trip: the lock, and whether the schema is there at all.
            locked, present = connection.execute(
                self._LOCK_AND_CHECK,
                {"class": MIGRATION_LOCK_CLASS, "tenant": int(tenant_id), "schema": schema},
            ).one()
            if not locked:
                raise TenantBusy(f"another run is migrating tenant {tenant_id} (it holds its lock)")
            if not present:
                raise MissingStorage(
                    f"its storage {schema} is missing; restore it, or delete the tenant"
                )
            return migrations.upgrade(
                self.tenant_app.migrations,
                _in_schema(connection, schema),
                schema=schema,
                metadata=self.tenant_app.metadata,
            )

    def revision(self, tenant_id: int) -> str | None:
        with self._engine(tenant_id).connect() as connection:
            return migrations.current_revision(connection, self.location(tenant_id))

    def existing_ids(self) -> set[int]:
        ids: set[int] = set()
        for engine in self.databases.values():
            with engine.connect() as connection:
                names = connection.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
                ).scalars()
                ids |= {int(m.group(1)) for name in names if (m := self._SCHEMA.match(name))}
        return ids


def drop_schema(engine: Engine, schema: str, batch_tables: int = 50) -> None:
    """Drop ``schema``'s tables ``batch_tables`` per transaction, then the schema (idempotent).

    See :meth:`PostgresStorage.drop` for why not one ``DROP SCHEMA ... CASCADE``.
    """
    while True:
        with engine.begin() as connection:
            tables = (
                connection.execute(
                    text(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = :schema "
                        "AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                        "ORDER BY c.relname LIMIT :batch"
                    ),
                    {"schema": schema, "batch": batch_tables},
                )
                .scalars()
                .all()
            )
            if not tables:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                return
            names = ", ".join(f'"{schema}"."{_quoted(name)}"' for name in tables)
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {names} CASCADE")


class UnknownDatabase(LookupError):
    """A tenant's registry row names a database this process was not configured with."""


def _in_schema(connection: Connection, schema: str) -> Connection:
    """Point a connection's current transaction at ``schema``.

    ``SET LOCAL`` ends with the transaction, so nothing reaches the next user of the
    pooled connection; it covers Alembic operations that do not name a schema
    (``op.add_column``), and the translate map covers everything SQLAlchemy compiles.
    """
    connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
    return connection.execution_options(schema_translate_map={None: schema})


def _fill(
    tenant_app: TenantApp, connection: Connection, populate: Populate, *, schema: str | None
) -> str:
    tenant_app.metadata.create_all(connection)
    revision = migrations.stamp_head(tenant_app.migrations, connection, schema)
    with Session(bind=connection) as session:
        populate(session)
        session.flush()
    return revision


def build_at(
    tenant_app: TenantApp, connection: Connection, revision: str, *, schema: str | None
) -> None:
    """Create the tenant app's tables in an empty storage as they were at ``revision``.

    At the head, from the models (``create_all``, then stamped); before it, by running
    the history up to ``revision``. ``connection`` points at the storage (``_in_schema``).
    """
    if revision == migrations.head_revision(tenant_app.migrations):
        tenant_app.metadata.create_all(connection)
        migrations.stamp_head(tenant_app.migrations, connection, schema)
    else:
        migrations.upgrade(
            tenant_app.migrations, connection, schema, metadata=tenant_app.metadata, to=revision
        )


def in_schema(connection: Connection, schema: str) -> Connection:
    """Public name of :func:`_in_schema` for the platform's other storage tools."""
    return _in_schema(connection, schema)


def _fill_at(
    tenant_app: TenantApp, connection: Connection, revision: str, load: Load, *, schema: str | None
) -> str:
    """Build the tables as they were at ``revision``, load rows, then migrate to the head."""
    build_at(tenant_app, connection, revision, schema=schema)
    load(connection)
    head = migrations.upgrade(
        tenant_app.migrations, connection, schema, metadata=tenant_app.metadata
    )
    return head or revision


def _quoted(identifier: str) -> str:
    """An identifier's text for inside double quotes."""
    return identifier.replace('"', '""')


def _checkpoint(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
