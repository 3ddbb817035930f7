"""Figures through real gunicorn processes on loopback ports.

2. Served: the platform's tenant page vs a bare single Flask app rendering the same
   page with the same query (``bare_app.py``), both under gunicorn with the same worker
   settings, loaded by ``wrk`` (or a threaded Python generator when wrk is missing).
8. PostgreSQL: connections and backend memory while 2 workers serve many tenants.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.benchmarks.bare_app import BARE_SERVICES, bare_environ, create_bare_app
from tests.benchmarks.environment import (
    FAST_HASH,
    POSTGRES_ADMIN_URL,
    SECRET_KEY,
    USER_AGENT,
    cookie_header,
    database,
    host_of,
    open_platform,
    owner_session_cookie,
    postgres_database,
    provision,
    server_environ,
    tenant_session_cookie,
)
from tests.benchmarks.harness import ROOT, Context, die_with_parent, median, paired_ratio, rss_kib
from tests.benchmarks.inprocess import BenchmarkError

WORKERS = 2
GUNICORN_CONFIG = ROOT / "platform" / "gunicorn.conf.py"
WRK = shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(port: int, host: str, cookie: str | None = None, path: str = "/") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host, "User-Agent": USER_AGENT}
    if cookie:
        headers["Cookie"] = cookie
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def gunicorn(
    app: str, environ: dict[str, str], probe_host: str, stdout: Path | None = None
) -> Iterator[int]:
    """``app`` served by gunicorn (sync workers) on a free loopback port; stopped afterwards.

    Its stdout (the request log) goes to ``stdout`` when given, else nowhere.
    """
    port = free_port()
    command = [sys.executable, "-m", "gunicorn"]
    if GUNICORN_CONFIG.exists():
        # The production settings (preload, post_fork, request log on stdout), for both.
        command += ["--config", str(GUNICORN_CONFIG)]
    command += [
        "--workers",
        str(WORKERS),
        "--threads",
        "1",
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--no-control-socket",
        "--chdir",
        str(ROOT),
        app,
    ]
    log = tempfile.TemporaryFile()
    out = stdout.open("ab") if stdout is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environ,
            stdout=out,  # the request log: one JSON line per request
            stderr=log,
            preexec_fn=die_with_parent,
        )
    finally:
        if stdout is not None:
            out.close()  # type: ignore[union-attr]
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise BenchmarkError(f"gunicorn {app} exited: {log.read().decode()[-800:]}")
            try:
                http_get(port, probe_host, path="/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"gunicorn {app} did not answer in 30 s") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# -- load generators -----------------------------------------------------------------------

_CSRF_VALUE = re.compile(rb'(name="csrf_token"[^>]*value=")[^"]*')
#: The CSP nonce differs per response (and the bare app, without the middleware, has none).
_NONCE_VALUE = re.compile(rb'(nonce=")[^"]*')
_WRK_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_WRK_BAD = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def wrk(port: int, host: str, cookie: str, seconds: int, connections: int = 4) -> float:
    command = [
        WRK or "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "-H",
        f"Host: {host}",
        "-H",
        f"Cookie: {cookie}",
        "-H",
        f"User-Agent: {USER_AGENT}",
        f"http://127.0.0.1:{port}/",
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    bad = _WRK_BAD.search(output)
    if bad:
        raise BenchmarkError(f"wrk saw {bad.group(1)} non-2xx answers from {host}")
    match = _WRK_RPS.search(output)
    if match is None:
        raise BenchmarkError(f"cannot read wrk's output: {output[-300:]}")
    return float(match.group(1))


def python_load(port: int, host: str, cookie: str, seconds: float, connections: int = 4) -> float:
    """A threaded HTTP/1.1 generator (one connection per request, like gunicorn sync)."""
    deadline = time.perf_counter() + seconds
    counts = [0] * connections
    failures: list[int] = []

    def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            status, _ = http_get(port, host, cookie)
            if status != 200:
                failures.append(status)
                return
            counts[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchmarkError(f"{host} answered {failures[0]}")
    return sum(counts) / (time.perf_counter() - started)


def load(port: int, host: str, cookie: str, seconds: int) -> float:
    if WRK:
        return wrk(port, host, cookie, seconds)
    return python_load(port, host, cookie, seconds)


# -- 2. served -----------------------------------------------------------------------------


def served(ctx: Context) -> None:
    figure = ctx.figures["served.ratio"]
    backend = "sqlite" if ctx.postgres_missing else "postgres"
    slug, name = "acme", "Acme Served"
    with (
        database(backend, "served") as url,
        open_platform(url, password_hash_method=FAST_HASH) as platform,
        tempfile.TemporaryDirectory(prefix="tenants-bench-served-") as instance,
    ):
        tenant = provision(platform, slug, name)
        tenant_cookie = cookie_header(tenant_session_cookie(platform, slug))
        if backend == "postgres":
            bare_url, schema = platform.settings.database_url, platform.storage.location(tenant.id)
        else:
            bare_url, schema = f"sqlite:///{platform.storage.location(tenant.id)}", None
        record = platform.registry.get(slug)
        assert record is not None
        bare = create_bare_app(bare_url, SECRET_KEY, record, schema=schema)
        bare_cookie = cookie_header(owner_session_cookie(bare, host_of(slug)))
        bare.extensions[BARE_SERVICES].close()
        platform.engine.dispose()
        platform_env = server_environ(url, Path(instance))
        bare_env = {
            **server_environ(url, Path(instance)),
            **bare_environ(bare_url, SECRET_KEY, record, schema),
        }
        with (
            gunicorn("tenants.wsgi:application", platform_env, host_of(None)) as platform_port,
            gunicorn(
                "tests.benchmarks.bare_app:create_app_from_environ()", bare_env, host_of(slug)
            ) as bare_port,
        ):
            pages = {}
            for label, port, cookie in (
                ("platform", platform_port, tenant_cookie),
                ("bare", bare_port, bare_cookie),
            ):
                status, body = http_get(port, host_of(slug), cookie)
                if status != 200 or name.encode() not in body:
                    raise BenchmarkError(f"{label} answered {status}: {body[:200]!r}")
                pages[label] = _NONCE_VALUE.sub(rb"\1", _CSRF_VALUE.sub(rb"\1", body))
            if pages["platform"] != pages["bare"]:
                raise BenchmarkError(
                    "the bare app no longer renders the same page as the platform; "
                    "check what tests/benchmarks/bare_app.py gives create_app"
                )
            seconds = ctx.pick(1, 5)
            load(platform_port, host_of(slug), tenant_cookie, 1)  # warm-up both
            load(bare_port, host_of(slug), bare_cookie, 1)
            through_platform: list[float] = []
            baseline: list[float] = []
            for _ in range(ctx.pick(3, 9)):
                through_platform.append(load(platform_port, host_of(slug), tenant_cookie, seconds))
                baseline.append(load(bare_port, host_of(slug), bare_cookie, seconds))
    figure.value = paired_ratio(through_platform, baseline)
    figure.detail = {
        "platform_rps": round(median(through_platform)),
        "bare_rps": round(median(baseline)),
        "backend": backend,
        "load_generator": "wrk -t1 -c4" if WRK else "python threads x4",
        "workers": f"gunicorn {WORKERS} sync workers each",
        "seconds_per_run": seconds,
        "repetitions": len(through_platform),
        "page_bytes": len(pages["platform"]),
    }
    figure.note = (
        f"{figure.detail['platform_rps']} vs {figure.detail['bare_rps']} req/s, "
        f"{'PostgreSQL' if backend == 'postgres' else 'SQLite'}, "
        f"{figure.detail['load_generator']}, {WORKERS} sync workers each, logged-in home"
    )


# -- 8. PostgreSQL under many tenants ----------------------------------------------------------


class BackendSampler:
    """Samples the database's connections and their backends' memory, in a thread."""

    def __init__(self, database_name: str, interval: float = 0.2) -> None:
        self.database_name = database_name
        self.interval = interval
        self.peak_connections = 0
        self.peak_anon_kib = 0
        self.peak_rss_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self._engine.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with self._engine.connect() as connection:
            pids = (
                connection.execute(
                    sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                    {"name": self.database_name},
                )
                .scalars()
                .all()
            )
        anon = sum(rss_kib(pid, "RssAnon") for pid in pids)
        rss = sum(rss_kib(pid, "VmRSS") for pid in pids)
        self.samples += 1
        self.peak_connections = max(self.peak_connections, len(pids))
        self.peak_anon_kib = max(self.peak_anon_kib, anon)
        self.peak_rss_kib = max(self.peak_rss_kib, rss)


def postgres_fleet(ctx: Context) -> None:
    connections = ctx.figures["postgres.connections"]
    memory = ctx.figures["postgres.memory"]
    if ctx.postgres_missing:
        connections.note = memory.note = f"skipped: {ctx.postgres_missing}"
        return
    count = ctx.pick(100, 1000)
    rounds = ctx.pick(2, 3)
    with (
        postgres_database("many") as url,
        open_platform(url, password_hash_method=FAST_HASH) as platform,
        tempfile.TemporaryDirectory(prefix="tenants-bench-many-") as instance,
    ):
        started = time.perf_counter()
        slugs = [f"pg-{index:04d}" for index in range(count)]
        for slug in slugs:
            provision(platform, slug)
        cookies = {slug: cookie_header(tenant_session_cookie(platform, slug)) for slug in slugs}
        setup = time.perf_counter() - started
        settings = platform.settings
        platform.close()  # none of this process's connections may be counted
        database_name = sa.engine.make_url(url).database or ""
        with gunicorn(
            "tenants.wsgi:application", server_environ(url, Path(instance)), host_of(None)
        ) as port:
            statuses: Counter[int] = Counter()
            plan = [slug for _ in range(rounds) for slug in slugs]
            position = iter(range(len(plan)))
            lock = threading.Lock()

            def client() -> None:
                while True:
                    with lock:
                        index = next(position, None)
                    if index is None:
                        return
                    slug = plan[index]
                    status, _ = http_get(port, host_of(slug), cookies[slug])
                    statuses[status] += 1

            with BackendSampler(database_name) as sampler:
                load_started = time.perf_counter()
                threads = [threading.Thread(target=client) for _ in range(4)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - load_started
    if set(statuses) != {200}:
        raise BenchmarkError(f"tenant pages answered {dict(statuses)}")
    bound = WORKERS * (settings.pool_size + settings.max_overflow)
    connections.value = sampler.peak_connections
    connections.detail = {
        "tenants": count,
        "requests": sum(statuses.values()),
        "requests_per_second": round(sum(statuses.values()) / elapsed),
        "samples": sampler.samples,
        "pool": f"{WORKERS} workers x (pool_size {settings.pool_size} + max_overflow "
        f"{settings.max_overflow}) = {bound}",
        "setup_s": round(setup, 1),
    }
    connections.note = (
        f"peak over {sampler.samples} samples while 2 sync workers served {count:,} tenants "
        f"({sum(statuses.values()):,} logged-in pages); the goal is the pool bound {bound}"
    )
    memory.value = sampler.peak_anon_kib / 1024
    memory.detail = {
        "peak_private_rss_mib": round(sampler.peak_anon_kib / 1024, 1),
        "peak_total_rss_mib_incl_shared_buffers": round(sampler.peak_rss_kib / 1024, 1),
        "tenants": count,
    }
    per_connection = sampler.peak_anon_kib / 1024 / max(sampler.peak_connections, 1)
    memory.note = (
        f"sum of RssAnon of the database's backends (/proc), peak; about "
        f"{per_connection:.1f} MiB per connection after touching {count:,} schemas; "
        f"VmRSS incl. shared buffers {sampler.peak_rss_kib / 1024:.0f} MiB"
    )
