"""Figure 9, the registry at fleet scale: N registry rows on PostgreSQL (``--fleet N``).

N is 10,000 by default (2,000 with ``--quick``); the million-row figures run only when
asked (``--fleet 1000000``: about 2 GB of disk and 5-10 minutes, most of it inserting).
Rows are registry rows only (no tenant schemas), inserted by ``generate_series``.

How each figure is taken:

- **Memory**: a fresh interpreter builds the platform, answers a known tenant, waits for
  the registry to be loaded, looks up 1,000 tenants and answers 30,000 unknown names
  (``python -m tests.benchmarks.scale --probe``); its RSS with N tenants minus the same
  process over a registry of 1 tenant.
- **Start**: in that process, ``Platform(settings)`` to the first answered request for a
  known tenant (imports excluded: gunicorn preloads them before it forks a worker); the
  JSON also has gunicorn's spawn to first answer, imports included.
- **Change applied**: another platform changes a tenant's plan; the probe's
  ``registry.refresh(force=True)``, which reads and applies it.
- **Lookups**: ``TenantRegistry.get`` of a warm known tenant, and of distinct unknown
  names, with the registry queries those unknown names caused (per 1,000 lookups).
- **Propagation**: two watcher processes request a tenant every 5 ms; a suspension is
  committed; the time until both answer 403 (the later one), median of repetitions.
- **Writes**: 8 connections change the plan of distinct tenants with the statements
  ``lifecycle.update_tenant`` sends (lock the row, update it, the change-feed entry, the
  audit entry, commit), from threads with psycopg directly: what the database sustains.
  Then the same through ``lifecycle.update_tenant`` itself from 8 processes, which on a
  small machine measures the ORM's CPU as much as the database.
- **Admin**: ``GET /admin/`` (first page and its count) and a substring search, logged
  in as an admin, N rows; the JSON also has a page deep in the list.

Written against public behaviour only (the platform, its registry's ``get`` and
``refresh``, lifecycle, the admin pages), so it measures an older checkout just as well.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from werkzeug.test import Client

from tenants import lifecycle
from tests.benchmarks.environment import (
    BASE_DOMAIN,
    FAST_HASH,
    PASSWORD,
    USER_AGENT,
    host_of,
    make_settings,
    open_platform,
    postgres_database,
    server_environ,
    wsgi_call,
)
from tests.benchmarks.harness import ROOT, Context, median, percentile, rss_kib
from tests.benchmarks.inprocess import BenchmarkError, csrf_token, url_of

KEYS = (
    "scale.rss",
    "scale.start",
    "scale.change",
    "scale.hit",
    "scale.miss",
    "scale.flood_queries",
    "scale.propagation",
    "scale.writes",
    "scale.writes_platform",
    "scale.admin_list",
    "scale.admin_search",
)
WRITERS = 8


def slug_of(index: int) -> str:
    return f"fleet-{index:07d}"


def insert_fleet(url: str, count: int) -> float:
    """``count`` active registry rows (no storage); seconds it took, VACUUM ANALYZE included."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            has_feed = sa.inspect(connection).has_table("registry_changes")
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (slug, display_name, status, plan, settings, database, "
                    "storage_revision, created_at, updated_at, version) "
                    "SELECT 'fleet-' || lpad(n::text, 7, '0'), 'Fleet tenant ' || n, 'active', "
                    "'free', '{}', 'default', NULL, now(), now(), :version_base + n "
                    "FROM generate_series(0, :count - 1) AS n"
                ),
                # Before the change feed, versions came from the clock row: move it past them.
                {"count": count, "version_base": 0 if has_feed else 1},
            )
            if not has_feed:
                connection.execute(
                    sa.text("UPDATE registry_clock SET generation = :count"), {"count": count}
                )
            connection.exec_driver_sql("VACUUM ANALYZE tenants")
    finally:
        engine.dispose()
    return time.perf_counter() - started


# -- the probe: one worker-like process over the fleet ------------------------------------


