"""Job records: every state change of a job, as compare-and-set statements.

Each change names the dispatch token it expects, so two parties racing over one job
(a worker starting it, the sweeper re-sending it, an admin discarding it) are ordered
by the database: one statement matches, the others change nothing and learn so.

Fairness lives here too. A tenant has at most ``tenant_concurrency`` jobs *sent* (in
the queue or running) at a time; the rest of its jobs wait in this table with no token
("held") and are sent as its earlier ones finish. So one tenant's 10,000 jobs put only
a handful of messages in the queue, and another tenant's job queues behind those, not
behind the 10,000.

A job that already has a row is sent *inside* the transaction that gives it its token:
a worker that receives the message before that transaction commits waits on the row's
lock (``claim`` reads it ``FOR UPDATE``; SQLite has one writer at a time) and then sees
the token. So the send and its record cannot disagree, and no confirmation is needed.
A new row is invisible to others until it commits, so a new job is sent after commit
and confirmed; if its sender dies in between, the sweeper sends it (``unconfirmed``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenants.database import sqlite_write_intent
from tenants.jobs.models import (
    ERROR_LENGTH,
    FINISHED_STATES,
    JobRecord,
    JobSchedule,
    JobState,
    as_utc,
    utcnow,
)
from tenants.registry.models import Tenant, TenantStatus

log = logging.getLogger(__name__)

jobs = JobRecord.__table__
schedules = JobSchedule.__table__

QUEUED, RUNNING = str(JobState.QUEUED), str(JobState.RUNNING)
_FINISHED = [str(state) for state in FINISHED_STATES]


def new_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Dispatch:
    """A message to send once the transaction that decided it has committed."""

    job_id: str
    token: str
    run_at: datetime
    #: Already handed to the queue inside the deciding transaction.
    sent: bool = False

    def delay_ms(self, now: datetime | None = None) -> int:
        remaining = (as_utc(self.run_at) - (now or utcnow())).total_seconds()  # type: ignore[operator]
        return max(0, int(remaining * 1000))


@dataclass(frozen=True)
class NewJob:
    name: str
    args: dict[str, Any]
    max_attempts: int
    tenant_id: int | None = None
    tenant_slug: str | None = None
    tenant_version: int | None = None
    run_at: datetime | None = None
    unique_key: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A job a worker has started: what it needs to run it."""

    id: str
    token: str
    name: str
    args: dict[str, Any]
    tenant_id: int | None
    tenant_slug: str | None
    tenant_version: int | None
    attempts: int
    max_attempts: int
    #: The tenant's registry row when the job started: (slug, status, version), or None.
    tenant_row: tuple[str, str, int] | None = None


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job {job_id!r}; the jobs list shows the jobs that exist.")


class JobStateConflict(RuntimeError):
    """The job is not in a state that allows the change; the message says why."""


