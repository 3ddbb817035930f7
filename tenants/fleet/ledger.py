"""The migration ledger: each fleet run and each of its tenants, in the platform database.

Why a run can be killed at any moment and resumed: a tenant is migrated in one
transaction of its own storage, and only *after* it commits does the parent record it
(ledger row ``done``, registry ``storage_revision``). A kill in between leaves the
ledger saying ``pending`` and the registry the old revision: both only ever lag the
storage, never lead it. Resuming migrates that tenant again, which finds it at the head
and does nothing. So the registry's revision is a safe "already done" test: a tenant
it records at the head *is* at the head, which is what lets ``tenants migrate`` skip a
whole fleet with one index-only count instead of opening every tenant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from tenants.fleet.worker import BUSY, DONE, FAILED, Job, Result
from tenants.registry import feed
from tenants.registry.models import (
    MigrationRun,
    MigrationRunTenant,
    Tenant,
    TenantStatus,
    utcnow,
)

#: Tenants whose storage the fleet commands migrate and check (provisioning ones get the
#: head revision when they are created; failed and deleted ones have no storage).
MIGRATED_STATUSES = (str(TenantStatus.ACTIVE), str(TenantStatus.SUSPENDED))
PENDING = "pending"


class RunState(StrEnum):
    RUNNING = "running"  # in progress, or its process was killed: resumable
    STOPPED = "stopped"  # a canary, or --fail-fast, stopped it for a look: resumable
    FINISHED = "finished"  # every tenant done
    FAILED = "failed"  # over, with tenants failed or busy (the next run retries them)
    ABANDONED = "abandoned"  # unfinished when a newer head was deployed


UNFINISHED = (str(RunState.RUNNING), str(RunState.STOPPED))


def behind(head: str):  # noqa: ANN201 - a SQL condition
    """The registry says the tenant's storage is not at ``head``."""
    return or_(Tenant.storage_revision.is_(None), Tenant.storage_revision != head)


@dataclass(frozen=True)
class FleetCount:
    live: int
    behind: int


def count_fleet(session: Session, head: str) -> FleetCount:
    """How many tenants have storage, and how many of them are behind: one query.

    Served by ``ix_tenants_status_revision`` (an index-only scan), so a fleet of a
    million tenants with nothing pending is counted in well under a second.
    """
    live, lagging = session.execute(
        select(func.count(), func.coalesce(func.sum(case((behind(head), 1), else_=0)), 0)).where(
            Tenant.status.in_(MIGRATED_STATUSES)
        )
    ).one()
    return FleetCount(int(live), int(lagging))


