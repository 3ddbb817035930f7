"""``flask --app tenants.wsgi jobs list | retry | discard | run``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import lifecycle
from tenants.jobs.runtime import JobRuntime
from tenants.kernel import Platform
from tenants.registry.models import AuditEntry
from tests.job_samples import fail_until, record_notes
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    queue_kind,
    running_worker,
    wait_for,
)

Create = Callable[..., lifecycle.ProvisionedTenant]


def cli(platform: Platform, *args: str):
    return platform.console.test_cli_runner().invoke(args=["jobs", *args])


def test_list_retry_discard_and_run_from_the_command_line(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    acme = platform.registry.get("acme")
    failing = fail_until.enqueue_for(acme, platform=platform, succeed_on=99)
    with running_worker(jobs):
        wait_for(lambda: finished(jobs, failing.id))
    queued = record_notes.enqueue_for(acme, platform=platform, label="x")

    listed = cli(platform, "list", "--tenant", "acme", "--state", "failed")
    assert listed.exit_code == 0
    assert failing.id in listed.output and queued.id not in listed.output
    assert "tests.fail_until" in listed.output and "4/4" in listed.output

    assert cli(platform, "retry", failing.id).exit_code == 0
    assert jobs.store.get(failing.id).state == "queued"
    assert cli(platform, "discard", queued.id).exit_code == 0
    assert jobs.store.get(queued.id).state == "discarded"
    again = cli(platform, "discard", queued.id)
    assert again.exit_code == 1 and "only queued or failed jobs can be discarded" in again.output
    unknown = cli(platform, "retry", "f" * 32)
    assert unknown.exit_code == 1 and "No job" in unknown.output
    with Session(platform.engine) as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.action.like("job.%"))
        ).all()
    assert [tuple(row) for row in audited] == [("cli", "job.retry"), ("cli", "job.discard")]

    ran = cli(platform, "run", "accounts.purge_spent_login_tokens", "--tenant", "acme")
    assert ran.exit_code == 0 and "Queued accounts.purge_spent_login_tokens" in ran.output
    job_id = ran.output.strip().rsplit(" ", 1)[1].rstrip(".")
    with running_worker(jobs):
        assert wait_for(lambda: finished(jobs, job_id)).state == "succeeded"


def test_the_command_line_refuses_what_it_cannot_do(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    lifecycle.suspend_tenant(platform, "acme", actor="test")
    for args, message in [
        (("run", "no.such_job"), "No job named “no.such_job”"),
        (("run", "accounts.purge_spent_login_tokens"), "add --tenant SLUG"),
        (("run", "accounts.purge_spent_login_tokens", "--tenant", "acme"), "No active tenant"),
        (("run", "jobs.prune_records", "--tenant", "acme"), "takes no --tenant"),
        (("list", "--tenant", "nobody"), "No tenant “nobody”"),
        (("worker", "--threads", "0"), "--threads is at least 1"),
    ]:
        result = cli(platform, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert cli(platform, "list").output.strip() == "No jobs match."
