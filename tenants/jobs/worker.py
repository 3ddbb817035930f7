"""A worker: Dramatiq's worker threads plus the ticker (schedule, sweeper).

The ticker runs in every worker, so there is no scheduler process to run or to lose:
periods are fired once whatever the number of workers (see ``scheduler``), and the
sweeper's repairs are compare-and-set, so workers doing them at once do them once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import dramatiq

from tenants.jobs.runtime import JobRuntime
from tenants.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)

#: A send decided this long ago and never confirmed was lost with its sender.
UNCONFIRMED_AFTER = timedelta(seconds=15)


class Ticker:
    """Periodic upkeep in a worker: fire due periods; resend lost sends; release held jobs."""

    def __init__(self, runtime: JobRuntime, *, interval: float = 1.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self.scheduler = Scheduler(runtime)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0
        self.alive_file: Path | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jobs-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("The job ticker failed; it tries again in a moment.")
            # Jitter, so that many workers do not query in step.
            self._stop.wait(self.interval * random.uniform(0.8, 1.2))

    def tick(self, *, sweep: bool | None = None) -> None:
        self.scheduler.tick()
        now = time.monotonic()
        if sweep or (sweep is None and now >= self._next_sweep):
            self._next_sweep = now + 10
            self.sweep()
        if self.alive_file is not None:
            self.alive_file.touch()

    def sweep(self, unconfirmed_after: timedelta = UNCONFIRMED_AFTER) -> int:
        """Repair what crashes leave behind; return how many jobs were sent."""
        store = self.runtime.store
        dispatches = store.unconfirmed(unconfirmed_after)
        for tenant_id in store.tenants_with_held_jobs():
            dispatches += store.release(tenant_id)
        self.runtime.send(dispatches)
        return len(dispatches)


class JobWorker:
    """Runs jobs in this process until stopped."""

    def __init__(
        self, runtime: JobRuntime, *, threads: int | None = None, ticker: bool = True
    ) -> None:
        self.runtime = runtime
        self.threads = threads or runtime.settings.worker_threads
        self.worker = dramatiq.Worker(
            runtime.broker,
            worker_threads=self.threads,
            worker_timeout=runtime.settings.poll_ms,
        )
        self.ticker = Ticker(runtime) if ticker else None

    def start(self) -> None:
        self.worker.start()
        if self.ticker is not None:
            self.ticker.start()
        log.info(
            "Job worker started: %s threads on %s.",
            self.threads,
            "Redis" if self.runtime.settings.is_redis else self.runtime.settings.sqlite_path,
        )

    def stop(self, timeout: float | None = None) -> None:
        """Let running jobs finish (up to ``timeout`` seconds); hand back the others."""
        seconds = self.runtime.settings.shutdown_seconds if timeout is None else timeout
        if self.ticker is not None:
            self.ticker.stop()
        self.worker.stop(timeout=int(seconds * 1000))
        log.info("Job worker stopped.")
