"""gunicorn settings for the platform.

Run: ``gunicorn -c platform/gunicorn.conf.py tenants.wsgi:application``.

Everything a deployment tunes comes from the environment:

- ``BIND`` (default ``0.0.0.0:$PORT``, ``PORT`` default 8000): address(es), comma-separated.
- ``WEB_CONCURRENCY`` (default 2 x CPUs + 1, at most 8): worker processes.
- ``GUNICORN_THREADS`` (default 1): threads per worker; more than 1 uses gthread workers.
- ``GUNICORN_TIMEOUT`` (30): seconds a request may run before its worker is replaced.
- ``GUNICORN_GRACEFUL_TIMEOUT`` (30): seconds to finish in-flight requests on SIGTERM
  (``docker stop``) before exiting; keep the orchestrator's stop timeout above it.
- ``GUNICORN_KEEPALIVE`` (5): seconds an idle connection from the proxy is kept.
- ``GUNICORN_MAX_REQUESTS`` (0, never): replace a worker after this many requests.
- ``GUNICORN_PRELOAD`` (1): import the app once in the master (less memory; bad settings
  stop the server at start instead of crash-looping its workers).
- ``LOG_LEVEL`` (info): gunicorn's level (and the request log's, with ``REQUEST_LOG=logger``).
- ``REQUEST_LOG`` (``-``): where the platform's line per request goes: ``-`` stdout, a file
  path, ``off``, or ``logger`` (the ``tenants.requests`` logging logger, sent to stdout here).

Each worker's PostgreSQL pool holds at most ``DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW``
connections, so the database sees at most that many times the number of workers (and
a sync worker, one request at a time, uses one or two).

Logging: one JSON line per request on stdout, from the platform's request log
(``tenants.dispatch.requestlog``: tenant, method, path, status, duration_ms, request_id,
client address). gunicorn's own access log is off so a request is logged once, not twice.

The settings are checked before anything starts: a missing, public (development) or weak
``SECRET_KEY`` stops gunicorn with one line saying what to set, whatever ``FLASK_DEBUG`` is.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from typing import Any


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}."
        ) from None


def _refuse_unsafe_settings() -> None:
    """Stop here, with one line, on settings the platform would refuse (the key above all)."""
    from tenants.settings import Settings, SettingsError

    try:
        Settings.from_environ().check_secret_key(allow_development_key=False)
    except SettingsError as error:
        raise SystemExit(f"gunicorn: {error}") from None


_refuse_unsafe_settings()


def _default_workers() -> int:
    return min(2 * multiprocessing.cpu_count() + 1, 8)


_port = os.environ.get("PORT") or "8000"
bind = [address.strip() for address in (os.environ.get("BIND") or f"0.0.0.0:{_port}").split(",")]
workers = _int("WEB_CONCURRENCY", _default_workers())
threads = _int("GUNICORN_THREADS", 1)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").strip().lower() in {"1", "true", "yes", "on"}

# The worker heartbeat file: on tmpfs when there is one, since a container's /tmp may be
# an overlay filesystem whose stalls get healthy workers killed.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Forwarded headers are trusted in exactly one place, the app's ProxyFix (PROXY_COUNT,
# none by default): gunicorn must not also believe X-Forwarded-Proto from loopback peers.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}

# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
# which several servers on one host would fight over; signals manage the server instead.
control_socket_disable = True

loglevel = os.environ.get("LOG_LEVEL", "info").lower()
errorlog = "-"
# gunicorn's access log stays off (no accesslog, no logconfig, which would turn it on):
# the platform's request log is the one line per request (REQUEST_LOG, stdout by default).
accesslog = None


def _log_requests_to_stdout() -> None:
    """With REQUEST_LOG=logger: the tenants.requests logger to stdout, one JSON object a line.

    (The default, REQUEST_LOG=-, writes the lines to stdout itself, with no logging set-up.)
    """
    if os.environ.get("REQUEST_LOG", "").strip().lower() != "logger":
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    request_log = logging.getLogger("tenants.requests")
    request_log.handlers[:] = [handler]
    request_log.setLevel(loglevel.upper())
    request_log.propagate = False


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker: log requests to stdout; never use the master's connections.

    With ``preload_app`` the master imported ``tenants.wsgi`` and built the platform;
    its pooled connections were copied into this process. ``Platform.after_fork`` drops
    them without closing them (closing would end the master's sessions too).
    """
    _log_requests_to_stdout()
    wsgi = sys.modules.get("tenants.wsgi")
    platform = wsgi.loaded() if wsgi is not None else None
    if platform is not None:
        platform.after_fork()


def worker_exit(server: Any, worker: Any) -> None:
    """A worker leaving (graceful shutdown, max_requests): close its connections politely."""
    wsgi = sys.modules.get("tenants.wsgi")
    platform = wsgi.loaded() if wsgi is not None else None
    if platform is not None:
        platform.close()
