"""What every benchmark shares: the figures and their goals, statistics, and the report.

A figure is one number with a unit and (usually) a goal. Every figure is the median
of repetitions; a comparison (A vs B) runs A, B, A, B, ... and takes the median of
the per-pair ratios, so both sides see the same machine load.
"""

from __future__ import annotations

import json
import os
import platform as python_platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = ROOT / "tests" / "benchmarks" / "results" / "latest.json"


@dataclass(frozen=True)
class Goal:
    """``value <op> bound``, e.g. ``Goal(">=", 0.97)``."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def text(self, unit: str) -> str:
        symbol = "≥" if self.op == ">=" else "≤"
        return f"{symbol} {format_value(self.bound, unit)}"


@dataclass
class Figure:
    key: str
    title: str
    unit: str
    goal: Goal | None = None
    value: float | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.value is None:
            return None
        return self.goal.met(self.value)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "figure": self.title,
            "value": self.value,
            "unit": self.unit,
            "goal": self.goal.text(self.unit) if self.goal else None,
            "goal_op": self.goal.op if self.goal else None,
            "goal_bound": self.goal.bound if self.goal else None,
            "met": self.met,
            "note": self.note,
            "detail": self.detail,
        }


#: Every figure the run reports, in table order: (key, title, unit, goal).
CATALOGUE: tuple[tuple[str, str, str, Goal | None], ...] = (
    (
        "dispatch.ratio",
        "1. Dispatch: platform / tenant app called directly (in-process)",
        "x",
        Goal(">=", 0.97),
    ),
    ("served.ratio", "2. Served (gunicorn): platform / bare Flask app", "x", Goal(">=", 0.90)),
    ("cold.create_app", "3. Cold tenant: create_app(tenant)", "ms", Goal("<=", 5.0)),
    ("cold.first_request", "3. Cold tenant: first request after eviction", "ms", None),
    ("memory.per_app", "4. Memory: RSS per cached tenant app", "KiB", Goal("<=", 150.0)),
    (
        "memory.unknown_hosts",
        "4. Memory: held after 30,000 unknown subdomains",
        "MiB",
        Goal("<=", 2.0),
    ),
    ("registry.hit", "5. Registry at 10,000 tenants: lookup, hit", "us", Goal("<=", 2.0)),
    ("registry.miss", "5. Registry at 10,000 tenants: lookup, miss", "us", Goal("<=", 50.0)),
    (
        "registry.admin_search",
        "5. Admin tenants list, search at 10,000 tenants, SQLite",
        "ms",
        Goal("<=", 50.0),
    ),
    (
        "registry.admin_search_postgres",
        "5. Admin tenants list, search at 10,000 tenants, PostgreSQL",
        "ms",
        Goal("<=", 50.0),
    ),
    ("provisioning.sqlite_p50", "6. Signup to first tenant response, SQLite p50", "ms", None),
    (
        "provisioning.sqlite_p95",
        "6. Signup to first tenant response, SQLite p95",
        "ms",
        Goal("<=", 100.0),
    ),
    ("provisioning.postgres_p50", "6. Signup to first tenant response, PostgreSQL p50", "ms", None),
    (
        "provisioning.postgres_p95",
        "6. Signup to first tenant response, PostgreSQL p95",
        "ms",
        Goal("<=", 250.0),
    ),
    (
        "provisioning.hashing",
        "6. ... of which the owner's password hash (default method)",
        "ms",
        None,
    ),
    (
        "fleet.sqlite_pending",
        "7. tenants migrate, 1,000 tenants, 1 new revision, SQLite",
        "s",
        None,
    ),
    (
        "fleet.sqlite_noop",
        "7. tenants migrate, 1,000 tenants, nothing pending, SQLite",
        "s",
        Goal("<=", 5.0),
    ),
    (
        "fleet.postgres_pending",
        "7. tenants migrate, 1,000 tenants, 1 new revision, PostgreSQL",
        "s",
        None,
    ),
    (
        "fleet.postgres_noop",
        "7. tenants migrate, 1,000 tenants, nothing pending, PostgreSQL",
        "s",
        Goal("<=", 5.0),
    ),
    (
        "migrations.postgres_jobs",
        "7. tenants migrate --jobs 2, 1 new revision (column + index), 10,000 tenants, PostgreSQL",
        "s",
        Goal("<=", 60.0),
    ),
    (
        "migrations.noop",
        "7. tenants migrate, nothing pending, N registry rows, PostgreSQL",
        "s",
        Goal("<=", 5.0),
    ),
    (
        "postgres.connections",
        "8. PostgreSQL connections, 2 workers serving 1,000 tenants",
        "count",
        Goal("<=", 20.0),
    ),
    ("postgres.memory", "8. PostgreSQL backend memory (private RSS), same load", "MiB", None),
    (
        "scale.rss",
        "9. Registry, N tenants: worker RSS over the same worker with 1 tenant",
        "MiB",
        Goal("<=", 64.0),
    ),
    (
        "scale.start",
        "9. Registry, N tenants: worker start to first answer",
        "s",
        Goal("<=", 1.0),
    ),
    ("scale.change", "9. Registry, N tenants: one change applied", "ms", Goal("<=", 1.0)),
    ("scale.hit", "9. Registry, N tenants: lookup, warm known tenant", "us", Goal("<=", 2.0)),
    ("scale.miss", "9. Registry, N tenants: lookup, unknown name", "us", Goal("<=", 50.0)),
    (
        "scale.flood_queries",
        "9. Registry, N tenants: queries per 1,000 unknown names (flood)",
        "count",
        Goal("<=", 10.0),
    ),
    (
        "scale.propagation",
        "9. Registry, N tenants: a change seen by every process",
        "s",
        Goal("<=", 1.0),
    ),
    (
        "scale.writes",
        "9. Registry, N tenants: concurrent writes, 8 connections, PostgreSQL",
        "/s",
        Goal(">=", 500.0),
    ),
    (
        "scale.writes_platform",
        "9. ... the same through lifecycle.update_tenant, 8 processes",
        "/s",
        None,
    ),
    ("scale.admin_list", "9. Admin tenants list, N tenants", "ms", Goal("<=", 50.0)),
    ("scale.admin_search", "9. Admin search, N tenants", "ms", Goal("<=", 50.0)),
    (
        "requestlog.cost",
        "10. Request log: throughput it costs (gunicorn workers' CPU per logged-in page)",
        "%",
        Goal("<=", 3.0),
    ),
    ("jobs.latency_p50_embedded", "11. Jobs: enqueue to start, embedded queue, p50", "ms", None),
    (
        "jobs.latency_p95_embedded",
        "11. Jobs: enqueue to start, embedded queue, p95",
        "ms",
        Goal("<=", 250.0),
    ),
    ("jobs.latency_p50_redis", "11. Jobs: enqueue to start, Redis, p50", "ms", None),
    ("jobs.latency_p95_redis", "11. Jobs: enqueue to start, Redis, p95", "ms", Goal("<=", 250.0)),
    (
        "jobs.throughput_embedded",
        "11. Jobs: throughput, 2 worker processes, embedded queue",
        "jobs/s",
        Goal(">=", 100.0),
    ),
    (
        "jobs.throughput_redis",
        "11. Jobs: throughput, 2 worker processes, Redis",
        "jobs/s",
        Goal(">=", 100.0),
    ),
    (
        "jobs.fairness_embedded",
        "11. Jobs: another tenant's job starts, one tenant has 10,000 queued, embedded",
        "s",
        Goal("<=", 2.0),
    ),
    (
        "jobs.fairness_redis",
        "11. Jobs: another tenant's job starts, one tenant has 10,000 queued, Redis",
        "s",
        Goal("<=", 2.0),
    ),
    (
        "datalife.backup",
        "12. Tenant data: backup, 100,000 rows, PostgreSQL (goal: within 10 s)",
        "rows/s",
        Goal(">=", 10000.0),
    ),
    (
        "datalife.restore",
        "12. Tenant data: restore (checked, loaded, verified), 100,000 rows (within 20 s)",
        "rows/s",
        Goal(">=", 5000.0),
    ),
    (
        "datalife.export",
        "12. Tenant data: customer export (JSON Lines and CSV), 100,000 rows (within 20 s)",
        "rows/s",
        Goal(">=", 5000.0),
    ),
    (
        "datalife.move_window",
        "12. Tenant data: move to another database, writes refused for, 100,000 rows",
        "s",
        Goal("<=", 5.0),
    ),
)


def new_figures() -> dict[str, Figure]:
    return {key: Figure(key, title, unit, goal) for key, title, unit, goal in CATALOGUE}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "x":
        return f"{value:.3f}x"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "us":
        return f"{value:.2f} µs" if value < 10 else f"{value:.1f} µs"
    if unit == "s":
        return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"
    return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"


@dataclass
class Context:
    """What a section of the run needs: the mode, the figures to fill, what is missing."""

    quick: bool
    figures: dict[str, Figure]
    #: Why PostgreSQL cannot be used, or None when it can.
    postgres_missing: str | None = None
    #: Keys of figures whose subject does not exist yet (for the lead).
    missing: list[str] = field(default_factory=list)
    #: Registry rows for the scale figures (``--fleet``); None: the default size.
    fleet: int | None = None

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Iterable[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def interleaved(runs: dict[str, Callable[[], float]], repetitions: int) -> dict[str, list[float]]:
    """Run each measurement in turn (A, B, A, B, ...); return every result by name."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repetitions):
        for name, run in runs.items():
            results[name].append(run())
    return results


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the per-repetition ratios of two interleaved series."""
    return median(a / b for a, b in zip(numerators, denominators, strict=True))


def timed(function: Callable[[], Any]) -> float:
    """Seconds one call of ``function`` takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


