"""Figure 12, a tenant's data (issue 15): backup, restore and export throughput, and the
write-unavailable window of a move, for one tenant with 100,000 notes on PostgreSQL.

The tenant's notes are inserted in one ``INSERT ... SELECT generate_series`` (each note a
title and a 200-character body, as a workspace's notes are). Backup: ``tenants backup``'s
function to a file (one snapshot, JSON Lines in a ZIP); restore: that file into a new
tenant (checked, loaded, read back and compared, migrated); export: the customer's ZIP
(JSON Lines and CSV, the contract's columns). The move goes between two databases of
one server and back; its window is from the write lease to the registry flip (what the
tenant refuses writes for; a process sees the flip at its next poll, 0.5 s at most).
``--quick``: 5,000 notes, one repetition.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from tenants import backups, exports, lifecycle, moves
from tests.benchmarks.environment import FAST_HASH, database, open_platform, provision
from tests.benchmarks.harness import Context, median

ROWS = 100_000
KEYS = (
    "datalife.backup",
    "datalife.restore",
    "datalife.export",
    "datalife.move_window",
)


def _fill(platform, tenant_id: int, rows: int) -> None:
    schema = platform.storage.location(tenant_id)
    engine = platform.storage.engine_for(tenant_id)
    with engine.begin() as connection:
        connection.execute(
            text(
                f'INSERT INTO "{schema}".notes (title, body, author_id, created_at, updated_at) '
                "SELECT 'Note ' || n, repeat('lorem ipsum ', 17), 1, now(), now() "
                "FROM generate_series(1, :rows) AS n"
            ),
            {"rows": rows},
        )
    platform.storage.release(engine)


def datalife(ctx: Context) -> None:
    if ctx.postgres_missing:
        for key in KEYS:
            ctx.figures[key].note = "skipped: no PostgreSQL"
        return
    rows = ctx.pick(5_000, ROWS)
    repetitions = ctx.pick(1, 3)
    with (
        database("postgres", "datalife") as url,
        database("postgres", "datalife_second") as second,
        open_platform(
            url, tenant_databases={"second": second}, password_hash_method=FAST_HASH
        ) as platform,
        tempfile.TemporaryDirectory(prefix="tenants-bench-datalife-") as directory,
    ):
        tenant = provision(platform, "bench")
        _fill(platform, tenant.id, rows)
        total = rows + 1  # and the owner
        backup_times, restore_times, export_times, windows = [], [], [], []
        for number in range(repetitions):
            target = Path(directory) / f"backup-{number}.zip"
            started = time.perf_counter()
            backups.backup_tenant(platform, "bench", target, actor="benchmark")
            backup_times.append(time.perf_counter() - started)

            started = time.perf_counter()
            copy = backups.restore_tenant(platform, target, f"bench-copy-{number}")
            restore_times.append(time.perf_counter() - started)
            lifecycle.delete_tenant(platform, copy.slug)
            lifecycle.purge_tenant(platform, copy.slug, confirm=copy.slug)

            started = time.perf_counter()
            exports.build_export(platform, tenant.id, "benchmark")
            export_times.append(time.perf_counter() - started)

            here = platform.registry.get("bench") or tenant
            there = "second" if getattr(here, "database", "default") == "default" else "default"
            report = moves.move_tenant(platform, "bench", there, actor="benchmark")
            windows.append(report.write_window)
        for key, times in (
            ("datalife.backup", backup_times),
            ("datalife.restore", restore_times),
            ("datalife.export", export_times),
        ):
            figure = ctx.figures[key]
            figure.value = round(total / median(times))
            figure.detail = {"rows": total, "seconds": [round(t, 3) for t in times]}
        window = ctx.figures["datalife.move_window"]
        window.value = round(median(windows), 3)
        window.detail = {
            "rows": total,
            "windows_s": [round(w, 3) for w in windows],
            "lease_wait_s": platform.settings.registry_poll_seconds + 0.2,
            "scaled_from": rows if rows != ROWS else None,
        }
        if rows != ROWS:
            window.note = f"{rows:,} rows (--quick)"
