"""Real worker processes (``flask --app tenants.wsgi jobs worker``) on both queues.

The embedded queue is tested with the embedded database (SQLite), Redis with
PostgreSQL: the two ways the platform is run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tenants import lifecycle
from tenants.jobs.models import JobRecord
from tenants.jobs.runtime import JobRuntime
from tenants.kernel import Platform
from tests.job_samples import effect_once, note_start, record_notes, sleep, wait_then_effect
from tests.jobs_support import (  # noqa: F401 - fixtures
    WorkerProcess,
    finished,
    job_settings,
    jobs,
    note_titles,
    start_worker,
    wait_for,
)

Create = Callable[..., lifecycle.ProvisionedTenant]
StartWorker = Callable[..., WorkerProcess]

both_ways = pytest.mark.parametrize(
    ("backend", "queue_kind"),
    [
        ("sqlite", "embedded"),
        pytest.param("postgres", "redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ],
)


def state_of(runtime: JobRuntime, job_id: str) -> str:
    return runtime.store.get(job_id).state


@both_ways
def test_a_worker_process_runs_jobs_in_their_tenants_and_skips_a_suspended_one(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    start_worker: StartWorker,  # noqa: F811
) -> None:
    acme, globex, initech = create_tenant("acme"), create_tenant("globex"), create_tenant("initech")
    handles = [
        record_notes.enqueue_for(platform.registry.get(slug), platform=platform, label=slug)
        for slug in ("acme", "globex", "acme", "initech")
    ]
    lifecycle.suspend_tenant(platform, "initech", actor="test")
    start_worker(jobs.settings, "--threads", "2")
    rows = [wait_for(lambda h=h: finished(jobs, h.id)) for h in handles]
    assert [row.state for row in rows] == ["succeeded", "succeeded", "succeeded", "skipped"], [
        row.last_error for row in rows
    ]
    assert [row.result["slug"] for row in rows[:3]] == ["acme", "globex", "acme"]
    assert rows[3].last_error == "Tenant “initech” is suspended."
    assert note_titles(platform, acme.id) == ["job acme"]
    assert note_titles(platform, globex.id) == ["job globex"]
    assert note_titles(platform, initech.id) == []


@both_ways
@pytest.mark.parametrize("killed", ["after the effect", "before the effect"])
def test_kill_9_mid_job_runs_it_again_and_its_effect_happens_once(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    start_worker: StartWorker,  # noqa: F811
    tmp_path: Path,
    killed: str,
) -> None:
    acme = create_tenant("acme")
    markers = tmp_path / "markers"
    markers.mkdir()
    job = effect_once if killed == "after the effect" else wait_then_effect
    handle = job.enqueue_for(
        platform.registry.get("acme"), platform=platform, marker_dir=str(markers), wait=60.0
    )
    first = start_worker(jobs.settings)
    wait_for(lambda: list(markers.glob("*-1-*")), message=f"never started:\n{first.output()}")
    assert state_of(jobs, handle.id) == "running"
    first.kill()

    (markers / "release").touch()  # the next attempt does not wait
    second = start_worker(jobs.settings)
    row = wait_for(lambda: finished(jobs, handle.id), 30, f"not run again:\n{second.output()}")
    assert row.state == "succeeded" and row.attempts == 2
    assert row.worker.endswith(f":{second.pid}")
    effects = [t for t in note_titles(platform, acme.id) if t.startswith("effect ")]
    assert effects == [f"effect {handle.id}"]
    if killed == "after the effect":
        assert (markers / f"attempt-1-{first.pid}").read_text() == "True"
        assert row.result == {"attempt": 2, "added": False}
    else:
        assert row.result == {"attempt": 2, "added": True}


@both_ways
def test_a_job_longer_than_the_redelivery_time_runs_once(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    start_worker: StartWorker,  # noqa: F811
) -> None:
    acme = create_tenant("acme")
    seconds = jobs.settings.redeliver_seconds * 2.5
    handle = sleep.enqueue_for(platform.registry.get("acme"), platform=platform, seconds=seconds)
    start_worker(jobs.settings, "--threads", "1")
    start_worker(jobs.settings, "--threads", "1")
    row = wait_for(lambda: finished(jobs, handle.id), 30)
    # The worker kept its hold on the job while it ran: the other never got it.
    assert row.state == "succeeded" and row.attempts == 1
    assert note_titles(platform, acme.id) == [f"slept {handle.id}"]


@both_ways
def test_sigterm_lets_the_running_job_finish_and_hands_back_the_rest(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    start_worker: StartWorker,  # noqa: F811
) -> None:
    acme = create_tenant("acme")
    tenant = platform.registry.get("acme")
    running = note_start.enqueue_for(tenant, platform=platform, label="running", seconds=2.0)
    waiting = note_start.enqueue_for(tenant, platform=platform, label="waiting")
    worker = start_worker(jobs.settings, "--threads", "1", "--no-ticker")
    wait_for(lambda: state_of(jobs, running.id) == "running", message=worker.output())
    assert worker.terminate() == 0, worker.output()
    assert finished(jobs, running.id).state == "succeeded"
    # Taken from the queue but not started: given back, still queued, not lost.
    assert state_of(jobs, waiting.id) == "queued"
    assert note_titles(platform, acme.id) == ["start running"]

    start_worker(jobs.settings, "--threads", "1", "--no-ticker")
    assert wait_for(lambda: finished(jobs, waiting.id)).state == "succeeded"
    assert note_titles(platform, acme.id) == ["start running", "start waiting"]


@both_ways
def test_sigterm_past_the_shutdown_timeout_hands_the_running_job_to_another_worker(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    start_worker: StartWorker,  # noqa: F811
    tmp_path: Path,
) -> None:
    acme = create_tenant("acme")
    markers = tmp_path / "markers"
    markers.mkdir()
    handle = effect_once.enqueue_for(
        platform.registry.get("acme"), platform=platform, marker_dir=str(markers), wait=60.0
    )
    worker = start_worker(jobs.settings, "--shutdown-timeout", "0.5", "--no-ticker")
    wait_for(lambda: list(markers.glob("attempt-1-*")), message=worker.output())
    started = time.monotonic()
    assert worker.terminate(timeout=20) == 0, worker.output()
    assert time.monotonic() - started < 15
    (markers / "release").touch()
    start_worker(jobs.settings, "--no-ticker")
    row = wait_for(lambda: finished(jobs, handle.id), 30)
    assert row.state == "succeeded" and row.attempts == 2
    assert [t for t in note_titles(platform, acme.id) if t.startswith("effect")] == [
        f"effect {handle.id}"
    ]


@both_ways
def test_a_periodic_job_reaches_every_active_tenant_once(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    start_worker: StartWorker,  # noqa: F811
) -> None:
    tenants = [create_tenant(slug) for slug in ("acme", "globex", "initech", "umbrella", "hooli")]
    lifecycle.suspend_tenant(platform, "initech", actor="test")
    settings = jobs.settings.with_changes(
        imports=("tests.job_samples", "tests.job_periodic_samples"), fan_out_batch=2
    )
    # Two workers tick the schedule at once; batches of two tenants: three fan-out steps.
    start_worker(settings, "--threads", "2")
    start_worker(settings, "--threads", "2")

    def marks() -> dict[str, int]:
        return {
            t.slug: sum(title.startswith("daily ") for title in note_titles(platform, t.id))
            for t in tenants
        }

    wait_for(lambda: sum(marks().values()) >= 4, 30, f"marks: {marks()}")
    time.sleep(1.0)  # a second run, if there were one, would show by now
    assert marks() == {"acme": 1, "globex": 1, "initech": 0, "umbrella": 1, "hooli": 1}
    with platform.engine.connect() as connection:
        runs = connection.execute(
            select(JobRecord.name, JobRecord.args, JobRecord.state).where(
                JobRecord.name.in_(["tests.daily_mark", "jobs.fan_out"])
            )
        ).all()
    marked = [run for run in runs if run.name == "tests.daily_mark"]
    steps = [
        run for run in runs if run.name == "jobs.fan_out" and run.args["name"] == "tests.daily_mark"
    ]
    assert len(marked) == 4 and {run.state for run in marked} == {"succeeded"}
    # Batches of two active tenants, by id: after 0, after the 2nd, after the 4th (none left).
    active = [t.id for t in tenants if t.slug != "initech"]
    assert sorted(run.args["after_id"] for run in steps) == [0, active[1], active[3]]
