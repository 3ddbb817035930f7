"""Jobs through the tenant-app contract: ``TenantApp.jobs`` says which jobs a platform runs,
``services.jobs`` is a tenant app's whole job API, and a job of a tenant app that is not
Flask still reaches exactly its tenant's storage (``ctx.services``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants import lifecycle
from tenants.accounts import JOBS as ACCOUNTS_JOBS
from tenants.accounts.upkeep import purge_spent_login_tokens
from tenants.contract import (
    ContractError,
    NewOwner,
    SignInHandoff,
    TenantApp,
    TenantRecord,
    TenantServices,
)
from tenants.jobs import JobContext, NoTenantHere, tenant_job
from tenants.jobs.catalog import UnknownJob
from tenants.jobs.runtime import JobRuntime, install_runtime
from tenants.jobs.scheduler import Scheduler
from tenants.jobs.settings import JobSettings
from tenants.jobs.store import NewJob
from tenants.kernel import Platform
from tenants.testing import PASSWORD
from tenants.workspace import app as workspace
from tests.helpers import csrf_token, login
from tests.job_samples import platform_probe, record_notes
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    queue_kind,
    running_worker,
    wait_for,
)

Create = Callable[..., lifecycle.ProvisionedTenant]


@pytest.fixture
def queue_kind() -> str:  # noqa: F811 - the contract does not depend on the queue
    return "embedded"


@tenant_job("tests.stray", max_attempts=1, every=timedelta(minutes=1))
def stray(ctx: JobContext) -> None:
    """Declared in this process, but by no tenant app and in no JOBS_IMPORTS module."""


def test_the_workspace_lists_the_accounts_jobs() -> None:
    assert purge_spent_login_tokens in workspace.jobs
    assert purge_spent_login_tokens in ACCOUNTS_JOBS
    assert set(ACCOUNTS_JOBS) <= set(workspace.jobs)


@pytest.mark.parametrize(
    ("jobs_value", "message"),
    [("accounts.purge_spent_login_tokens", "sequence of job definitions"), ((object(),), "not a")],
    ids=["a-string", "not-a-definition"],
)
def test_a_tenant_app_with_malformed_jobs_is_refused(jobs_value: Any, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        TenantApp(
            name="x",
            create_app=workspace.create_app,
            metadata=workspace.metadata,
            migrations=workspace.migrations,
            provision=workspace.provision,
            sign_in=workspace.sign_in,
            jobs=jobs_value,
        )


def test_a_job_the_tenant_app_does_not_declare_is_refused_and_never_fanned_out(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    acme = create_tenant("acme")
    tenant = platform.registry.get("acme")
    services = platform.services_for(tenant)
    with pytest.raises(UnknownJob, match="not one of the jobs of tenant app “workspace”"):
        services.jobs.enqueue(stray)
    with pytest.raises(UnknownJob, match=r"TenantApp\(jobs=\.\.\.\)"):
        stray.enqueue_for(tenant, platform=platform)
    assert jobs.store.search()[1] == 0
    periodic = [job.name for job in jobs.periodic_jobs()]
    assert "tests.stray" not in periodic
    assert purge_spent_login_tokens.name in periodic
    assert "tests.stray" not in Scheduler(jobs).tick(now=1_800_000_000)

    # A record of it anyway (an older deploy, another product's worker): it fails, saying why.
    job_id, dispatches, _ = jobs.store.add(
        NewJob(name="tests.stray", args={}, max_attempts=1, tenant_id=acme.id, tenant_slug="acme")
    )
    jobs.send(dispatches)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, job_id))
    assert row.state == "failed" and "not one of the jobs of tenant app" in row.last_error


def test_services_jobs_queue_in_their_own_tenant_and_read_only_its_jobs(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    acme, globex = create_tenant("acme"), create_tenant("globex")
    acme_jobs = platform.services_for(platform.registry.get("acme")).jobs
    globex_jobs = platform.services_for(platform.registry.get("globex")).jobs
    handle = acme_jobs.enqueue(record_notes, label="from services")
    by_name = globex_jobs.enqueue("tests.record_notes", label="by name")
    assert (handle.tenant_id, by_name.tenant_id) == (acme.id, globex.id)
    assert jobs.store.get(handle.id).tenant_slug == "acme"
    assert acme_jobs.get(handle.id).state == "queued"
    assert globex_jobs.get(handle.id) is None  # another tenant's job is unknown
    assert [view.id for view in globex_jobs.list_own()] == [by_name.id]
    with pytest.raises(NoTenantHere, match="platform job"):
        acme_jobs.enqueue(platform_probe)
    with running_worker(jobs):
        wait_for(lambda: acme_jobs.get(handle.id).finished)
    assert acme_jobs.get(handle.id).result["ctx_slug"] == "acme"


def test_an_app_evicted_while_its_job_opens_it_is_a_failure_to_retry_not_a_skip(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_tenant("acme")
    handle = record_notes.enqueue_for(platform.registry.get("acme"), platform=platform, label="x")
    # The race (another thread evicts the app between building it and finding its
    # services) cannot be timed for real: every lookup misses instead.
    monkeypatch.setattr(platform, "services_of", lambda app: None)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "failed"  # record_notes has one attempt; a skip would be final
    assert "left the cache" in row.last_error


def test_a_product_of_its_own_runs_the_accounts_jobs_and_has_the_jobs_page(
    make_platform: Callable[..., Platform],
    job_settings: JobSettings,  # noqa: F811
) -> None:
    guestbook = make_platform(tenant_app="examples.guestbook:app")
    runtime = install_runtime(guestbook, job_settings)
    lifecycle.provision_tenant(
        guestbook, lifecycle.NewTenant("acme", "Acme", "owner@acme.test", PASSWORD)
    )
    guestbook.registry.refresh(force=True)
    host = {"Host": "acme.example.com"}
    owner = Client(guestbook)
    assert login(owner, "acme.example.com", "owner@acme.test").status_code == 302
    listing = owner.get("/jobs/", headers=host)
    assert listing.status_code == 200 and "No background jobs yet" in listing.get_data(True)
    started = owner.post("/jobs/cleanup", headers=host, data={"csrf_token": csrf_token(listing)})
    assert started.status_code == 303
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    with running_worker(runtime):
        row = wait_for(lambda: finished(runtime, job_id))
    assert (row.name, row.state, row.result) == (
        "accounts.purge_spent_login_tokens",
        "succeeded",
        {"deleted": 0},
    )
    shown = owner.get(f"/jobs/{job_id}", headers={**host, "Accept": "application/json"})
    assert json.loads(shown.get_data(as_text=True))["state"] == "succeeded"
    assert "tests.stray" not in [job.name for job in runtime.periodic_jobs()]


# -- a tenant app that is not Flask ------------------------------------------------------

_metadata = sa.MetaData()
_owners = sa.Table(
    "owners",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254)),
)
_ticks = sa.Table(
    "ticks", _metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("by", sa.String)
)

_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "b0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("owners", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("email", sa.String(254)))
    op.create_table("ticks", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("by", sa.String))
"""


