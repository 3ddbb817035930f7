"""Settings of the job system, read from the environment beside the platform's own.

They live apart from :class:`tenants.settings.Settings` so that the job system is one
package; every default runs on one machine with no server beyond the platform's own
(the embedded SQLite queue). The README's settings table lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tenants.settings import Settings, SettingsError


def _int(environ: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}."
        ) from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below {minimum}; set it to e.g. {default}.")
    return value


def _float(environ: dict[str, str], name: str, default: float, minimum: float) -> float:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; set it to e.g. {default}.") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below {minimum}; set it to e.g. {default}.")
    return value


@dataclass(frozen=True)
class JobSettings:
    """Where jobs are queued and how workers treat them."""

    #: ``sqlite:///path`` (the embedded queue, one machine) or ``redis://host:port/db``.
    url: str
    #: Key prefix on Redis (several platforms, or test runs, can share one server).
    namespace: str = "tenants"
    #: A job whose worker stops answering (killed, machine lost) runs again after this.
    redeliver_seconds: float = 60.0
    #: Jobs of one tenant handed to workers at once; the rest wait their turn.
    tenant_concurrency: int = 8
    #: Finished job records are deleted this many days after they finished.
    retention_days: int = 7
    #: Threads per worker process.
    worker_threads: int = 4
    #: How long an idle worker waits before asking the queue again (milliseconds).
    poll_ms: int = 100
    #: Seconds a stopping worker lets running jobs finish before handing them back.
    shutdown_seconds: float = 30.0
    #: Modules a worker imports at start so that the jobs they declare are known.
    imports: tuple[str, ...] = ()
    #: Run jobs inside the development server (``python -m tenants.devserver``).
    embedded_worker: bool = True
    #: Redis only: how many of a million queue commands also requeue dead workers' jobs.
    redis_maintenance_per_million: int = 10_000
    #: Tenants read per batch when a periodic tenant job fans out.
    fan_out_batch: int = 500

    @classmethod
    def from_environ(
        cls, platform_settings: Settings, environ: dict[str, str] | None = None
    ) -> JobSettings:
        env = dict(os.environ) if environ is None else environ
        url = (env.get("JOBS_URL") or "").strip() or default_url(platform_settings)
        if not url.startswith(("sqlite:///", "redis://", "rediss://", "unix://")):
            raise SettingsError(
                f"JOBS_URL={url!r} is not a queue this platform runs on; use "
                "sqlite:///path/jobs.db (embedded, one machine) or redis://host:6379/1."
            )
        imports = tuple(
            name.strip() for name in (env.get("JOBS_IMPORTS") or "").split(",") if name.strip()
        )
        return cls(
            url=url,
            namespace=(env.get("JOBS_NAMESPACE") or "tenants").strip(),
            redeliver_seconds=_float(env, "JOBS_REDELIVER_SECONDS", 60.0, minimum=1.0),
            tenant_concurrency=_int(env, "JOBS_TENANT_CONCURRENCY", 8, minimum=1),
            retention_days=_int(env, "JOBS_RETENTION_DAYS", 7, minimum=1),
            worker_threads=_int(env, "JOBS_WORKER_THREADS", 4, minimum=1),
            poll_ms=_int(env, "JOBS_POLL_MS", 100, minimum=5),
            shutdown_seconds=_float(env, "JOBS_SHUTDOWN_SECONDS", 30.0, minimum=0.0),
            imports=imports,
            embedded_worker=(env.get("JOBS_EMBEDDED_WORKER") or "1").strip().lower()
            not in {"0", "false", "no", "off"},
            redis_maintenance_per_million=_int(
                env, "JOBS_REDIS_MAINTENANCE_PER_MILLION", 10_000, minimum=1
            ),
            fan_out_batch=_int(env, "JOBS_FAN_OUT_BATCH", 500, minimum=1),
        )

    @property
    def is_redis(self) -> bool:
        return not self.url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        database = make_url(self.url).database
        if not database:
            raise SettingsError("JOBS_URL names no file; use sqlite:///path/jobs.db.")
        return Path(database)

    def with_changes(self, **changes: Any) -> JobSettings:
        return replace(self, **changes)


def default_url(platform_settings: Settings) -> str:
    """The embedded queue: a SQLite file beside the platform database (or in INSTANCE_PATH)."""
    if platform_settings.is_sqlite:
        database = make_url(platform_settings.database_url).database
        if database and database != ":memory:":
            return f"sqlite:///{Path(database).resolve().parent / 'jobs.db'}"
    return f"sqlite:///{Path(platform_settings.instance_path).resolve() / 'jobs.db'}"
