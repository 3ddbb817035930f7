"""Figure 7b, fleet migrations at size: ``tenants migrate --jobs 2`` applying one new
revision (a column and an index) to 10,000 PostgreSQL tenants, and ``tenants migrate``
with nothing pending over N registry rows (``--fleet N``; 1,000,000 only when asked).

How each figure is taken:

- **One revision, 10,000 tenants**: registry rows inserted in one statement, each
  tenant's schema built from the tenant app's tables compiled once to DDL (what
  ``storage.create`` builds, stamped at the shipped head, minus the owner account);
  then a copy of the tenant history with one more revision (``ADD COLUMN`` with a
  default, ``CREATE INDEX``) is deployed and the CLI runs in this process with
  ``--jobs 2`` (two spawned workers, one per core). Every tenant is checked afterwards.
  ``--quick`` builds 200 tenants and scales the time to 10,000 (linearly).
- **Nothing pending**: ``tenants migrate`` (platform migrations check included) over a
  registry whose every row is at the head, median of 3 runs. With ``--fleet N`` on N
  registry rows without storage (inserted by ``generate_series``); otherwise on the
  10,000 tenants just migrated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from tenants.kernel import Platform
from tenants.storage import migrations
from tests.benchmarks.environment import open_platform, postgres_database
from tests.benchmarks.harness import Context, median, timed
from tests.benchmarks.inprocess import BenchmarkError
from tests.benchmarks.scale import insert_fleet

KEYS = ("migrations.postgres_jobs", "migrations.noop")
TENANTS = 10_000
JOBS = 2
REVISION = "9998_benchmark_notes_rank"
_SOURCE = '''"""Benchmark only: notes.rank with an index (a temporary revision, never shipped)

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("rank", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_notes_rank", "notes", ["rank"])


def downgrade() -> None:
    op.drop_index("ix_notes_rank", table_name="notes")
    op.drop_column("notes", "rank")
'''


@contextlib.contextmanager
def new_revision(platform: Platform) -> Iterator[str]:
    """Deploy a copy of the tenant history with one more revision (column + index)."""
    original = platform.tenant_app
    head = migrations.head_revision(original.migrations)
    with tempfile.TemporaryDirectory(prefix="tenants-bench-history-") as directory:
        copy = Path(directory) / "tenant"
        shutil.copytree(original.migrations, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "versions" / f"{REVISION}.py").write_text(
            _SOURCE.format(revision=REVISION, down=head)
        )
        deployed = dataclasses.replace(original, migrations=copy)
        platform.tenant_app = platform.storage.tenant_app = deployed
        migrations.forget_scripts()
        try:
            yield REVISION
        finally:
            platform.tenant_app = platform.storage.tenant_app = original
            migrations.forget_scripts()


def tenant_ddl(platform: Platform, head: str) -> str:
    """The statements that build one tenant's tables, stamped at ``head``, unqualified."""
    dialect = postgresql.dialect()
    statements = []
    for table in platform.tenant_app.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(
            str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes
        )
    statements.append(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    statements.append(f"INSERT INTO alembic_version VALUES ('{head}')")
    return ";\n".join(statements)


def build_fleet(url: str, platform: Platform, count: int, log: Any) -> float:
    """``count`` active tenants at the shipped head, each with its schema; seconds taken."""
    head = migrations.head_revision(platform.tenant_app.migrations)
    started = time.perf_counter()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (slug, display_name, status, plan, settings, database, "
                    "storage_revision, created_at, updated_at, version) "
                    "SELECT 'mig-' || lpad(n::text, 6, '0'), 'Tenant ' || n, 'active', 'free', "
                    "'{}', 'default', :head, now(), now(), n FROM generate_series(1, :count) n"
                ),
                {"head": head, "count": count},
            )
            ids = list(connection.execute(sa.text("SELECT id FROM tenants ORDER BY id")).scalars())
        ddl = tenant_ddl(platform, head)
        for start in range(0, len(ids), 50):
            with engine.begin() as connection:
                for tenant_id in ids[start : start + 50]:
                    connection.exec_driver_sql(f'CREATE SCHEMA "tenant_{tenant_id}"')
                    connection.exec_driver_sql(f'SET LOCAL search_path TO "tenant_{tenant_id}"')
                    connection.exec_driver_sql(ddl)
            if start and start % 2000 == 0:
                log(f"  {start:,} tenant schemas built ...")
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE tenants"
            )
    finally:
        engine.dispose()
    return time.perf_counter() - started


def run_cli(platform: Platform, *args: str) -> str:
    result = platform.console.test_cli_runner().invoke(args=["tenants", "migrate", *args])
    if result.exit_code != 0:
        raise BenchmarkError(
            f"tenants migrate exited {result.exit_code}: {(result.output or '')[-400:]}"
            f"{result.exception!r}"
        )
    return result.output


def migrations_at_size(ctx: Context) -> None:
    jobs_figure, noop = (ctx.figures[key] for key in KEYS)
    if ctx.postgres_missing:
        jobs_figure.note = noop.note = f"skipped: {ctx.postgres_missing}"
        return
    count = ctx.pick(200, TENANTS)
    scale = TENANTS / count
    with postgres_database("migrations") as url, open_platform(url) as platform:
        ctx.log(f"  building {count:,} tenant schemas ...")
        built = build_fleet(url, platform, count, ctx.log)
        ctx.log(f"  built in {built:.0f} s; migrating with --jobs {JOBS} ...")
        with new_revision(platform) as head:
            elapsed = timed(lambda: run_cli(platform, "--jobs", str(JOBS)))
            with platform.engine.connect() as connection:
                behind = connection.execute(
                    sa.text("SELECT count(*) FROM tenants WHERE storage_revision <> :head"),
                    {"head": head},
                ).scalar_one()
                ids = list(connection.execute(sa.text("SELECT id FROM tenants")).scalars())
            if behind:
                raise BenchmarkError(f"{behind} tenants are not at {head} after the run")
            for tenant_id in (ids[0], ids[len(ids) // 2], ids[-1]):
                if platform.storage.revision(tenant_id) != head:
                    raise BenchmarkError(f"tenant {tenant_id} was not migrated to {head}")
            jobs_figure.value = elapsed * scale
            jobs_figure.detail = {
                "tenants_measured": count,
                "scale_factor": scale,
                "jobs": JOBS,
                "build_s": round(built, 1),
                "per_tenant_ms": round(elapsed / count * 1000, 2),
            }
            scaled = f"measured on {count:,} tenants, scaled x{scale:g}; " if scale != 1 else ""
            jobs_figure.note = f"{scaled}{elapsed / count * 1000:.1f} ms per tenant; CLI in-process"
            if not ctx.fleet:
                runs = [timed(lambda: run_cli(platform)) for _ in range(3)]
                noop.value = median(runs)
                noop.title = noop.title.replace("N registry rows", f"{count:,} tenants")
                noop.detail = {"tenants": count, "runs_s": [round(run, 3) for run in runs]}
                noop.note = "median of 3; --fleet 1000000 measures a million registry rows"
    if ctx.fleet:
        noop_at_size(ctx, ctx.fleet)


def noop_at_size(ctx: Context, rows: int) -> None:
    noop = ctx.figures["migrations.noop"]
    noop.title = noop.title.replace("N registry rows", f"{rows:,} registry rows")
    with postgres_database("noop") as url, open_platform(url) as platform:
        ctx.log(f"  inserting {rows:,} registry rows ...")
        inserted = insert_fleet(url, rows)
        head = migrations.head_revision(platform.tenant_app.migrations)
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text("UPDATE tenants SET storage_revision = :h"), {"h": head})
            connection.exec_driver_sql("VACUUM ANALYZE tenants")
        engine.dispose()
        ctx.log(f"  inserted in {inserted:.0f} s; tenants migrate with nothing pending ...")
        runs = [timed(lambda: run_cli(platform)) for _ in range(3)]
        output = run_cli(platform)
        if "nothing to migrate" not in output:
            raise BenchmarkError(f"expected nothing to migrate: {output[-200:]}")
    noop.value = median(runs)
    noop.detail = {"rows": rows, "runs_s": [round(run, 3) for run in runs]}
    noop.note = "median of 3; registry rows without storage, all at the head; CLI in-process"
