"""Fairness across tenants, and the repairs and schedules that keep every job moving.

Speed is measured by the benchmark (``tests/benchmarks/run.py --only jobs``); these
tests check the mechanisms: what is sent to the queue, in what order jobs start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tenants import lifecycle
from tenants.jobs import catalog, tenant_job
from tenants.jobs.brokers import queue_depth
from tenants.jobs.models import JobRecord
from tenants.jobs.runtime import JobRuntime, install_runtime
from tenants.jobs.scheduler import FAN_OUT, Scheduler
from tenants.jobs.settings import JobSettings
from tenants.jobs.worker import Ticker
from tenants.kernel import Platform
from tests.job_samples import note_start, record_notes
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    note_titles,
    queue_kind,
    running_worker,
    wait_for,
)

Create = Callable[..., lifecycle.ProvisionedTenant]
CAP = 3


@pytest.fixture
def capped(platform: Platform, jobs: JobRuntime, job_settings: JobSettings) -> JobRuntime:  # noqa: F811
    return install_runtime(platform, job_settings.with_changes(tenant_concurrency=CAP))


def sent(runtime: JobRuntime, tenant_id: int) -> tuple[int, int]:
    """(jobs sent to the queue, jobs held back) of a tenant."""
    with runtime.platform.engine.connect() as connection:
        rows = dict(
            connection.execute(
                select(JobRecord.token.is_not(None), func.count())
                .where(JobRecord.tenant_id == tenant_id, JobRecord.state == "queued")
                .group_by(JobRecord.token.is_not(None))
            ).all()
        )
    return rows.get(True, 0), rows.get(False, 0)


def test_one_tenants_flood_puts_only_its_share_in_the_queue(
    platform: Platform, capped: JobRuntime, create_tenant: Create
) -> None:
    acme, globex = create_tenant("acme"), create_tenant("globex")
    flood = [
        note_start.enqueue_for(platform.registry.get("acme"), platform=platform, label=f"a{i:02}")
        for i in range(40)
    ]
    assert sent(capped, acme.id) == (CAP, 40 - CAP)
    assert queue_depth(capped.broker) == CAP
    single = note_start.enqueue_for(platform.registry.get("globex"), platform=platform, label="g")
    # The other tenant's job is sent at once, behind only the flood's share.
    assert sent(capped, globex.id) == (1, 0)
    assert queue_depth(capped.broker) == CAP + 1

    with running_worker(capped, threads=1):
        wait_for(lambda: finished(capped, single.id))
        wait_for(lambda: all(finished(capped, h.id) for h in flood), 60)
    rows = [capped.store.get(h.id) for h in flood]
    assert all(row.state == "succeeded" for row in rows)
    globex_start = capped.store.get(single.id).started_at
    before = sum(row.started_at < globex_start for row in rows)
    assert before <= CAP, f"{before} of acme's jobs started before globex's one job"
    # Within one tenant the order of enqueueing is kept.
    starts = [row.started_at for row in rows]
    assert starts == sorted(starts)
    assert note_titles(platform, globex.id) == ["start g"]


def test_platform_jobs_and_delayed_jobs_take_no_tenant_slot(
    platform: Platform, capped: JobRuntime, create_tenant: Create
) -> None:
    acme = create_tenant("acme")
    tenant = platform.registry.get("acme")
    for i in range(CAP):
        note_start.enqueue_for(tenant, platform=platform, label=f"later {i}", delay=3600)
    now = note_start.enqueue_for(tenant, platform=platform, label="now")
    assert sent(capped, acme.id) == (CAP + 1, 0)
    assert capped.store.get(now.id).token is not None


def test_the_sweeper_resends_a_job_whose_sender_died_and_the_old_message_is_stale(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    from tenants.jobs.store import NewJob

    acme = create_tenant("acme")
    # The sender recorded the job and its token, then died before the queue took it.
    job_id, dispatches, _ = jobs.store.add(
        NewJob(
            name="tests.record_notes",
            args={"label": "lost"},
            max_attempts=1,
            tenant_id=acme.id,
            tenant_slug="acme",
            tenant_version=platform.registry.get("acme").version,
        )
    )
    assert jobs.store.get(job_id).dispatched_at is None
    ticker = Ticker(jobs)
    assert ticker.sweep(unconfirmed_after=timedelta(0)) == 1
    # The first send arrives late after all: it names a token the job no longer has.
    jobs.send(dispatches)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, job_id))
        wait_for(lambda: queue_depth(jobs.broker) == 0)
    assert row.state == "succeeded" and row.attempts == 1
    assert note_titles(platform, acme.id) == ["job lost"]


def test_the_sweeper_releases_held_jobs_a_crash_left_waiting(
    platform: Platform, capped: JobRuntime, create_tenant: Create
) -> None:
    acme = create_tenant("acme")
    tenant = platform.registry.get("acme")
    handles = [
        record_notes.enqueue_for(tenant, platform=platform, label=f"{i}") for i in range(CAP + 2)
    ]
    # The sent jobs finished, but their worker died before sending the next ones.
    capped.broker.flush_all()
    with platform.engine.begin() as connection:
        connection.execute(
            update(JobRecord)
            .where(JobRecord.token.is_not(None))
            .values(state="succeeded", finished_at=func.now())
        )
    assert sent(capped, acme.id) == (0, 2)
    assert Ticker(capped).sweep() == 2
    with running_worker(capped):
        rows = [wait_for(lambda h=h: finished(capped, h.id)) for h in handles[CAP:]]
    assert [row.state for row in rows] == ["succeeded", "succeeded"]


@pytest.fixture
def every_minute(jobs: JobRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:  # noqa: F811
    def mark(ctx: object) -> None:
        from tenants.appkit import db
        from tenants.notes.models import Note

        db.session.add(Note(title="mark", body=""))
        db.session.commit()

    definition = tenant_job("tests.every_minute", every=timedelta(minutes=1))(mark)
    # Known to this runtime as if this module were listed in JOBS_IMPORTS.
    monkeypatch.setattr(
        jobs, "settings", jobs.settings.with_changes(imports=(*jobs.settings.imports, __name__))
    )
    yield definition
    catalog.forget("tests.every_minute")


def test_a_period_fires_once_however_many_workers_tick_and_a_retried_fan_out_adds_nothing(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    every_minute: object,
) -> None:
    tenants = [create_tenant(slug) for slug in ("acme", "globex", "initech")]
    lifecycle.suspend_tenant(platform, "globex", actor="test")
    period = every_minute.periodic.period_at(1_800_000_000)  # type: ignore[attr-defined]
    one, two = Scheduler(jobs), Scheduler(jobs)
    assert one.fire(every_minute, period) is True  # type: ignore[arg-type]
    assert two.fire(every_minute, period) is False  # type: ignore[arg-type]
    with running_worker(jobs, threads=2):
        wait_for(lambda: count(jobs, "tests.every_minute", "succeeded") == 2)
        # A fan-out delivered again (its worker died after adding the jobs) adds none.
        again = catalog.get(FAN_OUT).enqueue(
            platform=platform, name="tests.every_minute", period=period, after_id=0
        )
        row = wait_for(lambda: finished(jobs, again.id))
        assert row.state == "succeeded" and row.result["queued"] == 0
        assert two.fire(every_minute, period + 1) is True  # type: ignore[arg-type]
        wait_for(lambda: count(jobs, "tests.every_minute", "succeeded") == 4)
    marks = {t.slug: note_titles(platform, t.id).count("mark") for t in tenants}
    assert marks == {"acme": 2, "globex": 0, "initech": 2}


def count(runtime: JobRuntime, name: str, state: str) -> int:
    with runtime.platform.engine.connect() as connection:
        return connection.execute(
            select(func.count()).where(JobRecord.name == name, JobRecord.state == state)
        ).scalar_one()


def test_the_scheduler_fires_each_due_period_once_per_process(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    every_minute: object,
) -> None:
    scheduler = Scheduler(jobs)
    fired = scheduler.tick(now=1_800_000_000)
    assert "tests.every_minute" in fired and "jobs.prune_records" in fired
    assert scheduler.tick(now=1_800_000_030) == []
    # The platform's own every-minute jobs (provisioning sweep, domain checks) are due too.
    assert sorted(scheduler.tick(now=1_800_000_060)) == [
        "platform.check_domains",
        "platform.sweep_provisioning",
        "tests.every_minute",
    ]
    # A new process (a restarted worker) does not fire a period already fired.
    assert Scheduler(jobs).tick(now=1_800_000_061) == []
