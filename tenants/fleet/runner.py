"""Run a fleet migration: tenants in parallel processes, bounded per database.

The budget of a database
------------------------
A worker holds at most one connection to one tenant database at a time (a batch is
all of one database; with several databases it closes that connection when the batch
ends). The parent hands a database at most ``budget`` batches at once, so the run
never holds more than ``budget`` connections to it (plus the parent's own one to the
platform database, for the ledger). A database's budget is the smaller of:

- ``DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW``: what one platform process may hold
  there, the share the operator sized the server for (``tenants migrate`` is one more
  process, like a gunicorn worker);
- half the connections the server has free right now (``max_connections`` minus the
  reserved ones minus those open), so serving processes keep the other half.

``--jobs N`` is the number of worker processes; no database ever gets more than its
budget of them at once, whatever N is. On SQLite each tenant is a file of its own and
the workers never open the platform file, so N is the only bound.
"""

from __future__ import annotations

import math
import multiprocessing
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tenants.fleet import ledger, worker
from tenants.fleet.worker import FAILED, Job, Result, WorkerSetup
from tenants.registry import service
from tenants.registry.models import DEFAULT_DATABASE
from tenants.storage import PostgresStorage

if TYPE_CHECKING:
    from tenants.kernel import Platform

#: Why a run stopped before handing out every tenant.
FAIL_FAST = "fail-fast"
WORKER_DIED = "worker-died"

#: The most tenants a worker is handed at once: small enough that the ledger follows
#: closely (a kill loses at most this many records, which the resume redoes as no-ops).
MAX_BATCH = 25

_FREE_CONNECTIONS = text(
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
    " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
)


def database_budgets(platform: Platform, jobs: int) -> dict[str, int]:
    """How many workers may migrate tenants of each database at once (module docstring)."""
    storage = platform.storage
    if not isinstance(storage, PostgresStorage):
        return {DEFAULT_DATABASE: max(1, jobs)}
    settings = platform.settings
    per_process = settings.pool_size + settings.max_overflow
    budgets = {}
    for name, engine in storage.databases.items():
        budgets[name] = max(1, min(jobs, per_process, free_connections(engine) // 2))
    return budgets


def free_connections(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(_FREE_CONNECTIONS).scalar_one())


@dataclass(frozen=True)
class Plan:
    workers: int
    budgets: dict[str, int]


def plan(platform: Platform, jobs: Sequence[Job], requested: int) -> Plan:
    """Workers to start: no more than asked, than tenants, or than budgets allow."""
    budgets = database_budgets(platform, requested)
    per_database: dict[str, int] = {}
    for job in jobs:
        per_database[job.database] = per_database.get(job.database, 0) + 1
    usable = sum(min(budgets.get(name, 1), count) for name, count in per_database.items())
    return Plan(max(1, min(requested, usable, len(jobs))), budgets)


def execute(
    platform: Platform,
    run_id: int,
    jobs: Sequence[Job],
    the_plan: Plan,
    *,
    fail_fast: bool,
    on_results: Callable[[list[Result]], None],
) -> str | None:
    """Migrate ``jobs``, recording each batch in the ledger as it finishes.

    Returns why it stopped early, if it did: :data:`FAIL_FAST` (a tenant failed and
    ``fail_fast``), or :data:`WORKER_DIED` (a worker process ended mid-run: no more work
    is handed out, and the tenants not reached stay pending). With one worker it runs in
    this process: nothing to spawn.
    """

    def settle(results: list[Result]) -> bool:
        service.write(platform.engine, lambda session: ledger.record(session, run_id, results))
        on_results(results)
        return fail_fast and any(result.state == FAILED for result in results)

    if the_plan.workers <= 1:
        storage = platform.storage
        for job in jobs:
            if settle([worker.migrate_one(storage, job)]):
                return FAIL_FAST
        return None

    queues = _batches(jobs, the_plan.workers)
    setup = WorkerSetup(platform.settings, platform.tenant_app.migrations)
    running: dict[Future[list[Result]], list[Job]] = {}
    busy = dict.fromkeys(queues, 0)
    stopped: str | None = None
    with ProcessPoolExecutor(
        max_workers=the_plan.workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker.initialize,
        initargs=(setup,),
    ) as pool:
        while running or (not stopped and any(queues.values())):
            while not stopped and len(running) < the_plan.workers:
                name = next(
                    (
                        name
                        for name, queue in queues.items()
                        if queue and busy[name] < the_plan.budgets.get(name, 1)
                    ),
                    None,
                )
                if name is None:
                    break
                try:
                    future = pool.submit(worker.migrate_batch, batch := queues[name][0])
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): hand out nothing more; what
                    # is left stays pending in the ledger for the next run.
                    stopped = WORKER_DIED
                    break
                queues[name].popleft()
                busy[name] += 1
                running[future] = batch
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                batch = running.pop(future)
                busy[batch[0].database] -= 1
                try:
                    results = future.result()
                except Exception as error:  # the worker process died (killed, out of memory)
                    results = [_lost(job, error) for job in batch]
                    stopped = WORKER_DIED
                if settle(results):
                    stopped = stopped or FAIL_FAST
    return stopped


def _batches(jobs: Sequence[Job], workers: int) -> dict[str, deque[list[Job]]]:
    """Jobs by database, in batches: about four per worker, at most MAX_BATCH tenants."""
    size = max(1, min(MAX_BATCH, math.ceil(len(jobs) / (workers * 4))))
    by_database: dict[str, list[Job]] = {}
    for job in jobs:
        by_database.setdefault(job.database, []).append(job)
    return {
        name: deque(group[start : start + size] for start in range(0, len(group), size))
        for name, group in by_database.items()
    }


def _lost(job: Job, error: BaseException) -> Result:
    return Result(
        tenant_id=job.tenant_id,
        slug=job.slug,
        state=FAILED,
        from_revision=job.from_revision,
        to_revision=None,
        error=f"its worker process ended ({worker.first_line(error)}); run migrate again",
        started_at=datetime.now(UTC),
        duration_ms=0,
    )


def open_session(platform: Platform) -> Session:
    return Session(platform.engine, expire_on_commit=False)
