"""9. The request log's cost: the same logged-in page through gunicorn, log on vs off.

Two gunicorn servers of the platform (``platform/gunicorn.conf.py``, 2 sync workers each)
over one database differ only in ``REQUEST_LOG``: one writes its line per request to a
file (as a container's stdout would be), the other writes none. ``wrk`` loads them in
turn (on, off, on, off, ...); the figure is the median of the per-pair throughput loss,
``1 - on / off``, in per cent. The run checks that the first server really wrote a line
per request and the second none, so the figure cannot measure a log that was silently off.

The detail also has the middleware alone, in-process: microseconds per request around a
trivial WSGI app, with the line written to a file, through the ``logging`` logger, and off.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

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
            for _ in range(ctx.pick(2, 9)):
                with_log.append(load(on_port, host_of(slug), cookie, seconds))
                without_log.append(load(off_port, host_of(slug), cookie, seconds))
        lines = logged.read_bytes().count(b"\n")
        if lines < sum(with_log) * seconds * 0.5 or silent.stat().st_size:
            raise BenchmarkError(
                f"the request log wrote {lines} lines with the log on and "
                f"{silent.stat().st_size} bytes with it off; the comparison would be wrong"
            )
        micro = in_process(ctx, Path(scratch))
    figure.value = (1 - paired_ratio(with_log, without_log)) * 100
    figure.detail = {
        **micro,
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
        f"{figure.detail['on_rps']} vs {figure.detail['off_rps']} req/s, "
        f"{'PostgreSQL' if backend == 'postgres' else 'SQLite'}, "
        f"{figure.detail['load_generator']}, logged-in home, log written to a file; "
        f"middleware alone {micro['middleware_us_file']} us/request with the line "
        f"({micro['middleware_us_off']} us off, {micro['middleware_us_logger']} us via logging)"
    )
