"""Figure 7, the fleet: ``tenants migrate`` over 1,000 tenants, with one new revision and
with nothing pending, on SQLite and PostgreSQL.

The new revision lives in a temporary copy of the tenant history; the run points the
platform's tenant app at it and restores it afterwards. In
--quick mode fewer tenants are migrated and the time is scaled to 1,000 (linearly).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from tenants.kernel import Platform
from tenants.storage import migrations
from tests.benchmarks.environment import FAST_HASH, database, open_platform, provision
from tests.benchmarks.harness import Context, median, timed
from tests.benchmarks.inprocess import BenchmarkError

FLEET = 1000
EXTRA_REVISION = "9999_benchmark_notes_title"
_REVISION_SOURCE = '''"""Benchmark only: index notes by title (a temporary revision, never shipped)

Revision ID: {revision}
Revises: {down}
"""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_benchmark_notes_title", "notes", ["title"])


def downgrade() -> None:
    op.drop_index("ix_benchmark_notes_title", table_name="notes")
'''


@contextlib.contextmanager
def extra_tenant_revision(platform: Platform) -> Iterator[str]:
    """Point the platform's tenant app at a copy of its history with one more revision."""
    original = platform.tenant_app
    head = migrations.head_revision(original.migrations)
    with tempfile.TemporaryDirectory(prefix="tenants-bench-migrations-") as directory:
        copy = Path(directory) / "tenant"
        shutil.copytree(original.migrations, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "versions" / f"{EXTRA_REVISION}.py").write_text(
            _REVISION_SOURCE.format(revision=EXTRA_REVISION, down=head)
        )
        deployed = dataclasses.replace(original, migrations=copy)
        platform.tenant_app = platform.storage.tenant_app = deployed
        migrations.forget_scripts()
        try:
            yield EXTRA_REVISION
        finally:
            platform.tenant_app = platform.storage.tenant_app = original
            migrations.forget_scripts()


def migrate_command_available() -> bool:
    from tenants.cli import tenants_cli

    return "migrate" in tenants_cli.commands


def run_migrate(platform: Platform) -> None:
    result = platform.console.test_cli_runner().invoke(args=["tenants", "migrate"])
    if result.exit_code != 0:
        raise BenchmarkError(
            f"tenants migrate exited {result.exit_code}: {(result.output or '')[-300:]}"
            f"{result.exception!r}"
        )


def migrate_by_storage_loop(platform: Platform, ids: list[int]) -> None:
    """What the CLI has to do at least: each tenant's storage, one by one (a proxy)."""
    for tenant_id in ids:
        platform.storage.migrate(tenant_id)


def fleet(ctx: Context) -> None:
    available = migrate_command_available()
    if not available:
        ctx.missing.append("fleet (tenants migrate)")
    count = ctx.pick(50, FLEET)
    scale = FLEET / count
    for backend in ("sqlite", "postgres"):
        pending = ctx.figures[f"fleet.{backend}_pending"]
        noop = ctx.figures[f"fleet.{backend}_noop"]
        if backend == "postgres" and ctx.postgres_missing:
            pending.note = noop.note = f"skipped: {ctx.postgres_missing}"
            continue
        with (
            database(backend, "fleet") as url,
            open_platform(url, password_hash_method=FAST_HASH) as platform,
        ):
            started = time.perf_counter()
            ids = [provision(platform, f"fleet-{index:04d}").id for index in range(count)]
            setup = time.perf_counter() - started
            with extra_tenant_revision(platform) as revision:
                migrate = (
                    partial(run_migrate, platform)
                    if available
                    else partial(migrate_by_storage_loop, platform, ids)
                )
                pending_s = timed(migrate)
                for tenant_id in (ids[0], ids[-1]):
                    if platform.storage.revision(tenant_id) != revision:
                        raise BenchmarkError(f"tenant {tenant_id} was not migrated to {revision}")
                noop_runs = [timed(migrate) for _ in range(ctx.pick(3, 5))]
        values: dict[str, Any] = {
            "pending": pending_s * scale,
            "noop": median(noop_runs) * scale,
        }
        detail = {
            "tenants_measured": count,
            "scaled_to": FLEET,
            "scale_factor": scale,
            "setup_s": round(setup, 1),
            "noop_runs_s": [round(value, 3) for value in noop_runs],
        }
        scaled = f"measured on {count} tenants, scaled x{scale:g}; " if scale != 1 else ""
        if available:
            pending.value, noop.value = values["pending"], values["noop"]
            pending.detail = noop.detail = detail
            pending.note = f"{scaled}one run (the revision applies once); CLI in-process"
            noop.note = f"{scaled}median of {len(noop_runs)} runs"
        else:
            proxy = (
                f"pending: 'tenants migrate' does not exist yet; proxy (storage.migrate per "
                f"tenant, {scaled.rstrip('; ')}): "
            )
            pending.note = proxy + f"{values['pending']:.2f} s"
            noop.note = proxy + f"{values['noop']:.2f} s"
            pending.detail = {**detail, "proxy_s": round(values["pending"], 2)}
            noop.detail = {**detail, "proxy_s": round(values["noop"], 2)}
