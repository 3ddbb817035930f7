"""Jobs and a tenant that refuses writes (read-only, or a move's lease).

A job that writes its tenant's storage waits while the tenant is read-only, without
spending an attempt, and runs once it is writable; a job declared ``writes=False`` (mail,
reading) runs on. A job whose tenant moved under it is queued again, attempt unspent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tenants import lifecycle, moves
from tenants.jobs import runtime
from tenants.jobs.runtime import JobRuntime, close_runtime, install_runtime
from tenants.kernel import Platform
from tests.job_samples import count_notes, record_notes, write_when_told
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    make_job_settings,
    note_titles,
    queue_kind,
    running_worker,
    wait_for,
)
from tests.test_multi_database import create, sharded  # noqa: F401 - a fixture


def test_a_writing_job_waits_while_its_tenant_is_read_only_and_a_reading_job_runs_on(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Callable[..., lifecycle.ProvisionedTenant],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "HELD_JOB_RECHECK_SECONDS", 1)
    acme = create_tenant("acme")
    lifecycle.set_read_only(platform, "acme", True, actor="test")
    with platform.tenant_app_for("acme").test_request_context("/"):
        writer = record_notes.enqueue(label="held")
        reader = count_notes.enqueue()

    def held() -> object:
        row = jobs.store.get(writer.id)
        return row if row.last_error else None

    with running_worker(jobs, threads=1):
        read = wait_for(lambda: finished(jobs, reader.id))
        assert (read.state, read.result) == ("succeeded", {"notes": 0})
        waiting = wait_for(held)
        assert (waiting.state, waiting.attempts) == ("queued", 0)
        assert "read-only" in waiting.last_error
        assert note_titles(platform, acme.id) == []
        lifecycle.set_read_only(platform, "acme", False, actor="test")
        done = wait_for(lambda: finished(jobs, writer.id))
    # One attempt allowed: had the waiting spent it, the job would have failed.
    assert (done.state, done.attempts) == ("succeeded", 1), done.last_error
    assert note_titles(platform, acme.id) == ["job held"]


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_job_whose_tenant_moves_under_it_runs_again_on_the_new_copy(
    sharded,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The job's write waits on the move's locks and then fails on the retired copy: it is
    queued again with its one attempt unspent, and its next delivery writes to the target."""
    acme = create(sharded, "acme")
    target = "second" if sharded.registry.get("acme").database == "default" else "default"
    started, go = tmp_path / "started", tmp_path / "go"
    jobs_here = install_runtime(sharded, make_job_settings("embedded", tmp_path))
    try:
        job = write_when_told.enqueue_for(
            sharded.registry.get("acme"),
            platform=sharded,
            started=str(started),
            go=str(go),
            title="written by the job",
        )
        with running_worker(jobs_here, threads=1):
            wait_for(started.exists)

            def let_the_job_write(step: str) -> None:
                if step == "locked":  # its insert now waits on the move's share locks
                    go.touch()

            moves.move_tenant(sharded, "acme", target, actor="test", step_hook=let_the_job_write)
            done = wait_for(lambda: finished(jobs_here, job.id))
    finally:
        close_runtime(sharded)
    assert (done.state, done.attempts) == ("succeeded", 1), done.last_error
    assert sharded.registry.get("acme").database == target
    sharded.storage.forget(acme.id)
    assert note_titles(sharded, acme.id) == ["written by the job"]