def probe(url: str, tenants: int, changes: int) -> dict[str, Any]:
    from tenants.kernel import Platform  # imported already, as gunicorn preloads it

    result: dict[str, Any] = {"tenants": tenants}
    gc.collect()
    result["rss_before_kib"] = rss_kib()
    with tempfile.TemporaryDirectory(prefix="tenants-bench-probe-") as instance:
        settings = make_settings(url, Path(instance), password_hash_method=FAST_HASH)
        known = slug_of(tenants // 2)
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/login",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": host_of(known),
            "wsgi.url_scheme": "http",
            "wsgi.input": None,
            "wsgi.errors": sys.stderr,
        }
        started = time.perf_counter()
        platform = Platform(settings)
        # The login page: the tenant's app, built for it (it has no storage, which the
        # page does not need), answers only once the registry found the tenant.
        status, headers, _ = wsgi_call(platform, environ)
        result["first_answer_s"] = time.perf_counter() - started
        result["first_status"] = status
        result["first_tenant"] = dict(headers).get("X-Tenant")
        registry = platform.registry
        wait_loaded = getattr(registry, "wait_loaded", None)
        loaded_started = time.perf_counter()
        if wait_loaded is not None:
            wait_loaded(120)
        result["loaded_s"] = time.perf_counter() - started
        result["load_wait_s"] = time.perf_counter() - loaded_started

        statements: list[str] = []
        event.listen(
            platform.engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, *_a: statements.append(sql),
        )
        step = max(1, tenants // 1000)
        for index in range(0, tenants, step):
            if registry.get(slug_of(index)) is None:
                raise BenchmarkError(f"{slug_of(index)} not found")
        registry.get(known)
        result["warm_lookups"] = len(range(0, tenants, step))
        rounds = 200_000
        get = registry.get
        started = time.perf_counter()
        for _ in range(rounds):
            get(known)
        result["hit_us"] = (time.perf_counter() - started) / rounds * 1e6
        unknown = [f"nobody-{index}" for index in range(50_000)]
        before = len(statements)
        started = time.perf_counter()
        for name in unknown:
            get(name)
        elapsed = time.perf_counter() - started
        result["miss_us"] = elapsed / len(unknown) * 1e6
        result["flood_queries_per_1000"] = (len(statements) - before) / len(unknown) * 1000
        result["flood_lookups_per_second"] = len(unknown) / elapsed
        for index in range(30_000):
            wsgi_call(platform, {**environ, "HTTP_HOST": host_of(f"junk-{index}")})
        gc.collect()
        result["rss_kib"] = rss_kib()
        stats = getattr(registry, "statistics", None)
        result["registry"] = stats() if stats is not None else {"records": len(registry)}

        writer = Platform(settings)
        applied: list[float] = []
        refreshed: list[float] = []
        apply = registry._apply  # the in-memory part of a poll (old and new registries)

        def timed_apply(rows: Any) -> Any:
            started = time.perf_counter()
            try:
                return apply(rows)
            finally:
                applied.append((time.perf_counter() - started) * 1000)

        registry._apply = timed_apply
        try:
            for index in range(changes):
                slug = slug_of((index * step) % tenants)
                lifecycle.update_tenant(
                    writer, slug, actor="benchmark", display_name=f"Renamed {index}"
                )
                started = time.perf_counter()
                registry.refresh(force=True)
                refreshed.append((time.perf_counter() - started) * 1000)
                if registry.get(slug).display_name != f"Renamed {index}":
                    raise BenchmarkError("the change was not applied")
        finally:
            writer.close()
        result["change_ms"] = applied
        result["refresh_ms"] = refreshed
        platform.close()
    return result


def run_probe(url: str, tenants: int, changes: int) -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.scale",
            "--probe",
            url,
            "--tenants",
            str(tenants),
            "--changes",
            str(changes),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"registry probe failed: {completed.stderr.strip()[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# -- gunicorn spawn to first answer -----------------------------------------------------------


def gunicorn_first_answer(url: str, slug: str) -> float:
    """Seconds from spawning gunicorn (1 worker) to the first answer naming ``slug``."""
    import http.client

    from tests.benchmarks.served import GUNICORN_CONFIG, free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tenants-bench-start-") as instance:
        environ = server_environ(url, Path(instance), WEB_CONCURRENCY="1", LOG_LEVEL="warning")
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG)]
            + ["--bind", f"127.0.0.1:{port}", "tenants.wsgi:application"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    connection.request("GET", "/login", headers={"Host": host_of(slug)})
                    response = connection.getresponse()
                    response.read()
                    connection.close()
                    if response.getheader("X-Tenant") == slug:
                        return time.perf_counter() - started
                except OSError:
                    time.sleep(0.02)
            raise BenchmarkError("gunicorn did not answer for the tenant in 300 s")
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- propagation across processes -------------------------------------------------------------

WATCHER = r"""
import sys, tempfile, time
from pathlib import Path
from tests.benchmarks.environment import make_settings, host_of, wsgi_call
from tenants.kernel import Platform

url, slug = sys.argv[1], sys.argv[2]
platform = Platform(make_settings(url, Path(tempfile.mkdtemp())))
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/login", "SERVER_NAME": "127.0.0.1",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
           "HTTP_HOST": host_of(slug), "wsgi.url_scheme": "http", "wsgi.input": None,
           "wsgi.errors": sys.stderr}
last = None
while True:
    status = wsgi_call(platform, dict(environ))[0][:3]
    if status != last:
        print(f"{time.time():.4f} {status}", flush=True)
        last = status
    time.sleep(0.005)
"""


def propagation(url: str, slug: str, repetitions: int) -> list[float]:
    """Seconds from a committed suspension to the last of two processes refusing."""
    watchers = [
        subprocess.Popen(
            [sys.executable, "-c", WATCHER, url, slug],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(2)
    ]
    seen: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as instance:
            writer_settings = make_settings(url, Path(instance))
            from tenants.kernel import Platform

            writer = Platform(writer_settings)
            try:
                for watcher in watchers:
                    first = watcher.stdout.readline().split()  # type: ignore[union-attr]
                    if not first or first[1] != "200":
                        raise BenchmarkError(f"watcher answered {first}")
                for _ in range(repetitions):
                    time.sleep(0.3)
                    lifecycle.suspend_tenant(writer, slug, actor="benchmark")
                    committed = time.time()
                    times = []
                    for watcher in watchers:
                        line = watcher.stdout.readline().split()  # type: ignore[union-attr]
                        if line[1] != "403":
                            raise BenchmarkError(f"watcher answered {line} after a suspension")
                        times.append(float(line[0]))
                    seen.append(max(times) - committed)
                    lifecycle.resume_tenant(writer, slug, actor="benchmark")
                    for watcher in watchers:
                        watcher.stdout.readline()  # type: ignore[union-attr]
            finally:
                writer.close()
    finally:
        for watcher in watchers:
            watcher.kill()
            watcher.wait()
    return seen


# -- concurrent registry writes ---------------------------------------------------------------

WRITER = r"""
import sys, tempfile, time
from pathlib import Path
from tenants import lifecycle
from tenants.kernel import Platform
from tests.benchmarks.environment import make_settings

url, worker, writers, tenants, seconds = sys.argv[1], *map(float, sys.argv[2:])
worker, writers, tenants = int(worker), int(writers), int(tenants)
platform = Platform(make_settings(url, Path(tempfile.mkdtemp()), pool_size=1, max_overflow=0))
print("ready", flush=True)
sys.stdin.readline()
count, errors, index = 0, [], worker
deadline = time.perf_counter() + seconds
while time.perf_counter() < deadline:
    slug = f"fleet-{(index * 7919) % tenants:07d}"
    try:
        lifecycle.update_tenant(
            platform, slug, actor="benchmark", display_name=f"w{worker}-{count}"
        )
        count += 1
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}"[:200])
    index += writers
print(count, len(errors), errors[:1], flush=True)
platform.close()
"""


def concurrent_writes(url: str, tenants: int, seconds: float) -> dict[str, Any]:
    """WRITERS processes (8 clients, as 8 workers would be) changing distinct tenants."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(n), str(WRITERS), str(tenants), str(seconds)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for n in range(WRITERS)
    ]
    try:
        for process in processes:
            if process.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                raise BenchmarkError("a writer process did not start")
        for process in processes:
            process.stdin.write("go\n")  # type: ignore[union-attr]
            process.stdin.flush()  # type: ignore[union-attr]
        outputs = [process.stdout.readline().split(maxsplit=2) for process in processes]  # type: ignore[union-attr]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    changes = sum(int(count) for count, _, _ in outputs)
    errors = [detail for _, failed, detail in outputs if int(failed)]
    return {"per_second": changes / seconds, "changes": changes, "errors": errors}


# The statements of one registry write, as the platform sends them (tenants.lifecycle,
# tenants.registry.service, tenants.registry.feed); before the change feed (for a "before"
# run), the clock row instead.
_LOCK = (
    "SELECT id FROM tenants WHERE lower(slug) = %s "
    "AND status IN ('provisioning', 'active', 'suspended') FOR UPDATE"
)
_UPDATE = "UPDATE tenants SET plan = %s, updated_at = now() WHERE id = %s"
_APPEND = (
    "WITH writer AS MATERIALIZED (SELECT pg_current_xact_id()::text::bigint AS txid), "
    "change AS (INSERT INTO registry_changes (txid, tenant_id, created_at) "
    "SELECT writer.txid, %s, now() FROM writer RETURNING id) "
    "UPDATE tenants SET version = change.id FROM change WHERE tenants.id = %s"
)
_CLOCK = (
    "UPDATE registry_clock SET generation = generation + 1 WHERE id = 1 RETURNING generation",
    "UPDATE tenants SET version = %s WHERE id = %s",
)
_AUDIT = (
    "INSERT INTO audit_log (tenant_id, actor, action, detail, created_at) "
    "VALUES (%s, 'benchmark', 'tenant.update', '{}', now())"
)


def statement_writes(url: str, tenants: int, seconds: float) -> dict[str, Any]:
    """WRITERS connections sending a registry write's statements, each in its transaction."""
    import psycopg

    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as probe_connection:
        has_feed = probe_connection.execute(
            "SELECT to_regclass('registry_changes') IS NOT NULL"
        ).fetchone()[0]  # type: ignore[index]
    counts = [0] * WRITERS
    errors: list[str] = []
    stop = threading.Event()

    def write(worker: int) -> None:
        index = worker
        try:
            with psycopg.connect(dsn) as connection:
                while not stop.is_set():
                    slug = slug_of((index * 7919) % tenants)
                    with connection.transaction():
                        row = connection.execute(_LOCK, (slug,)).fetchone()
                        tenant_id = row[0]  # type: ignore[index]
                        connection.execute(_UPDATE, (f"s{worker}-{index}", tenant_id))
                        if has_feed:
                            connection.execute(_APPEND, (tenant_id, tenant_id))
                        else:
                            clock = connection.execute(_CLOCK[0]).fetchone()
                            connection.execute(_CLOCK[1], (clock[0], tenant_id))  # type: ignore[index]
                        connection.execute(_AUDIT, (tenant_id,))
                    counts[worker] += 1
                    index += WRITERS
        except Exception as error:  # reported in the figure
            errors.append(f"{type(error).__name__}: {error}"[:200])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    return {"per_second": sum(counts) / seconds, "changes": sum(counts), "errors": errors}


# -- admin list and search --------------------------------------------------------------------


def admin_pages(url: str, tenants: int, repetitions: int) -> dict[str, Any]:
    from tenants.admins import create_admin

    with open_platform(url, password_hash_method=FAST_HASH) as platform:
        login_url = url_of(platform, "admin_auth.login")
        list_url = url_of(platform, "admin.tenants")
        if login_url is None or list_url is None:
            raise BenchmarkError("the platform has no admin list")
        create_admin(platform, "admin@bench.test", PASSWORD)
        client = Client(platform)
        headers = {"Host": BASE_DOMAIN, "User-Agent": USER_AGENT}
        page = client.get(login_url, headers=headers)
        response = client.post(
            login_url,
            headers=headers,
            data={
                "email": "admin@bench.test",
                "password": PASSWORD,
                "csrf_token": csrf_token(page),
            },
        )
        if response.status_code not in (302, 303):
            raise BenchmarkError(f"admin login answered {response.status_code}")
        target = slug_of(tenants // 3)
        query = target[:-1]  # matches 10 tenants (or fewer at the end)
        first = client.get(list_url, headers=headers)
        if first.status_code != 200:
            raise BenchmarkError(f"admin list answered {first.status_code}")
        older = re.search(r'href="([^"]+)" rel="next"', first.get_data(as_text=True))
        deep = None
        if older is not None:
            link = older.group(1).replace("&amp;", "&")
            middle_id = tenants // 2
            deep = (
                f"{list_url}?page={max(2, middle_id // 50)}"
                if "page=" in link
                else f"{list_url}?before={middle_id}"
            )

        def timed_get(path: str, expect: str | None = None, **query: str) -> float:
            started = time.perf_counter()
            response = client.get(path, query_string=query or None, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200 or (expect and expect not in response.text):
                raise BenchmarkError(f"GET {path} {query} answered {response.status_code}")
            return elapsed

        timings: dict[str, list[float]] = {"list": [], "search": [], "deep": []}
        for _ in range(repetitions):
            timings["list"].append(timed_get(list_url))
            timings["search"].append(timed_get(list_url, target, q=query))
            if deep is not None:
                timings["deep"].append(timed_get(deep))
    return {"query": query, "deep": deep, **timings}


# -- the section ------------------------------------------------------------------------------


def scale(ctx: Context) -> None:
    figures = {key: ctx.figures[key] for key in KEYS}
    tenants = ctx.fleet or ctx.pick(2_000, 10_000)
    for figure in figures.values():
        figure.title = figure.title.replace("N tenants", f"{tenants:,} tenants")
    if ctx.postgres_missing:
        for figure in figures.values():
            figure.note = f"skipped: {ctx.postgres_missing}"
        return
    with postgres_database("scale") as url, postgres_database("one") as one_url:
        ctx.log(f"  inserting {tenants:,} registry rows ...")
        inserted = insert_fleet(url, tenants)
        insert_fleet(one_url, 1)
        ctx.log(f"  inserted in {inserted:.1f} s; probing ...")
        changes = ctx.pick(5, 15)
        big = run_probe(url, tenants, changes)
        small = run_probe(one_url, 1, changes)
        ctx.log("  gunicorn start ...")
        spawn = gunicorn_first_answer(url, slug_of(tenants // 2))
        spawn_one = gunicorn_first_answer(one_url, slug_of(0))
        report_probe(figures, tenants, big, small, spawn, spawn_one, inserted)
        ctx.log("  propagation ...")
        seen = propagation(url, slug_of(1), ctx.pick(3, 7))
        report_propagation(figures["scale.propagation"], seen)
        ctx.log("  concurrent writes ...")
        seconds = ctx.pick(2.0, 6.0)
        report_writes(figures["scale.writes"], statement_writes(url, tenants, seconds), "threads")
        report_writes(
            figures["scale.writes_platform"],
            concurrent_writes(url, tenants, seconds),
            "processes through lifecycle.update_tenant",
        )
        ctx.log("  admin pages ...")
        report_admin(figures, admin_pages(url, tenants, ctx.pick(3, 9)))


def report_probe(
    figures: dict[str, Any],
    tenants: int,
    big: dict[str, Any],
    small: dict[str, Any],
    spawn: float,
    spawn_one: float,
    inserted: float,
) -> None:
    rss = figures["scale.rss"]
    rss.value = (big["rss_kib"] - small["rss_kib"]) / 1024
    rss.detail = {"fleet": big, "one_tenant": small, "insert_s": round(inserted, 1)}
    rss.note = (
        f"{big['rss_kib'] / 1024:.0f} MiB with {tenants:,} tenants vs "
        f"{small['rss_kib'] / 1024:.0f} MiB with 1; holds {big['registry']}"
    )
    start = figures["scale.start"]
    start.value = big["first_answer_s"]
    start.detail = {
        "one_tenant_s": round(small["first_answer_s"], 3),
        "registry_loaded_s": round(big["loaded_s"], 3),
        "gunicorn_spawn_to_first_answer_s": round(spawn, 2),
        "gunicorn_spawn_to_first_answer_one_tenant_s": round(spawn_one, 2),
    }
    start.note = (
        f"Platform() to first answer (1 tenant: {small['first_answer_s']:.3f} s); registry "
        f"loaded after {big['loaded_s']:.2f} s; gunicorn spawn to first answer {spawn:.2f} s "
        f"(1 tenant: {spawn_one:.2f} s), imports included"
    )
    change = figures["scale.change"]
    change.value = median(big["change_ms"])
    change.detail = {
        "apply_ms": [round(v, 3) for v in big["change_ms"]],
        "poll_and_apply_ms": [round(v, 2) for v in big["refresh_ms"]],
    }
    change.note = (
        "a plan change made elsewhere, applied in memory; the whole poll (query and apply) "
        f"{median(big['refresh_ms']):.1f} ms"
    )
    hit = figures["scale.hit"]
    hit.value = big["hit_us"]
    hit.note = f"a warm known tenant, {tenants:,} in the registry"
    miss = figures["scale.miss"]
    miss.value = big["miss_us"]
    miss.note = (
        f"50,000 distinct unknown names in a loop "
        f"({big['flood_lookups_per_second']:,.0f} lookups/s)"
    )
    flood = figures["scale.flood_queries"]
    flood.value = big["flood_queries_per_1000"]
    flood.note = "registry queries caused by those unknown names, per 1,000"


def report_propagation(figure: Any, seen: list[float]) -> None:
    figure.value = median(seen)
    figure.detail = {"runs_s": [round(v, 3) for v in seen]}
    figure.note = (
        f"suspension to 403 in both of 2 processes (poll 0.5 s); max {max(seen):.2f} s "
        f"over {len(seen)}"
    )


def report_writes(figure: Any, writes: dict[str, Any], how: str) -> None:
    figure.value = writes["per_second"]
    figure.detail = writes
    figure.note = f"{WRITERS} {how}, distinct tenants, {writes['changes']} changes" + (
        f"; errors: {writes['errors'][:2]}" if writes["errors"] else ""
    )


def report_admin(figures: dict[str, Any], admin: dict[str, Any]) -> None:
    for key, name in (("scale.admin_list", "list"), ("scale.admin_search", "search")):
        figure = figures[key]
        figure.value = median(admin[name])
        figure.detail = {
            "p95_ms": round(percentile(admin[name], 0.95), 1),
            "deep_page": admin["deep"],
            "deep_page_ms": round(median(admin["deep"]), 1) if admin["deep"] else None,
            "query": admin["query"],
        }
    figures["scale.admin_list"].note = (
        f"first page with its count; a page half-way down: "
        f"{figures['scale.admin_list'].detail['deep_page_ms']} ms"
    )
    figures["scale.admin_search"].note = f"?q={admin['query']} (slug or name contains)"


def main() -> None:
    parser = argparse.ArgumentParser(description="registry probe (run by tests/benchmarks/run.py)")
    parser.add_argument("--probe", required=True, help="database URL")
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(probe(args.probe, args.tenants, args.changes)))


if __name__ == "__main__":
    main()