@tenant_job("tests.bare_tick", max_attempts=1)
def bare_tick(ctx: JobContext) -> dict[str, Any]:
    """Write a row through the services' engine: the only storage a non-Flask app has."""
    if ctx.services is None:
        raise RuntimeError("a tenant job without services")
    with ctx.services.engine.begin() as connection:
        connection.execute(_ticks.insert().values(by=ctx.services.tenant.slug))
        count = connection.execute(sa.select(sa.func.count()).select_from(_ticks)).scalar_one()
    return {"count": count, "app_context": has_app_context()}


def _bare_app(migrations: Path) -> TenantApp:
    def create_app(tenant: TenantRecord, services: TenantServices) -> Any:
        def hello(environ: Any, start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"Hello from {tenant.display_name}".encode()]

        return hello

    def provision(session: Session, owner: NewOwner) -> int:
        return session.execute(_owners.insert().values(email=owner.email)).inserted_primary_key[0]

    def sign_in(services: TenantServices, owner_id: int) -> SignInHandoff:
        return SignInHandoff(url=services.url_for("/"))

    return TenantApp(
        name="bare",
        create_app=create_app,
        metadata=_metadata,
        migrations=migrations,
        provision=provision,
        sign_in=sign_in,
        jobs=(bare_tick,),
    )


def test_a_job_of_a_tenant_app_that_is_not_flask_gets_its_tenants_services(
    platform: Platform,
    job_settings: JobSettings,  # noqa: F811
    tmp_path: Path,
) -> None:
    history = tmp_path / "bare_history"
    (history / "versions").mkdir(parents=True)
    env = Path(__file__).resolve().parent.parent / "examples/guestbook/migrations/env.py"
    (history / "env.py").write_text(env.read_text())
    (history / "versions" / "b0001_bare.py").write_text(_REVISION)
    bare = Platform(platform.settings, _bare_app(history))
    try:
        runtime = install_runtime(bare, job_settings)
        for slug in ("acme", "globex"):
            lifecycle.provision_tenant(
                bare, lifecycle.NewTenant(slug, slug.title(), f"owner@{slug}.test", PASSWORD)
            )
        bare.registry.refresh(force=True)
        handles = [
            bare_tick.enqueue_for(bare.registry.get(slug), platform=bare)
            for slug in ("acme", "globex", "acme")
        ]
        with running_worker(runtime):
            rows = [wait_for(lambda h=h: finished(runtime, h.id)) for h in handles]
        assert [row.state for row in rows] == ["succeeded"] * 3, [r.last_error for r in rows]
        assert [row.result for row in rows] == [
            {"count": 1, "app_context": False},
            {"count": 1, "app_context": False},
            {"count": 2, "app_context": False},
        ]
        for slug, expected in (("acme", ["acme", "acme"]), ("globex", ["globex"])):
            engine = bare.storage.engine_for(bare.registry.get(slug).id)
            try:
                with engine.connect() as connection:
                    assert list(connection.execute(sa.select(_ticks.c.by)).scalars()) == expected
            finally:
                bare.storage.release(engine)
    finally:
        bare.close()
