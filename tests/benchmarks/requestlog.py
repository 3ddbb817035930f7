"""9. The request log's cost: the same logged-in page through gunicorn, log on vs off.

Two gunicorn servers of the platform (``platform/gunicorn.conf.py``, 2 sync workers each)
over one database differ only in ``REQUEST_LOG``: one writes its line per request to a
file (as a container's stdout would be), the other writes none. Two ``wrk`` load them at
the same time, so a burst of other work on the machine slows both alike; the run is
repeated. The figure is the throughput the log costs a CPU-bound
server, ``1 - cpu_off / cpu_on`` in per cent, from the CPU time the workers used per
request (``/proc/<pid>/stat``), median of the pairs: on this shared 2-core machine the
requests per second of two runs differ by more than the log costs, while the CPU a
worker spends per request does not depend on what else runs. The per-second figures
(``1 - rps_on / rps_off``) are in the detail. The run checks that the first server
really wrote a line per request and the second none, so the figure cannot measure a log
that was silently off.

The detail also has the middleware alone, in-process: microseconds per request around a
trivial WSGI app, with the line written to a file, through the ``logging`` logger, and off.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tenants.dispatch.logsink import DescriptorSink, LineSink, LoggerSink
from tenants.dispatch.requestlog import RequestLog
from tests.benchmarks.environment import (
    FAST_HASH,
    cookie_header,
    database,
    host_of,
    open_platform,
    provision,
    server_environ,
    tenant_session_cookie,
)
from tests.benchmarks.harness import Context, median, paired_ratio
from tests.benchmarks.inprocess import BenchmarkError
from tests.benchmarks.served import WORKERS, WRK, gunicorn, http_get, load


def _trivial_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["tenants.slug"] = "acme"
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "2")])
    return [b"ok"]


def middleware_microseconds(sink: LineSink | None, calls: int) -> float:
    """The request log around a trivial app: microseconds per request, best of 5 runs."""
    app = RequestLog(_trivial_app, sink)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/notes/",
        "SCRIPT_NAME": "",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "acme.bench.test",
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            body = app(dict(environ), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


def in_process(ctx: Context, scratch: Path) -> dict[str, float]:
    calls = ctx.pick(2_000, 20_000)
    file_sink = DescriptorSink.append_to(str(scratch / "micro.log"))
    logger = logging.getLogger("tenants.benchmark.requests")
    handler = logging.FileHandler(scratch / "micro-logger.log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        return {
            "middleware_us_file": round(middleware_microseconds(file_sink, calls), 2),
            "middleware_us_logger": round(middleware_microseconds(LoggerSink(logger), calls), 2),
            "middleware_us_off": round(middleware_microseconds(None, calls), 2),
        }
    finally:
        file_sink.close()
        logger.removeHandler(handler)
        handler.close()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def gunicorn_workers(port: int) -> list[int]:
    """The worker pids of the gunicorn (our child) bound to ``port``."""
    bind = f"127.0.0.1:{port}"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and "gunicorn" in cmdline and bind in cmdline:
            children = Path(f"/proc/{entry}/task/{entry}/children").read_text().split()
            return [int(pid) for pid in children]
    raise BenchmarkError(f"no gunicorn of this process is bound to {bind}")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def measured_load(port: int, host: str, cookie: str, seconds: int) -> tuple[float, float]:
    """(requests per second, worker CPU seconds per request) of one run of the load."""
    workers = gunicorn_workers(port)
    before = cpu_seconds(workers)
    rps = load(port, host, cookie, seconds)
    return rps, (cpu_seconds(workers) - before) / (rps * seconds)


def side_by_side(first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
    """Run both at the same time: whatever else loads the machine then loads both alike."""
    results: dict[int, T] = {}
    threads = [
        threading.Thread(target=lambda i=i, run=run: results.__setitem__(i, run()))
        for i, run in enumerate((first, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(results) != 2:
        raise BenchmarkError("a load run failed; see the error above")
    return results[0], results[1]


def request_log_cost(ctx: Context) -> None:
    figure = ctx.figures["requestlog.cost"]
    backend = "sqlite" if ctx.postgres_missing else "postgres"
    slug, name = "acme", "Acme Logged"
    with (
        database(backend, "requestlog") as url,
        open_platform(url, password_hash_method=FAST_HASH) as platform,
        tempfile.TemporaryDirectory(prefix="tenants-bench-requestlog-") as scratch,
    ):
        provision(platform, slug, name)
        cookie = cookie_header(tenant_session_cookie(platform, slug))
        platform.close()
        instance = Path(scratch) / "instance"
        logged, silent = Path(scratch) / "on.log", Path(scratch) / "off.log"
        environ = server_environ(url, instance)
        # LOG_LEVEL=warning also silenced the request log before REQUEST_LOG existed.
        off = {**environ, "REQUEST_LOG": "off", "LOG_LEVEL": "warning"}
        with (
            gunicorn("tenants.wsgi:application", environ, host_of(None), logged) as on_port,
            gunicorn("tenants.wsgi:application", off, host_of(None), silent) as off_port,
        ):
            for port in (on_port, off_port):
                status, body = http_get(port, host_of(slug), cookie)
                if status != 200 or name.encode() not in body:
                    raise BenchmarkError(f"the tenant's home answered {status}: {body[:200]!r}")
            seconds = ctx.pick(1, 5)
            if not ctx.quick:
                load(on_port, host_of(slug), cookie, 1)  # warm-up both
                load(off_port, host_of(slug), cookie, 1)
            with_log: list[float] = []
            without_log: list[float] = []
            cpu_with: list[float] = []
            cpu_without: list[float] = []
            for _ in range(ctx.pick(2, 9)):
                (on_rps, on_cpu), (off_rps, off_cpu) = side_by_side(
                    lambda: measured_load(on_port, host_of(slug), cookie, seconds),
                    lambda: measured_load(off_port, host_of(slug), cookie, seconds),
                )
                with_log.append(on_rps)
                cpu_with.append(on_cpu)
                without_log.append(off_rps)
                cpu_without.append(off_cpu)
        lines = logged.read_bytes().count(b"\n")
        if lines < sum(with_log) * seconds * 0.5 or silent.stat().st_size:
            raise BenchmarkError(
                f"the request log wrote {lines} lines with the log on and "
                f"{silent.stat().st_size} bytes with it off; the comparison would be wrong"
            )
        micro = in_process(ctx, Path(scratch))
    figure.value = (1 - paired_ratio(cpu_without, cpu_with)) * 100
    figure.detail = {
        **micro,
        "on_cpu_ms_per_request": round(median(cpu_with) * 1000, 3),
        "off_cpu_ms_per_request": round(median(cpu_without) * 1000, 3),
        "throughput_lost_percent_wall_clock": round(
            (1 - paired_ratio(with_log, without_log)) * 100, 2
        ),
        "on_rps": round(median(with_log)),
        "off_rps": round(median(without_log)),
        "lines_written": lines,
        "backend": backend,
        "load_generator": "wrk -t1 -c4" if WRK else "python threads x4",
        "workers": f"gunicorn {WORKERS} sync workers each",
        "seconds_per_run": seconds,
        "repetitions": len(with_log),
    }
    figure.note = (
        f"worker CPU {figure.detail['on_cpu_ms_per_request']} vs "
        f"{figure.detail['off_cpu_ms_per_request']} ms per request; "
        f"{figure.detail['on_rps']} vs {figure.detail['off_rps']} req/s "
        f"({figure.detail['throughput_lost_percent_wall_clock']} % by wall clock), "
        f"{'PostgreSQL' if backend == 'postgres' else 'SQLite'}, "
        f"{figure.detail['load_generator']}, logged-in home, log written to a file; "
        f"middleware alone {micro['middleware_us_file']} us/request with the line "
        f"({micro['middleware_us_off']} us off, {micro['middleware_us_logger']} us via logging)"
    )
