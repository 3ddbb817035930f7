"""A job's life: skipped when its tenant is gone, retried with backoff, failed, kept, pruned."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from tenants import lifecycle
from tenants.jobs import catalog, tenant_job
from tenants.jobs.models import JobRecord, utcnow
from tenants.jobs.runtime import InvalidJobArguments, JobRuntime
from tenants.jobs.store import JobNotFound, JobStateConflict
from tenants.kernel import Platform
from tenants.registry.record import RegistryUnavailable
from tests.job_samples import fail_until, progress, record_notes
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


@pytest.mark.parametrize("change", ["suspend", "delete"])
def test_a_job_whose_tenant_is_suspended_or_deleted_when_it_runs_is_skipped(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    change: str,
) -> None:
    acme = create_tenant("acme")
    handle = record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label="x")
    if change == "suspend":
        lifecycle.suspend_tenant(platform, "acme", actor="test")
        expected = "Tenant “acme” is suspended."
    else:
        lifecycle.delete_tenant(platform, "acme", actor="test")
        expected = "Tenant “acme” is deleted."
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "skipped"
    assert row.last_error == expected and row.public_error == expected
    assert row.result is None
    if change == "suspend":
        assert note_titles(platform, acme.id) == []  # never ran


def test_a_job_of_a_deleted_tenant_never_runs_in_the_tenant_that_took_its_name(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    old = create_tenant("acme")
    handle = record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label="x")
    lifecycle.delete_tenant(platform, "acme", actor="test")
    lifecycle.purge_tenant(platform, "acme", confirm="acme", actor="test")
    new = create_tenant("acme")
    assert new.id != old.id
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "skipped" and row.tenant_id == old.id
    assert note_titles(platform, new.id) == []


def test_a_failing_job_is_retried_with_backoff_and_then_succeeds(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    handle = fail_until.enqueue_for(platform.registry.get("acme"), platform=platform, succeed_on=3)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "succeeded" and row.attempts == 3
    assert row.result == {"attempt": 3}
    assert row.last_error is None


def test_a_job_that_keeps_failing_fails_after_its_attempts_and_says_why(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    acme = platform.registry.get("acme")
    hidden = fail_until.enqueue_for(acme, platform=platform, succeed_on=99)
    public = fail_until.enqueue_for(acme, platform=platform, succeed_on=99, public=True)
    with running_worker(jobs, threads=2):
        hidden_row = wait_for(lambda: finished(jobs, hidden.id))
        public_row = wait_for(lambda: finished(jobs, public.id))
    assert hidden_row.state == public_row.state == "failed"
    assert hidden_row.attempts == public_row.attempts == fail_until.max_attempts
    # Operators read the exception; the tenant's people read only what is meant for them.
    assert "RuntimeError: attempt 4 failed: secret internals" in hidden_row.last_error
    assert "secret" not in hidden_row.public_error
    assert public_row.public_error == "Attempt 4 could not reach the printer."


def test_progress_is_recorded_for_the_tenant_to_see(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    handle = progress.enqueue_for(platform.registry.get("acme"), platform=platform, steps=5)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "succeeded"
    assert (row.progress_done, row.progress_total) == (5, 5)


def test_unique_key_gives_back_the_job_already_queued(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    create_tenant("globex")
    acme, globex = platform.registry.get("acme"), platform.registry.get("globex")
    first = record_notes.enqueue_for(acme, platform=platform, label="a", unique_key="daily")
    again = record_notes.enqueue_for(acme, platform=platform, label="b", unique_key="daily")
    other = record_notes.enqueue_for(globex, platform=platform, label="c", unique_key="daily")
    assert first.created and not again.created and again.id == first.id
    # Keys are per tenant: the same key in another tenant is another job.
    assert other.created and other.id != first.id


def test_arguments_must_be_json(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    with pytest.raises(InvalidJobArguments, match="JSON values"):
        record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label={1, 2})
    assert jobs.store.search()[1] == 0


def test_a_delayed_job_waits_for_its_time(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    acme = platform.registry.get("acme")
    later = record_notes.enqueue_for(acme, platform=platform, label="later", delay=1.5)
    now = record_notes.enqueue_for(acme, platform=platform, label="now")
    with running_worker(jobs):
        now_row = wait_for(lambda: finished(jobs, now.id))
        assert jobs.store.get(later.id).state == "queued"
        later_row = wait_for(lambda: finished(jobs, later.id))
    assert now_row.state == later_row.state == "succeeded"
    assert later_row.started_at > now_row.started_at
    assert (later_row.started_at - later_row.created_at).total_seconds() >= 1.4


def test_retry_and_discard_follow_the_job_state(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    acme = create_tenant("acme")
    tenant = platform.registry.get("acme")
    skipped = record_notes.enqueue_for(tenant, platform=platform, label="after resume")
    lifecycle.suspend_tenant(platform, "acme", actor="test")
    with running_worker(jobs):
        assert wait_for(lambda: finished(jobs, skipped.id)).state == "skipped"
    lifecycle.resume_tenant(platform, "acme", actor="test")

    queued = record_notes.enqueue_for(tenant, platform=platform, label="never")
    row, _ = jobs.store.discard(queued.id)
    assert row.state == "queued" and jobs.store.get(queued.id).state == "discarded"
    with pytest.raises(JobStateConflict, match="is discarded; only queued or failed"):
        jobs.store.discard(queued.id)
    with pytest.raises(JobStateConflict, match="is skipped; only queued or failed"):
        jobs.store.discard(skipped.id)
    with pytest.raises(JobNotFound):
        jobs.store.retry("f" * 32)

    row, dispatches = jobs.store.retry(skipped.id)
    assert row.state == "skipped"
    jobs.send(dispatches)
    with pytest.raises(JobStateConflict, match="is queued; only failed, skipped or discarded"):
        jobs.store.retry(skipped.id)
    with running_worker(jobs):
        again = wait_for(lambda: finished(jobs, skipped.id))
        # The discarded job's message was still in the queue: it is stale and never runs.
        time.sleep(0.3)
    assert again.state == "succeeded" and again.attempts == 1
    assert jobs.store.get(queued.id).state == "discarded"
    assert note_titles(platform, acme.id) == ["job after resume"]


def test_finished_records_are_pruned_after_retention(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    acme = platform.registry.get("acme")
    old = record_notes.enqueue_for(acme, platform=platform, label="old")
    recent = record_notes.enqueue_for(acme, platform=platform, label="recent")
    waiting = record_notes.enqueue_for(acme, platform=platform, label="waiting", delay=3600)
    with running_worker(jobs):
        wait_for(lambda: finished(jobs, old.id) and finished(jobs, recent.id))
    with platform.engine.begin() as connection:
        connection.execute(
            JobRecord.__table__.update()
            .where(JobRecord.id == old.id)
            .values(finished_at=utcnow() - timedelta(days=8))
        )
    assert jobs.store.prune(utcnow() - timedelta(days=7), batch=1) == 1
    with platform.engine.connect() as connection:
        left = set(connection.execute(select(JobRecord.id)).scalars())
    assert left == {recent.id, waiting.id}


def test_the_prune_job_deletes_old_records(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    old = record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label="x")
    with running_worker(jobs):
        wait_for(lambda: finished(jobs, old.id))
        with platform.engine.begin() as connection:
            connection.execute(
                JobRecord.__table__.update()
                .where(JobRecord.id == old.id)
                .values(finished_at=utcnow() - timedelta(days=jobs.settings.retention_days + 1))
            )
        prune = catalog.get("jobs.prune_records").enqueue(platform=platform)
        row = wait_for(lambda: finished(jobs, prune.id))
    assert row.state == "succeeded" and row.result == {"deleted": 1}
    assert jobs.store.get(old.id) is None


def test_a_job_declared_twice_under_one_name_is_refused() -> None:
    def one(ctx: object) -> None: ...

    def two(ctx: object) -> None: ...

    tenant_job("tests.declared_twice")(one)
    try:
        with pytest.raises(ValueError, match="taken"):
            tenant_job("tests.declared_twice")(two)
        with pytest.raises(ValueError, match="dotted lower-case"):
            tenant_job("Not A Name")(one)
    finally:
        catalog.forget("tests.declared_twice")


def test_a_job_whose_tenant_app_cannot_be_built_fails_and_is_kept(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_tenant("acme")
    handle = record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label="x")

    def broken(tenant: object) -> None:
        raise RuntimeError("the tenant's storage is unreadable")

    platform.apps.clear()
    monkeypatch.setattr(platform, "build_tenant_app", broken)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "failed"  # record_notes has one attempt
    assert "Cannot open the tenant" in row.last_error and "unreadable" in row.last_error


def test_a_registry_that_fails_as_a_job_opens_its_tenant_costs_no_attempt(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_tenant("acme")
    handle = record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label="x")
    real_get = platform.registry.get
    failed: list[str] = []

    def unavailable_once(slug: str) -> object:
        # The registry's outage (a stuck poll, a restarting database) cannot be timed
        # for real around one job's start: the first lookup fails as it would.
        if not failed:
            failed.append(slug)
            raise RegistryUnavailable("The tenant registry has not answered for a while.")
        return real_get(slug)

    monkeypatch.setattr(platform.registry, "get", unavailable_once)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    # Handed back and delivered again by the broker; record_notes has a single attempt.
    assert failed == ["acme"]
    assert (row.state, row.attempts) == ("succeeded", 1), row.last_error
