"""Moving a tenant's schema to another PostgreSQL database (``tenants move SLUG --to NAME``).

The steps, each recorded in the tenant's registry row (``move_state``) so that running
the command again after any failure or kill finishes or undoes the move:

1. **Lease**: ``move_state = {from, to}`` and a write lease (``write_lock_until``) in one
   registry write. Every process answers the tenant's writes "read-only for maintenance"
   within a poll interval; reads go on. The lease ends by itself: if the mover dies, the
   tenant is writable on its source again after at most ``lease_seconds``.
2. **Lock and copy**: after the lease has reached every process, the source tables are
   locked ``IN SHARE MODE`` in one transaction (reads go on; a write that slipped in
   before the lease was seen finishes first, one that comes later waits), then copied
   table by table with ``COPY`` into a new schema on the target built at the same
   revision, all in one target transaction.
3. **Verify**: per table, the row count and an MD5 of every row (in primary-key order)
   on both sides; any difference rolls the target back. Then the target commits.
4. **Flip**: ``database = to``, the lease cleared and ``move_state.flipped`` in one
   registry write: every process switches within a poll interval (the record carries the
   database; building the tenant's app places its engine there). The tenant is writable
   again, on the target.
5. **Retire the source**: the mover waits for the flip to reach every process while
   still holding the source's locks, then renames the old schema (a write that waited
   on the locks now fails instead of landing in the old copy) and commits; the renamed
   copy is dropped a batch of tables at a time, and ``move_state`` is cleared.

Writes are refused from step 1 to step 4: one poll interval for the lease to be seen,
then the copy and the check (benchmark figure 12: about three seconds for 100,000 rows
on a busy two-core machine; the goal is five).

Re-running: a move that never flipped is undone (the target's partial copy dropped, the
lease and state cleared) and then run again; one that flipped is finished (the old copy
dropped). A move to the database the tenant already lives on is refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from tenants.jobs.catalog import platform_job
from tenants.jobs.context import JobContext
from tenants.registry import service
from tenants.registry.models import Tenant, TenantStatus, utcnow
from tenants.storage import migrations
from tenants.storage.archive import _advance_sequences, storage_tables
from tenants.storage.backends import build_at, drop_schema, in_schema

if TYPE_CHECKING:
    from tenants.kernel import Platform

log = logging.getLogger(__name__)

#: Default length of the write lease: the longest a killed move keeps a tenant read-only.
LEASE_SECONDS = 60
#: The old copy's name while it waits to be dropped (writers that waited fail on it).
RETIRED_SUFFIX = "_moved"
#: Bytes sent to the target per write while copying a table.
_COPY_BLOCK = 1 << 20
#: The steps a test may stop a move at (``step_hook``).
STEPS = ("leased", "locked", "copied", "flipped", "retired")


class MoveError(ValueError):
    """The move cannot be made; the message says why and what to do."""


@dataclass
class MoveReport:
    slug: str
    source: str
    target: str
    rows: int = 0
    #: Seconds the tenant refused writes (lease taken → flip committed).
    write_window: float = 0.0
    #: What a re-run did about an earlier, interrupted move ("undone", "finished").
    recovered: str | None = None


def _propagation(platform: Platform) -> float:
    """How long until every process has seen a registry change (two polls and a margin)."""
    return 2 * platform.settings.registry_poll_seconds + 0.2


def _lease_seen(platform: Platform) -> float:
    """How long until every serving process refuses the tenant's writes.

    A process reads the change feed when a request finds its last poll older than
    ``REGISTRY_POLL_SECONDS``, so after one interval and a margin every request is
    answered from a poll that saw the lease. Nothing depends on it for correctness: a
    write that slipped in is waited for by the share locks (and copied) or waits for
    them (and then fails on the retired copy); the wait only makes those rare.
    """
    return platform.settings.registry_poll_seconds + 0.2


def _row(platform: Platform, slug: str) -> Tenant:
    with Session(platform.engine, expire_on_commit=False) as session:
        return service.get_live(session, slug)


def _engine(platform: Platform, name: str) -> Engine:
    databases: dict[str, Engine] = getattr(platform.storage, "databases", {})
    if name not in databases:
        known = ", ".join(sorted(databases)) or "none"
        raise MoveError(
            f"No database “{name}” is configured; TENANT_DATABASES (with “default”) names: {known}."
        )
    return databases[name]


def _schema_exists(engine: Engine, schema: str) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
            ).scalar()
        )


def database_overview(platform: Platform) -> list[dict[str, Any]]:
    """Each tenant database: name, live tenants on it, size in bytes (None if unreadable)."""
    databases: dict[str, Engine] = getattr(platform.storage, "databases", {})
    live = [str(status) for status in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)]
    with Session(platform.engine) as session:
        counts = dict(
            session.execute(
                select(Tenant.database, func.count())
                .where(Tenant.status.in_(live))
                .group_by(Tenant.database)
            ).all()
        )
    overview = []
    for name, engine in databases.items():
        size: int | None
        try:
            with engine.connect() as connection:
                size = connection.execute(
                    text("SELECT pg_database_size(current_database())")
                ).scalar()
        except Exception:  # an unreachable database is shown as such, not a broken page
            log.exception("Could not read the size of tenant database %s", name)
            size = None
        overview.append({"name": name, "tenants": counts.get(name, 0), "size": size})
    return overview


def move_tenant(
    platform: Platform,
    slug: str,
    to: str,
    *,
    actor: str = "cli",
    lease_seconds: float = LEASE_SECONDS,
    step_hook: Callable[[str], None] | None = None,
) -> MoveReport:
    """Move tenant ``slug``'s schema to database ``to`` (see the module docstring)."""
    hook = step_hook or (lambda step: None)
    if platform.storage.kind != "postgresql":
        raise MoveError("Moving tenants between databases needs PostgreSQL and TENANT_DATABASES.")
    target_engine = _engine(platform, to)
    row = _row(platform, slug)
    report = MoveReport(slug=row.slug, source=row.database, target=to)
    if row.move_state:
        report.recovered = _recover(platform, row, actor)
        row = _row(platform, slug)
        report.source = row.database
        if report.recovered == "finished" and row.database == to:
            platform.storage.place(row.id, row.database)
            return report
    platform.storage.place(row.id, row.database)  # this process may have placed it before
    if row.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        raise MoveError(f"Tenant “{row.slug}” is {row.status}; only a live tenant can move.")
    if row.database == to:
        raise MoveError(f"Tenant “{row.slug}” already lives on database “{to}”; nothing to move.")
    source = row.database
    source_engine = _engine(platform, source)
    schema = platform.storage.location(row.id)

    started = time.monotonic()
    _lease(platform, row.id, source, to, lease_seconds, actor)
    try:
        hook("leased")
        time.sleep(_lease_seen(platform))
        with source_engine.connect() as source_connection, source_connection.begin():
            rows = _lock_and_copy(platform, row.id, source_connection, target_engine, schema, hook)
            report.rows = rows
            _flip(platform, row.id, to, rows, actor)
            report.write_window = time.monotonic() - started
            hook("flipped")
            # Readers that have not seen the flip still read the old copy meanwhile.
            time.sleep(_propagation(platform))
            source_connection.exec_driver_sql(
                f'ALTER SCHEMA "{schema}" RENAME TO "{schema}{RETIRED_SUFFIX}"'
            )
    except BaseException:
        if not _flipped(platform, row.id):
            _undo(platform, row.id, target_engine, schema, actor)
        raise
    hook("retired")
    _retire(platform, row.id, source_engine, schema, actor)
    return report


