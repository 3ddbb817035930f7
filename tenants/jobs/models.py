"""The job records in the platform database: one row per job, kept by the job runtime.

The row is the truth about a job: its tenant, arguments, state, attempts and last
error. The queue (Dramatiq's broker) only carries ``(job id, dispatch token)`` to a
worker; a message whose token is not the row's current one is stale and dropped, so
a job is never run by two deliveries at once unless its first worker is gone.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants.registry.models import RegistryBase


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time here is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    DISCARDED = "discarded"


#: A job in these states may still run.
LIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
#: A job in these states never runs again unless an admin retries it.
FINISHED_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.SKIPPED, JobState.DISCARDED)

_HELD = "state = 'queued' AND token IS NULL"
_SENDING = "state = 'queued' AND token IS NOT NULL AND dispatched_at IS NULL"

#: Longest error text kept (the first lines of the exception).
ERROR_LENGTH = 2000


class JobRecord(RegistryBase):
    __tablename__ = "jobs"
    __table_args__ = (
        # A tenant's queue: its running and sent jobs (the fairness count), then its held
        # backlog in order (token NULL), without reading the rows.
        Index("ix_jobs_tenant_queue", "tenant_id", "state", "token", "run_at"),
        # A tenant's own list of jobs, newest first.
        Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
        # The console's lists, newest first, by state.
        Index("ix_jobs_state_created", "state", "created_at"),
        # Pruning finished records.
        Index("ix_jobs_finished", "finished_at"),
        Index("uq_jobs_unique_key", "unique_key", unique=True),
        # Tenants with held jobs (the sweeper), and sends that were never confirmed.
        Index(
            "ix_jobs_held",
            "tenant_id",
            "run_at",
            sqlite_where=text(_HELD),
            postgresql_where=text(_HELD),
        ),
        Index(
            "ix_jobs_sending",
            "updated_at",
            sqlite_where=text(_SENDING),
            postgresql_where=text(_SENDING),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: None for a platform job; else the tenant it was stamped with at enqueue.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), default=None)
    tenant_slug: Mapped[str | None] = mapped_column(String(63), default=None)
    #: The tenant's registry version the enqueuer saw; a worker behind it refreshes first.
    tenant_version: Mapped[int | None] = mapped_column(Integer, default=None)
    name: Mapped[str] = mapped_column(String(120))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    #: The current dispatch's token; None while the job waits for its tenant's turn.
    token: Mapped[str | None] = mapped_column(String(32), default=None)
    #: Enqueue with the same key (per tenant) returns the existing job instead of a new one.
    unique_key: Mapped[str | None] = mapped_column(String(255), default=None)
    #: Not before this time (delayed jobs and retries).
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the queue confirmed the current dispatch (None: not yet sent, or being sent).
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: host:pid of the worker running (or that last ran) the job.
    worker: Mapped[str | None] = mapped_column(String(120), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: What the tenant's own people may read about a failure (never internals).
    public_error: Mapped[str | None] = mapped_column(String(500), default=None)
    progress_done: Mapped[int | None] = mapped_column(Integer, default=None)
    progress_total: Mapped[int | None] = mapped_column(Integer, default=None)
    #: A small JSON result (e.g. where an export was written).
    result: Mapped[Any] = mapped_column(JSON, default=None)

    def __repr__(self) -> str:
        return f"<JobRecord {self.id} {self.name} tenant={self.tenant_id} {self.state}>"


class JobSchedule(RegistryBase):
    """The last period each periodic job was fired for: one row per periodic job.

    A worker fires period P only if it moves ``last_period`` from below P to P, so any
    number of workers firing at once fire each period once.
    """

    __tablename__ = "job_schedules"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_period: Mapped[int] = mapped_column(BigInteger)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
