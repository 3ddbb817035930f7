"""Jobs run in exactly their tenant, and leave nothing behind for the next one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import has_app_context

from tenants import lifecycle
from tenants.jobs import NoTenantHere, catalog
from tenants.jobs.runtime import JobRuntime, runtime_of
from tenants.kernel import Platform
from tests.job_samples import leave_state_behind, platform_probe, record_notes
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    note_titles,
    queue_kind,
    running_worker,
    wait_for,
)


def seed_note(platform: Platform, slug: str, title: str) -> None:
    app = platform.tenant_app_for(slug)
    from tenants.appkit import db
    from tenants.notes.models import Note

    with app.app_context():
        db.session.add(Note(title=title, body=""))
        db.session.commit()


def test_acme_then_globex_then_acme_each_sees_and_writes_only_its_own_rows(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Callable[..., lifecycle.ProvisionedTenant],
) -> None:
    acme = create_tenant("acme")
    globex = create_tenant("globex")
    seed_note(platform, "acme", "acme secret")
    seed_note(platform, "globex", "globex secret")
    handles = []
    for position, slug in enumerate(["acme", "globex", "acme"]):
        # Enqueued from inside the tenant's own app: the tenant is stamped automatically.
        with platform.tenant_app_for(slug).test_request_context("/"):
            handles.append(record_notes.enqueue(label=f"{position}-{slug}"))
    assert [h.tenant_id for h in handles] == [acme.id, globex.id, acme.id]

    with running_worker(jobs, threads=1):
        rows = [wait_for(lambda h=h: finished(jobs, h.id)) for h in handles]
    assert [row.state for row in rows] == ["succeeded"] * 3, [r.last_error for r in rows]
    first, second, third = (row.result for row in rows)
    assert first["slug"] == first["ctx_slug"] == "acme"
    assert first["titles"] == ["acme secret"]
    assert second["slug"] == second["ctx_slug"] == "globex"
    assert second["titles"] == ["globex secret"]
    assert third["slug"] == "acme"
    assert third["titles"] == ["acme secret", "job 0-acme"]
    assert note_titles(platform, acme.id) == ["acme secret", "job 0-acme", "job 2-acme"]
    assert note_titles(platform, globex.id) == ["globex secret", "job 1-globex"]
    for result in (first, second, third):
        # The schema is compiled into each statement; no connection carries a search_path.
        assert result["search_path"] in (None, '"$user", public')
        assert result["write_intent"] is True


def test_a_job_that_leaves_state_behind_does_not_reach_the_next_job(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Callable[..., lifecycle.ProvisionedTenant],
) -> None:
    acme = create_tenant("acme")
    globex = create_tenant("globex")
    messy = leave_state_behind.enqueue_for(platform.registry.get("acme"), platform=platform)
    clean = record_notes.enqueue_for(platform.registry.get("globex"), platform=platform, label="x")
    with running_worker(jobs, threads=1):
        messy_row = wait_for(lambda: finished(jobs, messy.id))
        clean_row = wait_for(lambda: finished(jobs, clean.id))
    # Flask refuses to pop its context over the one the job left: the job fails, loudly.
    assert messy_row.state == "failed" and "Popped wrong app context" in messy_row.last_error
    assert clean_row.state == "succeeded", clean_row.last_error
    # The next job ran in globex, with the default write intent, not acme's leftovers.
    assert clean_row.result["slug"] == "globex"
    assert clean_row.result["write_intent"] is True
    # The uncommitted row of the first job was rolled back, not committed by anyone later.
    assert not any(t.startswith("uncommitted") for t in note_titles(platform, acme.id))
    assert note_titles(platform, globex.id) == ["job x"]
    assert not has_app_context()


def test_a_platform_job_runs_in_the_platform_app_with_no_tenant(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
) -> None:
    handle = platform_probe.enqueue(platform=platform)
    assert handle.tenant_id is None
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "succeeded"
    assert row.result == {"tenant": None, "app": platform.console.name, "tenant_id_config": None}


def test_a_tenant_job_needs_a_tenant_and_a_platform_job_refuses_one(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Callable[..., lifecycle.ProvisionedTenant],
) -> None:
    create_tenant("acme")
    with pytest.raises(NoTenantHere, match="enqueue_for"):
        record_notes.enqueue(platform=platform, label="nowhere")
    with pytest.raises(NoTenantHere, match="platform job"):
        platform_probe.enqueue_for(platform.registry.get("acme"), platform=platform)
    with platform.console.test_request_context("/"):
        # The platform's own app is no tenant either.
        with pytest.raises(NoTenantHere):
            record_notes.enqueue(label="console")
    assert runtime_of(platform).store.search()[1] == 0
    assert catalog.get("tests.record_notes") is record_notes
