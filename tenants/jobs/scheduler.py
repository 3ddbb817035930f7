"""Periodic jobs: each period fired once across all workers, fanned out per tenant.

Every worker ticks the schedule. Firing period P of a job means moving its row in
``job_schedules`` from below P to P, which exactly one worker manages, in the same
transaction as recording the period's first job. For a tenant job that first job is a
fan-out: it reads one batch of active tenants by id (keyset, never the whole registry),
adds one job per tenant keyed by the period, and queues the fan-out of the next batch.
The keys make every step safe to run twice: a fan-out retried after a crash adds no
tenant's job a second time.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from tenants.jobs import catalog
from tenants.jobs.catalog import JobDefinition, platform_job
from tenants.jobs.context import JobContext
from tenants.jobs.store import NewJob

if TYPE_CHECKING:
    from tenants.jobs.runtime import JobRuntime

log = logging.getLogger(__name__)

FAN_OUT = "jobs.fan_out"


@platform_job(FAN_OUT, max_attempts=20, min_backoff=2.0, max_backoff=300.0)
def fan_out(ctx: JobContext, *, name: str, period: int, after_id: int = 0) -> dict[str, Any]:
    """Queue ``name`` for the next batch of active tenants after ``after_id``."""
    from tenants.jobs.runtime import runtime_of

    runtime = runtime_of(ctx.platform)
    definition = runtime.job(name)
    batch = runtime.fan_out_batch
    tenants = runtime.store.active_tenants_after(after_id, batch)
    dispatches = runtime.store.add_many_for_tenants(
        name, {}, definition.max_attempts, tenants, key=period_key(name, period)
    )
    runtime.send(dispatches)
    last = tenants[-1].id if tenants else after_id
    if len(tenants) == batch:
        runtime.enqueue(
            catalog.get(FAN_OUT),
            None,
            {"name": name, "period": period, "after_id": last},
            unique_key=f"fanout:{name}:{period}:{last}",
        )
    return {"tenants": len(tenants), "after_id": last, "queued": len(dispatches)}


def period_key(name: str, period: int) -> str:
    return f"periodic:{name}:{period}"


class Scheduler:
    """Fires due periods of the declared periodic jobs (called by each worker's ticker)."""

    def __init__(self, runtime: JobRuntime) -> None:
        self.runtime = runtime
        #: The period this process last fired (or saw fired) per job: no query until the next.
        self._done: dict[str, int] = {}

    def tick(self, now: float | None = None) -> list[str]:
        """Fire what is due; return the names fired by this call."""
        now = time.time() if now is None else now
        fired = []
        for definition in self.runtime.periodic_jobs():
            periodic = definition.periodic
            if periodic is None:
                continue
            period = periodic.period_at(now)
            if self._done.get(definition.name) == period:
                continue
            if self.fire(definition, period):
                fired.append(definition.name)
            self._done[definition.name] = period
        return fired

    def fire(self, definition: JobDefinition, period: int) -> bool:
        if definition.for_tenants:
            first = NewJob(
                name=FAN_OUT,
                args={"name": definition.name, "period": period, "after_id": 0},
                max_attempts=catalog.get(FAN_OUT).max_attempts,
                unique_key=f"platform:fanout:{definition.name}:{period}:0",
            )
        else:
            first = NewJob(
                name=definition.name,
                args={},
                max_attempts=definition.max_attempts,
                unique_key=f"platform:{period_key(definition.name, period)}",
            )
        dispatches = self.runtime.store.fire_period(definition.name, period, first)
        if dispatches:
            log.info("Periodic job %s: period %s fired.", definition.name, period)
        self.runtime.send(dispatches)
        return bool(dispatches)
