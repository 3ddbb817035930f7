"""The queue under the job runtime: Dramatiq's Redis broker, or the embedded SQLite one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dramatiq
from dramatiq.middleware import Retries

from tenants.jobs.brokers.sqlite import SQLiteBroker

if TYPE_CHECKING:
    from tenants.jobs.settings import JobSettings

__all__ = ["SQLiteBroker", "make_broker", "queue_depth"]

#: The one queue every job message goes through (fairness is decided before a message is sent).
QUEUE = "jobs"


class PlatformUnavailable(RuntimeError):
    """The platform database could not record a job's start or end; deliver it again later."""


def _retry_when(retries: int, exception: BaseException) -> bool:
    # Dramatiq retries a delivery only when the platform database failed around the job
    # (for as long as it is down: the job's record needs it): job failures are retried by
    # the runtime, which records each attempt.
    return isinstance(exception, PlatformUnavailable)


def make_broker(settings: JobSettings) -> dramatiq.Broker:
    middleware: list[dramatiq.Middleware] = [
        Retries(min_backoff=1000, max_backoff=60_000, retry_when=_retry_when)
    ]
    if not settings.is_redis:
        return SQLiteBroker(
            settings.sqlite_path,
            lease_seconds=settings.redeliver_seconds,
            middleware=middleware,
        )
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=settings.url,
        namespace=settings.namespace,
        # A worker that sends no heartbeat for this long is dead: its messages go back.
        heartbeat_timeout=int(settings.redeliver_seconds * 1000),
        maintenance_chance=settings.redis_maintenance_per_million,
        middleware=middleware,
    )


def queue_depth(broker: dramatiq.Broker) -> int | None:
    """Messages waiting in the queue (not yet taken), when the broker can tell cheaply."""
    if isinstance(broker, SQLiteBroker):
        return broker.depth(QUEUE)
    client = getattr(broker, "client", None)
    namespace = getattr(broker, "namespace", None)
    if client is None or namespace is None:
        return None
    return int(client.llen(f"{namespace}:{QUEUE}"))