# -- processes and memory -----------------------------------------------------------------


def rss_kib(pid: int | str = "self", field_name: str = "VmRSS") -> int:
    """A field of /proc/<pid>/status in KiB (VmRSS, RssAnon, ...); 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def die_with_parent() -> None:
    """``preexec_fn`` for children (gunicorn): SIGTERM when this process dies, even killed."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


# -- report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": python_platform.python_version(),
        "system": f"{python_platform.system()} {python_platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def table(figures: Iterable[Figure]) -> str:
    rows = [("Figure", "Value", "Goal", "Met?")]
    notes: list[str] = []
    for figure in figures:
        met = {True: "yes", False: "NO", None: "—"}[figure.met]
        rows.append(
            (
                figure.title,
                format_value(figure.value, figure.unit),
                figure.goal.text(figure.unit) if figure.goal else "—",
                met,
            )
        )
        if figure.note:
            notes.append(f"  {figure.key}: {figure.note}")
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def markdown_table(figures: Iterable[Figure]) -> str:
    lines = ["| Figure | Value | Goal | Met? |", "| --- | ---: | ---: | :---: |"]
    for figure in figures:
        met = {True: "yes", False: "**no**", None: "—"}[figure.met]
        goal = figure.goal.text(figure.unit) if figure.goal else "—"
        lines.append(
            f"| {figure.title} | {format_value(figure.value, figure.unit)} | {goal} | {met} |"
        )
    return "\n".join(lines)


def write_json(path: Path, figures: Iterable[Figure], **extra: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine(),
        "python_executable": sys.executable,
        **extra,
        "figures": [figure.as_json() for figure in figures],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