def _lease(
    platform: Platform, tenant_id: int, source: str, to: str, seconds: float, actor: str
) -> None:
    def lease(session: Session) -> None:
        tenant = session.get_one(Tenant, tenant_id, with_for_update=True)
        if tenant.move_state:
            raise MoveError(f"Tenant “{tenant.slug}” is being moved by another process.")
        tenant.move_state = {"from": source, "to": to, "started": utcnow().isoformat()}
        tenant.write_lock_until = utcnow() + timedelta(seconds=seconds)
        service.touch(session, tenant)
        service.audit(session, actor, "tenant.move_start", tenant, source=source, target=to)

    service.write(platform.engine, lease)
    platform.registry.invalidate()


def _lock_and_copy(
    platform: Platform,
    tenant_id: int,
    source: Connection,
    target_engine: Engine,
    schema: str,
    hook: Callable[[str], None],
) -> int:
    """Lock the source's tables, copy them into a new target schema, verify; return rows."""
    source.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
    tables = storage_tables(source, schema)
    if tables:
        names = ", ".join(f'"{schema}"."{table.name}"' for table in tables)
        source.exec_driver_sql(f"LOCK TABLE {names} IN SHARE MODE")
    hook("locked")
    revision = migrations.current_revision(source, schema)
    if revision is None:
        raise MoveError(f"Schema {schema} records no revision; run 'tenants migrate' first.")
    # The source cannot change while its share locks are held, so another connection
    # fingerprints it while this one copies.
    with ThreadPoolExecutor(max_workers=1) as pool:
        source_digest = pool.submit(_fingerprints_on, source.engine, schema, tables)
        with target_engine.begin() as target:
            target.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            target = in_schema(target, schema)
            build_at(platform.tenant_app, target, revision, schema=schema)
            for table in tables:
                _copy_table(source, target, schema, table)
            _advance_sequences(target, schema, storage_tables(target, schema))
            copied = _fingerprints(target, schema, tables)
            expected = source_digest.result()
            if copied != expected:  # raised inside the target's transaction: rolled back
                different = sorted(n for n in expected if copied.get(n) != expected[n])
                raise MoveError(
                    f"The copy of {schema} differs from its source in {', '.join(different)}; "
                    "nothing was moved."
                )
            hook("copied")
    return sum(count for count, _digest in expected.values())


