"""Figure 4, memory: RSS per cached tenant app, and what unknown subdomains leave behind.

Measured in a fresh interpreter (``python -m tests.benchmarks.memory``), so nothing
the other figures allocated blurs the deltas. RSS is read from /proc/self/status
after a full garbage collection.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from tests.benchmarks.environment import (
    FAST_HASH,
    open_platform,
    provision,
    sqlite_database,
    tenant_session_cookie,
    wsgi_call,
)
from tests.benchmarks.harness import ROOT, Context, median, rss_kib
from tests.benchmarks.inprocess import BenchmarkError, check_page, logged_in_environ

UNKNOWN_REQUESTS = 30_000


def memory(ctx: Context) -> None:
    per_app = ctx.figures["memory.per_app"]
    unknown = ctx.figures["memory.unknown_hosts"]
    arguments = [
        "--apps",
        str(ctx.pick(40, 100)),
        "--batches",
        str(ctx.pick(3, 7)),
        "--served",
        str(ctx.pick(40, 150)),
        "--unknown",
        str(UNKNOWN_REQUESTS),
    ]
    if ctx.quick:
        arguments.append("--no-tracemalloc")
    completed = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.memory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"memory probe failed: {completed.stderr.strip()[-500:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    per_app.value = median(result["per_app_kib"])
    per_app.detail = {
        "built_apps_per_batch": result["apps_per_batch"],
        "batches_kib": [round(value, 1) for value in result["per_app_kib"]],
        "after_one_request_kib": round(result["served_per_app_kib"], 1),
        "served_apps": result["served_apps"],
    }
    per_app.note = (
        f"built, median of {len(result['per_app_kib'])} batches of {result['apps_per_batch']}; "
        f"{result['served_per_app_kib']:.0f} KiB each once it has served a logged-in page "
        "(SQLite engine with a pooled connection)"
    )
    unknown.value = result["unknown_rss_kib"] / 1024
    unknown.detail = {
        "requests": result["unknown_requests"],
        "rss_kib_after_each_10k": result["unknown_rss_steps_kib"],
        "tracemalloc_kib": result.get("unknown_tracemalloc_kib"),
        "requests_per_second": round(result["unknown_rps"]),
    }
    traced = result.get("unknown_tracemalloc_kib")
    unknown.note = (
        f"RSS delta after {result['unknown_requests']:,} requests to distinct unknown subdomains"
        f" ({round(result['unknown_rps']):,} req/s); steps per 10,000: "
        f"{result['unknown_rss_steps_kib']} KiB"
        + (f"; Python heap (tracemalloc) {traced:+.0f} KiB" if traced is not None else "")
    )


# -- the probe, in its own interpreter ------------------------------------------------------


def _unknown_environ(index: int) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": f"nobody-{index}.bench.test",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _settled_rss() -> int:
    gc.collect()
    return rss_kib()


def probe(apps: int, batches: int, served: int, unknown: int, trace: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"apps_per_batch": apps, "unknown_requests": unknown}
    cache_size = apps * batches + served + 16
    with (
        sqlite_database("memory") as url,
        open_platform(url, password_hash_method=FAST_HASH, app_cache_size=cache_size) as platform,
    ):
        # Warm up: imports, compiled templates, the 404 page, the registry snapshot.
        provision(platform, "warm", "Warm Memory")
        environ = logged_in_environ("warm", tenant_session_cookie(platform, "warm"))
        check_page(platform, environ, b"Warm Memory")
        for index in range(2000):
            wsgi_call(platform, environ if index % 2 else _unknown_environ(-index))

        # Apps built and cached (their tenants need no storage until a request comes).
        template = platform.registry.get("warm")
        assert template is not None
        per_app: list[float] = []
        next_id = 1_000_000
        for _ in range(batches):
            records = [
                dataclasses.replace(template, id=next_id + i, slug=f"mem-{next_id + i}")
                for i in range(apps)
            ]
            next_id += apps
            before = _settled_rss()
            for record in records:
                platform.apps.get(
                    record.id, record.version, lambda r=record: platform.build_tenant_app(r)
                )
            per_app.append((_settled_rss() - before) / apps)
        result["per_app_kib"] = per_app

        # Real tenants, each app having served one logged-in page (engine + connection).
        slugs = [f"served-{index:04d}" for index in range(served)]
        for slug in slugs:
            provision(platform, slug)
        platform.registry.refresh(force=True)
        before = _settled_rss()
        for slug in slugs:
            environ = logged_in_environ(slug, tenant_session_cookie(platform, slug))
            wsgi_call(platform, environ)
        result["served_per_app_kib"] = (_settled_rss() - before) / served
        result["served_apps"] = served

        # Unknown subdomains: each a different name, none of them may leave anything behind.
        steps: list[int] = []
        before = _settled_rss()
        started = time.perf_counter()
        for index in range(unknown):
            status, _, _ = wsgi_call(platform, _unknown_environ(index))
            if index == 0 and not status.startswith("404"):
                raise BenchmarkError(f"an unknown subdomain answered {status}")
            if (index + 1) % 10_000 == 0:
                steps.append(rss_kib() - before)
        result["unknown_rps"] = unknown / (time.perf_counter() - started)
        result["unknown_rss_kib"] = _settled_rss() - before
        result["unknown_rss_steps_kib"] = steps
        if trace:
            tracemalloc.start()
            gc.collect()
            traced_before = tracemalloc.get_traced_memory()[0]
            for index in range(unknown, 2 * unknown):
                wsgi_call(platform, _unknown_environ(index))
            gc.collect()
            result["unknown_tracemalloc_kib"] = (
                tracemalloc.get_traced_memory()[0] - traced_before
            ) / 1024
            tracemalloc.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="memory probe (run by tests/benchmarks/run.py)")
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--served", type=int, default=100)
    parser.add_argument("--unknown", type=int, default=UNKNOWN_REQUESTS)
    parser.add_argument("--no-tracemalloc", action="store_true")
    args = parser.parse_args()
    result = probe(args.apps, args.batches, args.served, args.unknown, not args.no_tracemalloc)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
