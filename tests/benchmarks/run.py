"""Measure the platform's costs side by side and compare them with their goals.

    .venv/bin/python tests/benchmarks/run.py            # full run (about 10 minutes)
    .venv/bin/python tests/benchmarks/run.py --quick    # under a minute, smaller samples
    .venv/bin/python tests/benchmarks/run.py --only dispatch,served --json out.json
    .venv/bin/python tests/benchmarks/run.py --only scale --fleet 1000000   # a million tenants
    .venv/bin/python tests/benchmarks/run.py --only migrations              # 10,000 tenants

Prints one table (figure, value, goal, met?) and writes it as JSON (default
tests/benchmarks/results/latest.json). Every figure is the median of repetitions;
comparisons interleave their two sides (A, B, A, B, ...) and report the median ratio.
PostgreSQL figures use a throw-away database on BENCH_POSTGRES_URL / TEST_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/postgres) and are skipped without a server.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

# Run as a script: import the project's packages, not this folder's modules, by name.
ROOT = Path(__file__).resolve().parents[2]
sys.path[0] = str(ROOT)

from tests.benchmarks import (  # noqa: E402
    datalife,
    fleet,
    inprocess,
    jobs,
    memory,
    migrations,
    requestlog,
    scale,
    served,
)
from tests.benchmarks.environment import postgres_available  # noqa: E402
from tests.benchmarks.harness import (  # noqa: E402
    DEFAULT_JSON,
    Context,
    markdown_table,
    new_figures,
    table,
    write_json,
)

#: (name, function, the figure keys it fills). The fleet runs last: its CLI may be new.
SECTIONS: tuple[tuple[str, Callable[[Context], None], tuple[str, ...]], ...] = (
    ("dispatch", inprocess.dispatch, ("dispatch.ratio",)),
    ("cold", inprocess.cold, ("cold.create_app", "cold.first_request")),
    (
        "registry",
        inprocess.registry,
        (
            "registry.hit",
            "registry.miss",
            "registry.admin_search",
            "registry.admin_search_postgres",
        ),
    ),
    (
        "provisioning",
        inprocess.provisioning,
        (
            "provisioning.sqlite_p50",
            "provisioning.sqlite_p95",
            "provisioning.postgres_p50",
            "provisioning.postgres_p95",
            "provisioning.hashing",
        ),
    ),
    ("memory", memory.memory, ("memory.per_app", "memory.unknown_hosts")),
    ("served", served.served, ("served.ratio",)),
    ("postgres", served.postgres_fleet, ("postgres.connections", "postgres.memory")),
    ("scale", scale.scale, scale.KEYS),
    ("requestlog", requestlog.request_log_cost, ("requestlog.cost",)),
    (
        "jobs",
        jobs.jobs,
        (
            "jobs.latency_p50_embedded",
            "jobs.latency_p95_embedded",
            "jobs.latency_p50_redis",
            "jobs.latency_p95_redis",
            "jobs.throughput_embedded",
            "jobs.throughput_redis",
            "jobs.fairness_embedded",
            "jobs.fairness_redis",
        ),
    ),
    ("datalife", datalife.datalife, datalife.KEYS),
    (
        "fleet",
        fleet.fleet,
        (
            "fleet.sqlite_pending",
            "fleet.sqlite_noop",
            "fleet.postgres_pending",
            "fleet.postgres_noop",
        ),
    ),
    ("migrations", migrations.migrations_at_size, migrations.KEYS),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small samples, under a minute")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument(
        "--fleet",
        type=int,
        metavar="N",
        help="registry rows for the scale figures (default 10,000; 2,000 with --quick) and "
        "for 'tenants migrate' with nothing pending (default: the 10,000 migrated tenants)",
    )
    parser.add_argument(
        "--only",
        help="comma-separated sections to run: " + ",".join(name for name, _, _ in SECTIONS),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = set(args.only.split(",")) if args.only else {name for name, _, _ in SECTIONS}
    unknown = chosen - {name for name, _, _ in SECTIONS}
    if unknown:
        print(f"Unknown section(s): {', '.join(sorted(unknown))}.", file=sys.stderr)
        return 2
    ctx = Context(
        quick=args.quick,
        figures=new_figures(),
        postgres_missing=postgres_available(),
        fleet=args.fleet,
    )
    if ctx.postgres_missing:
        ctx.log(f"PostgreSQL figures skipped: {ctx.postgres_missing}")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    for name, section, keys in SECTIONS:
        if name not in chosen:
            for key in keys:
                ctx.figures[key].note = "not run (--only)"
            continue
        ctx.log(f"[{time.perf_counter() - started:5.1f}s] {name} ...")
        section_started = time.perf_counter()
        try:
            section(ctx)
        except Exception as error:  # one broken figure must not hide the others
            traceback.print_exc()
            for key in keys:
                figure = ctx.figures[key]
                if figure.value is None:
                    figure.note = f"error: {type(error).__name__}: {error}"[:300]
        timings[name] = round(time.perf_counter() - section_started, 2)
    duration = time.perf_counter() - started
    figures = list(ctx.figures.values())
    print(table(figures))
    print(f"\n{'quick' if args.quick else 'full'} run in {duration:.1f} s; JSON: {args.json}")
    if ctx.missing:
        print("Not available yet: " + ", ".join(ctx.missing))
    write_json(
        args.json,
        figures,
        mode="quick" if args.quick else "full",
        duration_s=round(duration, 1),
        section_seconds=timings,
        postgres=ctx.postgres_missing or "available",
        not_available=ctx.missing,
    )
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