def _copy_table(source: Connection, target: Connection, schema: str, table: Any) -> None:
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    qualified = f'"{schema}"."{table.name}"'
    reader = source.connection.driver_connection.cursor()  # type: ignore[union-attr]
    writer = target.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with (
        reader.copy(f"COPY {qualified} ({columns}) TO STDOUT (FORMAT binary)") as out,
        writer.copy(f"COPY {qualified} ({columns}) FROM STDIN (FORMAT binary)") as into,
    ):
        # The reader yields a row at a time; the writer is sent a megabyte at a time.
        block = bytearray()
        for chunk in out:
            block += chunk
            if len(block) >= _COPY_BLOCK:
                into.write(bytes(block))
                block.clear()
        if block:
            into.write(bytes(block))


def _fingerprints_on(engine: Engine, schema: str, tables: list[Any]) -> dict[str, tuple]:
    with engine.connect() as connection:
        return _fingerprints(connection, schema, tables)


def _fingerprints(connection: Connection, schema: str, tables: list[Any]) -> dict[str, tuple]:
    found = {}
    for table in tables:
        order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns) or "t::text"
        count, digest = connection.execute(
            text(
                "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY "
                f'{order})), \'\') FROM "{schema}"."{table.name}" AS t'
            )
        ).one()
        found[table.name] = (count, digest)
    return found


def _flip(platform: Platform, tenant_id: int, to: str, rows: int, actor: str) -> None:
    def flip(session: Session) -> None:
        tenant = session.get_one(Tenant, tenant_id, with_for_update=True)
        state = dict(tenant.move_state or {})
        tenant.database = to
        tenant.write_lock_until = None
        tenant.move_state = {**state, "flipped": True}
        service.touch(session, tenant)
        service.audit(session, actor, "tenant.move_flip", tenant, target=to, rows=rows)

    service.write(platform.engine, flip)
    platform.storage.place(tenant_id, to)
    platform.apps.discard(tenant_id)
    platform.registry.invalidate()


def _flipped(platform: Platform, tenant_id: int) -> bool:
    with Session(platform.engine) as session:
        state = session.get_one(Tenant, tenant_id).move_state or {}
    return bool(state.get("flipped"))


def _undo(
    platform: Platform, tenant_id: int, target_engine: Engine, schema: str, actor: str
) -> None:
    """Before the flip: drop the target's (partial) copy, clear the lease and the state."""
    try:
        drop_schema(target_engine, schema)
    except Exception:
        log.exception("Could not drop the partial copy %s; 'tenants move' again drops it.", schema)
        return

    def clear(session: Session) -> None:
        tenant = session.get_one(Tenant, tenant_id, with_for_update=True)
        if tenant.move_state and not tenant.move_state.get("flipped"):
            tenant.move_state = None
            tenant.write_lock_until = None
            service.touch(session, tenant)
            service.audit(session, actor, "tenant.move_undone", tenant)

    service.write(platform.engine, clear)
    platform.registry.invalidate()


def _retire(
    platform: Platform, tenant_id: int, source_engine: Engine, schema: str, actor: str
) -> None:
    """After the flip: drop the old copy (renamed or not) and clear the move's state."""
    for name in (f"{schema}{RETIRED_SUFFIX}", schema):
        drop_schema(source_engine, name)

    def clear(session: Session) -> None:
        tenant = session.get_one(Tenant, tenant_id, with_for_update=True)
        if tenant.move_state:
            tenant.move_state = None
            service.touch(session, tenant)
            service.audit(session, actor, "tenant.move_done", tenant, target=tenant.database)

    service.write(platform.engine, clear)
    platform.registry.invalidate()


def _recover(platform: Platform, row: Tenant, actor: str) -> str:
    """Finish (flipped) or undo (not flipped) a move a dead process left; say which."""
    state = row.move_state or {}
    schema = platform.storage.location(row.id)
    if state.get("flipped"):
        source = str(state.get("from"))
        _retire(platform, row.id, _engine(platform, source), schema, actor)
        return "finished"
    target = str(state.get("to"))
    _undo(platform, row.id, _engine(platform, target), schema, actor)
    if _row(platform, row.slug).move_state:
        raise MoveError(
            f"The interrupted move of “{row.slug}” could not be undone; see the log, then "
            "run the command again."
        )
    return "undone"


@platform_job("platform.move_tenant", max_attempts=1)
def move_tenant_job(ctx: JobContext, slug: str, to: str, requested_by: str) -> dict[str, Any]:
    """Move a tenant to another database, as asked from the admin console."""
    report = move_tenant(ctx.platform, slug, to, actor=requested_by)
    return {
        "slug": report.slug,
        "from": report.source,
        "to": report.target,
        "rows": report.rows,
        "write_window_seconds": round(report.write_window, 3),
        "recovered": report.recovered,
    }