def unfinished_run(session: Session) -> MigrationRun | None:
    """The newest fleet run still to finish (named-tenant runs are never resumed)."""
    return session.execute(
        select(MigrationRun)
        .where(MigrationRun.state.in_(UNFINISHED), MigrationRun.scope == "fleet")
        .order_by(MigrationRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def start_run(
    session: Session,
    head: str,
    *,
    jobs: int,
    mode: str,
    tenant_ids: Sequence[int] | None = None,
) -> MigrationRun:
    """A new run over every tenant behind ``head`` (or over ``tenant_ids``), with its rows.

    The rows are copied from the registry by one INSERT ... SELECT: no tenant is read
    into Python, however large the fleet.
    """
    run = MigrationRun(
        target_revision=head,
        state=RunState.RUNNING,
        mode=mode,
        scope="fleet" if tenant_ids is None else "named",
        jobs=jobs,
        total=0,
        actor="cli",
    )
    session.add(run)
    session.flush()
    chosen = select(
        literal(run.id),
        Tenant.id,
        Tenant.slug,
        Tenant.database,
        literal(PENDING),
        Tenant.storage_revision,
    ).where(Tenant.status.in_(MIGRATED_STATUSES), behind(head))
    if tenant_ids is not None:
        chosen = chosen.where(Tenant.id.in_(list(tenant_ids)))
    session.execute(
        insert(MigrationRunTenant).from_select(
            ["run_id", "tenant_id", "slug", "database", "state", "from_revision"], chosen
        )
    )
    run.total = session.execute(
        select(func.count()).where(MigrationRunTenant.run_id == run.id)
    ).scalar_one()
    return run


def todo(session: Session, run: MigrationRun, limit: int | None = None) -> list[Job]:
    """The run's tenants still to migrate (pending, failed or busy), by tenant id.

    Only tenants that still have storage: one deleted since the run began is left out.
    """
    query = (
        select(
            MigrationRunTenant.tenant_id,
            Tenant.slug,
            Tenant.database,
            Tenant.storage_revision,
        )
        .join(Tenant, Tenant.id == MigrationRunTenant.tenant_id)
        .where(
            MigrationRunTenant.run_id == run.id,
            MigrationRunTenant.state != DONE,
            Tenant.status.in_(MIGRATED_STATUSES),
        )
        .order_by(MigrationRunTenant.tenant_id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [Job(*row) for row in session.execute(query)]


def record(session: Session, run_id: int, results: Iterable[Result]) -> None:
    """Write what workers report: ledger rows, and the registry's revision of each done tenant.

    Each done tenant is also a registry change (its ``storage_revision`` is part of what
    every process caches), appended in tenant-id order like every registry write.
    """
    ordered = sorted(results, key=lambda result: result.tenant_id)
    if not ordered:
        return
    now = utcnow()
    session.execute(
        update(MigrationRunTenant),
        [
            {
                "run_id": run_id,
                "tenant_id": result.tenant_id,
                "state": result.state,
                "from_revision": result.from_revision,
                "to_revision": result.to_revision,
                "error": result.error,
                "duration_ms": result.duration_ms,
                "started_at": result.started_at,
                "finished_at": now,
            }
            for result in ordered
        ],
    )
    for result in ordered:
        if result.state == DONE:
            session.execute(
                update(Tenant)
                .where(Tenant.id == result.tenant_id)
                .values(storage_revision=result.to_revision, updated_at=now)
            )
            feed.append(session, result.tenant_id)
    session.execute(update(MigrationRun).where(MigrationRun.id == run_id).values(updated_at=now))


def close_run(session: Session, run_id: int, state: RunState) -> None:
    finished = None if state in (RunState.RUNNING, RunState.STOPPED) else utcnow()
    session.execute(
        update(MigrationRun)
        .where(MigrationRun.id == run_id)
        .values(state=state, updated_at=utcnow(), finished_at=finished)
    )


def abandon(session: Session, run: MigrationRun) -> None:
    """A newer head was deployed: the old run's target is no longer where anyone goes."""
    close_run(session, run.id, RunState.ABANDONED)


# -- reading, for the admin console -------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    run: MigrationRun
    done: int
    failed: int
    busy: int
    pending: int


def recent_runs(session: Session, limit: int = 10) -> list[RunSummary]:
    runs = session.execute(
        select(MigrationRun).order_by(MigrationRun.id.desc()).limit(limit)
    ).scalars()
    runs = list(runs)
    if not runs:
        return []
    counts: dict[tuple[int, str], int] = {
        (run_id, state): count
        for run_id, state, count in session.execute(
            select(MigrationRunTenant.run_id, MigrationRunTenant.state, func.count())
            .where(MigrationRunTenant.run_id.in_([run.id for run in runs]))
            .group_by(MigrationRunTenant.run_id, MigrationRunTenant.state)
        )
    }
    return [
        RunSummary(
            run,
            counts.get((run.id, DONE), 0),
            counts.get((run.id, FAILED), 0),
            counts.get((run.id, BUSY), 0),
            counts.get((run.id, PENDING), 0),
        )
        for run in runs
    ]


@dataclass(frozen=True)
class LaggingTenant:
    id: int
    slug: str
    status: str
    storage_revision: str | None
    #: The last error a run recorded for it, if its last attempt failed.
    error: str | None
    run_id: int | None


def lagging_tenants(session: Session, head: str, limit: int = 100) -> list[LaggingTenant]:
    """Tenants behind ``head`` (by the registry), with the error of their last failed attempt."""
    rows = session.execute(
        select(Tenant.id, Tenant.slug, Tenant.status, Tenant.storage_revision)
        .where(Tenant.status.in_(MIGRATED_STATUSES), behind(head))
        .order_by(Tenant.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    latest = (
        select(
            MigrationRunTenant.tenant_id,
            func.max(MigrationRunTenant.run_id).label("run_id"),
        )
        .where(MigrationRunTenant.tenant_id.in_([row.id for row in rows]))
        .group_by(MigrationRunTenant.tenant_id)
        .subquery()
    )
    errors = {
        tenant_id: (run_id, error, state)
        for tenant_id, run_id, error, state in session.execute(
            select(
                MigrationRunTenant.tenant_id,
                MigrationRunTenant.run_id,
                MigrationRunTenant.error,
                MigrationRunTenant.state,
            ).join(
                latest,
                (latest.c.tenant_id == MigrationRunTenant.tenant_id)
                & (latest.c.run_id == MigrationRunTenant.run_id),
            )
        )
    }
    lagging = []
    for row in rows:
        run_id, error, state = errors.get(row.id, (None, None, None))
        lagging.append(
            LaggingTenant(
                row.id,
                row.slug,
                row.status,
                row.storage_revision,
                error if state in (FAILED, BUSY) else None,
                run_id,
            )
        )
    return lagging