def first_lines(text: str, limit: int = ERROR_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JobStore:
    """The job table of one platform database."""

    def __init__(
        self,
        engine: Engine,
        *,
        tenant_concurrency: int,
        sender: Callable[[Dispatch], None] | None = None,
    ) -> None:
        self.engine = engine
        self.tenant_concurrency = tenant_concurrency
        #: Hands a message to the queue (raises if it cannot); None: callers send after commit.
        self.sender = sender

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        # SQLite: a read needs no write lock (a deferred transaction).
        intent = sqlite_write_intent.set(False)
        try:
            with self.engine.connect() as connection:
                yield connection
        finally:
            sqlite_write_intent.reset(intent)

    @staticmethod
    def _commit_lazily(connection: Connection) -> None:
        """PostgreSQL: this transaction's commit need not wait for the disk.

        Only for records whose loss in a database crash is harmless: a job's start (the
        job's end, committed durably, flushes it too; lost, the job simply runs again)
        and its progress. Never for a job's end, which the queue's ack follows.
        """
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    @property
    def _stamp(self) -> bool:
        """Decided sends are recorded as sent in the same statement (sent before commit)."""
        return self.sender is not None

    def _hand_over(self, connection: Connection, dispatches: list[Dispatch]) -> list[Dispatch]:
        """Send now, inside the transaction that decided it (rows that exist already).

        The rows were stamped as sent when they got their tokens; one that cannot be sent
        loses its stamp, and the sweeper sends it later. Returns the dispatches, marked
        ``sent`` (left for the caller to send after commit when there is no sender).
        """
        if self.sender is None:
            return dispatches
        handed: list[Dispatch] = []
        for dispatch in dispatches:
            try:
                self.sender(dispatch)
            except Exception:
                log.warning("Could not send job %s; it is sent again later.", dispatch.job_id)
                connection.execute(
                    update(jobs)
                    .where(jobs.c.id == dispatch.job_id, jobs.c.token == dispatch.token)
                    .values(dispatched_at=None)
                )
            handed.append(replace(dispatch, sent=True))
        return handed

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        # SQLite: take the write lock up front even inside a read-only request.
        intent = sqlite_write_intent.set(True)
        try:
            with self.engine.begin() as connection:
                yield connection
        finally:
            sqlite_write_intent.reset(intent)

    # -- enqueue ---------------------------------------------------------------------

    def add(self, job: NewJob) -> tuple[str, list[Dispatch], bool]:
        """Record a new job; return its id, what to send now, and whether it is new.

        With a ``unique_key`` already recorded, nothing is added: the existing job's id
        comes back (``False``).
        """
        now = utcnow()
        job_id = new_id()
        run_at = job.run_at or now
        try:
            with self._writing() as connection:
                if job.unique_key is not None:
                    existing = connection.execute(
                        select(jobs.c.id).where(jobs.c.unique_key == job.unique_key)
                    ).scalar()
                    if existing is not None:
                        return existing, [], False
                connection.execute(
                    insert(jobs).values(
                        id=job_id,
                        tenant_id=job.tenant_id,
                        tenant_slug=job.tenant_slug,
                        tenant_version=job.tenant_version,
                        name=job.name,
                        args=job.args,
                        state=QUEUED,
                        attempts=0,
                        max_attempts=job.max_attempts,
                        token=None,
                        unique_key=job.unique_key,
                        run_at=run_at,
                        created_at=now,
                        updated_at=now,
                    )
                )
                # Platform jobs and delayed jobs are sent at once (a delayed job takes no
                # slot until it is due); a tenant's due job waits if its slots are taken.
                if job.tenant_id is None or run_at > now:
                    dispatches = [self._send(connection, job_id, None, run_at, now)]
                else:
                    dispatches = self._release(connection, job.tenant_id, now)
        except IntegrityError:
            if job.unique_key is None:
                raise
            # Another enqueue with the same key committed first: that one is the job.
            with self.engine.connect() as connection:
                existing = connection.execute(
                    select(jobs.c.id).where(jobs.c.unique_key == job.unique_key)
                ).scalar_one()
            return existing, [], False
        return job_id, [d for d in dispatches if d is not None], True

    def add_many_for_tenants(
        self, name: str, args: dict[str, Any], max_attempts: int, tenants: Sequence[Any], key: str
    ) -> list[Dispatch]:
        """One job per tenant, each keyed ``<tenant id>:<key>``: a repeated call adds none."""
        now = utcnow()
        dispatches: list[Dispatch] = []
        with self._writing() as connection:
            for tenant in tenants:
                unique_key = f"{tenant.id}:{key}"
                taken = connection.execute(
                    select(jobs.c.id).where(jobs.c.unique_key == unique_key)
                ).scalar()
                if taken is not None:
                    continue
                connection.execute(
                    insert(jobs).values(
                        id=new_id(),
                        tenant_id=tenant.id,
                        tenant_slug=tenant.slug,
                        tenant_version=tenant.version,
                        name=name,
                        args=args,
                        state=QUEUED,
                        attempts=0,
                        max_attempts=max_attempts,
                        unique_key=unique_key,
                        run_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                dispatches.extend(self._release(connection, tenant.id, now))
        return dispatches

    def _send(
        self,
        connection: Connection,
        job_id: str,
        old_token: str | None,
        run_at: datetime,
        now: datetime,
        *,
        stamp: bool = False,
    ) -> Dispatch | None:
        """Give the job a new token (if its token is still ``old_token``): it is to be sent.

        ``stamp`` records it as sent at once (it is sent before this transaction commits).
        """
        token = new_id()
        changed = connection.execute(
            update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.state == QUEUED,
                jobs.c.token.is_(None) if old_token is None else jobs.c.token == old_token,
            )
            .values(token=token, dispatched_at=now if stamp else None, updated_at=now)
        ).rowcount
        return Dispatch(job_id, token, run_at) if changed else None

    def in_flight(self, connection: Connection, tenant_id: int, now: datetime) -> int:
        """The tenant's jobs that are running, or sent and due (one round trip, two index scans)."""
        running = (
            select(func.count())
            .select_from(jobs)
            .where(jobs.c.tenant_id == tenant_id, jobs.c.state == RUNNING)
            .scalar_subquery()
        )
        sent = (
            select(func.count())
            .select_from(jobs)
            .where(
                jobs.c.tenant_id == tenant_id,
                jobs.c.state == QUEUED,
                jobs.c.token.is_not(None),
                jobs.c.run_at <= now,
            )
            .scalar_subquery()
        )
        return int(connection.execute(select(running + sent)).scalar_one())

    def _release(
        self, connection: Connection, tenant_id: int, now: datetime, *, stamp: bool = False
    ) -> list[Dispatch]:
        room = self.tenant_concurrency - self.in_flight(connection, tenant_id, now)
        if room <= 0:
            return []
        held = connection.execute(
            select(jobs.c.id, jobs.c.run_at)
            .where(
                jobs.c.tenant_id == tenant_id,
                jobs.c.state == QUEUED,
                jobs.c.token.is_(None),
                jobs.c.run_at <= now,
            )
            .order_by(jobs.c.run_at, jobs.c.created_at)
            .limit(room)
            # Workers releasing one tenant's jobs at once each take different rows.
            .with_for_update(skip_locked=True)
        ).all()
        dispatches = [
            self._send(connection, row.id, None, row.run_at, now, stamp=stamp) for row in held
        ]
        return [d for d in dispatches if d is not None]

    def release(self, tenant_id: int) -> list[Dispatch]:
        """Send the tenant's next held jobs, as many as it has free slots."""
        with self._writing() as connection:
            released = self._release(connection, tenant_id, utcnow(), stamp=self._stamp)
            return self._hand_over(connection, released)

    def confirm(self, dispatch: Dispatch) -> None:
        """The queue took the message."""
        with self._writing() as connection:
            connection.execute(
                update(jobs)
                .where(
                    jobs.c.id == dispatch.job_id,
                    jobs.c.token == dispatch.token,
                    jobs.c.dispatched_at.is_(None),
                )
                .values(dispatched_at=utcnow())
            )

    # -- running ---------------------------------------------------------------------

    def claim(self, job_id: str, token: str, worker: str) -> Claimed | None:
        """Start the job if this delivery is its current one; None means drop the message.

        A delivery of a job already ``running`` with the same token is the queue's
        redelivery after its worker died: it runs again (another attempt).
        """
        now = utcnow()
        with self._writing() as connection:
            self._commit_lazily(connection)
            # FOR UPDATE: if the transaction that sent this message has not committed
            # yet, wait for it (PostgreSQL; SQLite's write lock already orders us).
            row = connection.execute(
                select(jobs).where(jobs.c.id == job_id).with_for_update()
            ).first()
            if row is None or row.token != token or row.state not in (QUEUED, RUNNING):
                return None
            connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    state=RUNNING,
                    attempts=row.attempts + 1,
                    started_at=now,
                    updated_at=now,
                    worker=worker,
                    dispatched_at=row.dispatched_at or now,
                )
            )
            tenant = None
            if row.tenant_id is not None:
                found = connection.execute(
                    select(Tenant.slug, Tenant.status, Tenant.version).where(
                        Tenant.id == row.tenant_id
                    )
                ).first()
                tenant = None if found is None else (found[0], str(found[1]), found[2])
        return Claimed(
            id=row.id,
            token=token,
            name=row.name,
            args=dict(row.args or {}),
            tenant_id=row.tenant_id,
            tenant_slug=row.tenant_slug,
            tenant_version=row.tenant_version,
            attempts=row.attempts + 1,
            max_attempts=row.max_attempts,
            tenant_row=tenant,
        )

    def hand_back(self, claimed: Claimed) -> bool:
        """Undo a claim whose job never started: the delivery that comes again is no new attempt.

        For a failure around the job (the registry or the platform database did not
        answer while the job's tenant was opened), not in it. False if the row moved on.
        """
        values: dict[str, Any] = {
            "state": QUEUED,
            "attempts": claimed.attempts - 1,
            "worker": None,
            "updated_at": utcnow(),
        }
        if claimed.attempts == 1:
            values["started_at"] = None  # it never started
        with self._writing() as connection:
            result = connection.execute(
                update(jobs)
                .where(
                    jobs.c.id == claimed.id,
                    jobs.c.token == claimed.token,
                    jobs.c.state == RUNNING,
                    jobs.c.attempts == claimed.attempts,
                )
                .values(**values)
            )
        return result.rowcount == 1

    def tenant_row(self, tenant_id: int) -> tuple[str, str, int] | None:
        """(slug, status, version) of a tenant straight from the registry table."""
        with self._reading() as connection:
            row = connection.execute(
                select(Tenant.slug, Tenant.status, Tenant.version).where(Tenant.id == tenant_id)
            ).first()
        return None if row is None else (row.slug, str(row.status), row.version)

    def progress(self, job_id: str, token: str, done: int, total: int | None) -> None:
        with self._writing() as connection:
            self._commit_lazily(connection)
            connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.token == token, jobs.c.state == RUNNING)
                .values(progress_done=done, progress_total=total, updated_at=utcnow())
            )

    def finish(
        self,
        claimed: Claimed,
        state: JobState,
        *,
        result: Any = None,
        error: str | None = None,
        public_error: str | None = None,
    ) -> list[Dispatch]:
        """Record the end of an attempt; return the tenant's next jobs to send."""
        now = utcnow()
        values: dict[str, Any] = {"state": str(state), "finished_at": now, "updated_at": now}
        if state == JobState.SUCCEEDED:
            values.update(result=result, last_error=None, public_error=None)
        else:
            values.update(last_error=first_lines(error or ""), public_error=public_error)
        with self._writing() as connection:
            connection.execute(
                update(jobs)
                .where(
                    jobs.c.id == claimed.id, jobs.c.token == claimed.token, jobs.c.state == RUNNING
                )
                .values(**values)
            )
            if claimed.tenant_id is None:
                return []
            released = self._release(connection, claimed.tenant_id, now, stamp=self._stamp)
            return self._hand_over(connection, released)

    def retry_later(
        self,
        claimed: Claimed,
        run_at: datetime,
        *,
        error: str,
        public_error: str | None,
        spent: bool = True,
    ) -> list[Dispatch]:
        """Back to ``queued`` until ``run_at``, under a new token; send it with that delay.

        ``spent=False``: the job was held back before it could do anything (its tenant
        refused writes, or its storage moved under it), so this was no attempt.
        """
        now = utcnow()
        token = new_id()
        values: dict[str, Any] = {
            "state": QUEUED,
            "token": token,
            "run_at": run_at,
            "dispatched_at": now if self._stamp else None,
            "updated_at": now,
            "last_error": first_lines(error),
            "public_error": public_error,
        }
        if not spent:
            values["attempts"] = claimed.attempts - 1
            if claimed.attempts == 1:
                values["started_at"] = None
        with self._writing() as connection:
            changed = connection.execute(
                update(jobs)
                .where(
                    jobs.c.id == claimed.id, jobs.c.token == claimed.token, jobs.c.state == RUNNING
                )
                .values(**values)
            ).rowcount
            dispatches = [Dispatch(claimed.id, token, run_at)] if changed else []
            if claimed.tenant_id is not None:
                dispatches += self._release(connection, claimed.tenant_id, now, stamp=self._stamp)
            return self._hand_over(connection, dispatches)

    # -- the sweeper: recovery after crashes, and pruning -------------------------------

    def unconfirmed(self, older_than: timedelta, limit: int = 500) -> list[Dispatch]:
        """Sends that were decided but never confirmed (the sender died): send them anew."""
        now = utcnow()
        with self._writing() as connection:
            rows = connection.execute(
                select(jobs.c.id, jobs.c.token, jobs.c.run_at)
                .where(
                    jobs.c.state == QUEUED,
                    jobs.c.token.is_not(None),
                    jobs.c.dispatched_at.is_(None),
                    jobs.c.updated_at < now - older_than,
                )
                .limit(limit)
            ).all()
            dispatches = [
                self._send(connection, row.id, row.token, row.run_at, now, stamp=self._stamp)
                for row in rows
            ]
            return self._hand_over(connection, [d for d in dispatches if d is not None])

    def tenants_with_held_jobs(self, limit: int = 200) -> list[int]:
        with self._reading() as connection:
            return list(
                connection.execute(
                    select(jobs.c.tenant_id)
                    .where(jobs.c.state == QUEUED, jobs.c.token.is_(None))
                    .where(jobs.c.run_at <= utcnow())
                    .distinct()
                    .limit(limit)
                ).scalars()
            )

    def prune(self, finished_before: datetime, batch: int = 1000) -> int:
        """Delete finished records older than ``finished_before``, a batch per transaction."""
        total = 0
        while True:
            with self._writing() as connection:
                ids = list(
                    connection.execute(
                        select(jobs.c.id)
                        .where(jobs.c.finished_at < finished_before, jobs.c.state.in_(_FINISHED))
                        .limit(batch)
                    ).scalars()
                )
                if ids:
                    connection.execute(delete(jobs).where(jobs.c.id.in_(ids)))
            total += len(ids)
            if len(ids) < batch:
                return total

    # -- periodic jobs -------------------------------------------------------------------

    def take_period(self, connection: Connection, name: str, period: int) -> bool:
        """Move the job's schedule to ``period``; True for the one caller that does."""
        changed = connection.execute(
            update(schedules)
            .where(schedules.c.name == name, schedules.c.last_period < period)
            .values(last_period=period, fired_at=utcnow())
        ).rowcount
        if changed:
            return True
        exists = connection.execute(
            select(schedules.c.name).where(schedules.c.name == name)
        ).scalar()
        if exists is not None:
            return False
        connection.execute(
            insert(schedules).values(name=name, last_period=period, fired_at=utcnow())
        )
        return True

    def fire_period(self, name: str, period: int, job: NewJob) -> list[Dispatch]:
        """Fire ``period`` of a periodic job once across every worker: record its first job."""
        now = utcnow()
        try:
            with self._writing() as connection:
                if not self.take_period(connection, name, period):
                    return []
                job_id = new_id()
                connection.execute(
                    insert(jobs).values(
                        id=job_id,
                        tenant_id=None,
                        name=job.name,
                        args=job.args,
                        state=QUEUED,
                        attempts=0,
                        max_attempts=job.max_attempts,
                        unique_key=job.unique_key,
                        run_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                dispatch = self._send(connection, job_id, None, now, now)
        except IntegrityError:
            # Another worker inserted the schedule row (or the job) first.
            return []
        return [dispatch] if dispatch is not None else []

    # -- what people see and do (console, CLI, tenant apps) ---------------------------

    def get(self, job_id: str) -> Any:
        with self._reading() as connection:
            return connection.execute(select(jobs).where(jobs.c.id == job_id)).first()

    def retry(self, job_id: str) -> tuple[Any, list[Dispatch]]:
        """Run a failed, skipped or discarded job again, with all its attempts."""
        now = utcnow()
        with self._writing() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                raise JobNotFound(job_id)
            retryable = (
                str(JobState.FAILED),
                str(JobState.SKIPPED),
                str(JobState.DISCARDED),
            )
            if row.state not in retryable:
                raise JobStateConflict(
                    f"Job {job_id} is {row.state}; only failed, skipped or discarded jobs can "
                    "be retried."
                )
            connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state == row.state)
                .values(
                    state=QUEUED,
                    token=None,
                    attempts=0,
                    run_at=now,
                    dispatched_at=None,
                    started_at=None,
                    finished_at=None,
                    updated_at=now,
                )
            )
            if row.tenant_id is None:
                dispatches = [self._send(connection, job_id, None, now, now, stamp=self._stamp)]
            else:
                dispatches = self._release(connection, row.tenant_id, now, stamp=self._stamp)
            left = self._hand_over(connection, [d for d in dispatches if d is not None])
        return row, left

    def discard(self, job_id: str) -> Any:
        """Never run a queued or failed job (a message still in the queue becomes stale)."""
        now = utcnow()
        with self._writing() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                raise JobNotFound(job_id)
            if row.state not in (QUEUED, str(JobState.FAILED)):
                raise JobStateConflict(
                    f"Job {job_id} is {row.state}; only queued or failed jobs can be discarded"
                    + (" (a running job cannot be stopped)." if row.state == RUNNING else ".")
                )
            changed = connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state == row.state)
                .values(
                    state=str(JobState.DISCARDED),
                    token=None,
                    finished_at=now,
                    updated_at=now,
                )
            ).rowcount
            if not changed:
                raise JobStateConflict(f"Job {job_id} changed meanwhile; look at it again.")
            dispatches = []
            if row.tenant_id is not None:
                dispatches = self._release(connection, row.tenant_id, now, stamp=self._stamp)
            left = self._hand_over(connection, dispatches)
        return row, left

    def summary_by_tenant(self, limit: int = 50) -> list[dict[str, Any]]:
        """Per tenant (None: platform jobs): queued, running, failed; busiest first."""
        live = [QUEUED, RUNNING, str(JobState.FAILED)]
        with self._reading() as connection:
            rows = connection.execute(
                select(jobs.c.tenant_id, jobs.c.state, func.count())
                .where(jobs.c.state.in_(live))
                .group_by(jobs.c.tenant_id, jobs.c.state)
            ).all()
            slugs = dict(
                connection.execute(
                    select(Tenant.id, Tenant.slug).where(
                        Tenant.id.in_({row.tenant_id for row in rows if row.tenant_id})
                    )
                ).all()
            )
        summary: dict[int | None, dict[str, Any]] = {}
        for tenant_id, state, count in rows:
            entry = summary.setdefault(
                tenant_id,
                {
                    "tenant_id": tenant_id,
                    "slug": slugs.get(tenant_id) if tenant_id else None,
                    QUEUED: 0,
                    RUNNING: 0,
                    "failed": 0,
                },
            )
            entry[state] = count
        ordered = sorted(
            summary.values(),
            key=lambda e: (-(e[QUEUED] + e[RUNNING]), -e["failed"], e["slug"] or ""),
        )
        return ordered[:limit]

    def search(
        self,
        *,
        states: Sequence[str] = (),
        tenant_id: int | None = None,
        platform_only: bool = False,
        names: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Any], int]:
        query = select(jobs)
        count = select(func.count()).select_from(jobs)
        conditions = []
        if states:
            conditions.append(jobs.c.state.in_(list(states)))
        if platform_only:
            conditions.append(jobs.c.tenant_id.is_(None))
        elif tenant_id is not None:
            conditions.append(jobs.c.tenant_id == tenant_id)
        if names:
            conditions.append(jobs.c.name.in_(list(names)))
        if conditions:
            query = query.where(and_(*conditions))
            count = count.where(and_(*conditions))
        with self._reading() as connection:
            rows = connection.execute(
                query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit).offset(offset)
            ).all()
            total = connection.execute(count).scalar_one()
        return rows, int(total)

    def active_tenants_after(self, after_id: int, limit: int) -> list[Any]:
        """Active tenants with an id above ``after_id``, in id order (keyset pages)."""
        with self._reading() as connection:
            return list(
                connection.execute(
                    select(Tenant.id, Tenant.slug, Tenant.version)
                    .where(Tenant.status == str(TenantStatus.ACTIVE), Tenant.id > after_id)
                    .order_by(Tenant.id)
                    .limit(limit)
                ).all()
            )


__all__ = [
    "Claimed",
    "Dispatch",
    "JobNotFound",
    "JobStateConflict",
    "JobStore",
    "NewJob",
    "first_lines",
]
