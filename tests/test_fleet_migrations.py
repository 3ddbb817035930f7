"""Fleet migrations: the run ledger, --jobs in processes, budgets, locks, canary, fail-fast,
and resuming a run whose process was killed; on SQLite and PostgreSQL, real migrations."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.registry.models import MigrationRun, MigrationRunTenant, Tenant
from tenants.storage import TenantBusy, migrations
from tenants.storage.backends import MIGRATION_LOCK_CLASS
from tenants.workspace import HISTORY
from tests.conftest import FAST_HASH, TEST_SECRET

NEW_REVISION = "fleet_ledger_test_rank"
#: Seconds each tenant's migration sleeps (set in tests that need overlap or a kill).
SLEEP_VARIABLE = "FLEET_TEST_MIGRATION_SLEEP"
#: The id of a tenant whose migration kills the process running it.
CRASH_VARIABLE = "FLEET_TEST_MIGRATION_CRASH"
NEW_MIGRATION = '''"""Add notes.rank and an index on it (only the fleet ledger tests apply it)

Revision ID: {revision}
Revises: {down}
"""

import os
import time

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time.sleep(float(os.environ.get("{sleep}", "0")))
    crash = os.environ.get("{crash}")
    if crash:
        # The process migrating this tenant dies on the spot (a real crash, no cleanup).
        schema = op.get_context().version_table_schema
        url = str(op.get_bind().engine.url)
        if schema == f"tenant_{{crash}}" or url.endswith(f"tenant-{{crash}}.db"):
            os._exit(3)
    op.add_column("notes", sa.Column("rank", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_notes_rank", "notes", ["rank"])


def downgrade() -> None:
    op.drop_index("ix_notes_rank", table_name="notes")
    op.drop_column("notes", "rank")
'''


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A copy of the tenant history with one more revision (not deployed yet)."""
    scripts = tmp_path / "fleet-history"
    shutil.copytree(HISTORY, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{NEW_REVISION}.py").write_text(
        NEW_MIGRATION.format(
            revision=NEW_REVISION,
            down=migrations.head_revision(HISTORY),
            sleep=SLEEP_VARIABLE,
            crash=CRASH_VARIABLE,
        )
    )
    yield scripts
    migrations.forget_scripts()


@pytest.fixture
def deploy(history: Path, monkeypatch: pytest.MonkeyPatch):
    """Point platforms at the new history (call after creating the tenants)."""

    def apply(*platforms) -> str:
        for platform in platforms:
            deployed = dataclasses.replace(platform.tenant_app, migrations=history)
            monkeypatch.setattr(platform, "tenant_app", deployed)
            monkeypatch.setattr(platform.storage, "tenant_app", deployed)
        migrations.forget_scripts()
        return NEW_REVISION

    return apply


def invoke(platform, *args: str):
    return platform.console.test_cli_runner().invoke(args=["tenants", "migrate", *args])


def runs(platform) -> list[MigrationRun]:
    with Session(platform.engine, expire_on_commit=False) as session:
        return list(session.execute(select(MigrationRun).order_by(MigrationRun.id)).scalars())


def ledger_rows(platform, run_id: int) -> dict[int, MigrationRunTenant]:
    with Session(platform.engine, expire_on_commit=False) as session:
        rows = session.execute(
            select(MigrationRunTenant).where(MigrationRunTenant.run_id == run_id)
        ).scalars()
        return {row.tenant_id: row for row in rows}


def has_rank(platform, tenant_id: int) -> bool:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.connect() as connection:
            schema = platform.storage.location(tenant_id) if platform.settings.is_postgres else None
            columns = sa.inspect(connection).get_columns("notes", schema)
            return "rank" in {column["name"] for column in columns}
    finally:
        platform.storage.release(engine)


def make_tenants(create_tenant, count: int) -> list[int]:
    return [create_tenant(f"fleet-{n}").id for n in range(count)]


@contextmanager
def tenant_locked(platform, tenant_id: int):
    """Hold a tenant's migration lock the way another run's process would."""
    if platform.settings.is_postgres:
        engine = sa.create_engine(platform.settings.database_url)
        with engine.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_advisory_lock(:c, :t)"),
                {"c": MIGRATION_LOCK_CLASS, "t": tenant_id},
            )
            yield
            connection.execute(
                sa.text("SELECT pg_advisory_unlock(:c, :t)"),
                {"c": MIGRATION_LOCK_CLASS, "t": tenant_id},
            )
        engine.dispose()
    else:
        descriptor = os.open(f"{platform.storage.location(tenant_id)}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


# -- the ledger and parallel workers ---------------------------------------------------------


def test_jobs_migrate_every_tenant_in_worker_processes_and_fill_the_ledger(
    platform, create_tenant, deploy
) -> None:
    ids = make_tenants(create_tenant, 5)
    head = deploy(platform)
    shipped = migrations.head_revision(HISTORY)

    result = invoke(platform, "--jobs", "2")

    assert result.exit_code == 0, result.output
    assert "2 worker processes" in result.output
    assert "Upgraded 5, failed 0, up to date 0" in result.output
    for tenant_id in ids:
        assert platform.storage.revision(tenant_id) == head
        assert has_rank(platform, tenant_id)
    (run,) = runs(platform)
    assert (run.state, run.target_revision, run.total, run.jobs) == ("finished", head, 5, 2)
    assert run.finished_at is not None
    rows = ledger_rows(platform, run.id)
    assert sorted(rows) == ids
    for row in rows.values():
        assert (row.state, row.from_revision, row.to_revision) == ("done", shipped, head)
        assert row.duration_ms is not None and row.error is None
    platform.registry.refresh(force=True)
    assert platform.registry.get("fleet-3").storage_revision == head

    again = invoke(platform, "--jobs", "2")
    assert again.exit_code == 0
    assert again.output.strip() == f"All 5 tenants are at {head}; nothing to migrate."
    assert len(runs(platform)) == 1  # nothing pending: no run is even recorded


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_jobs_never_exceed_a_databases_pool_budget(
    make_platform, platform, create_tenant, deploy, monkeypatch
) -> None:
    ids = make_tenants(create_tenant, 6)
    # One process may hold 1 + 1 connections: the budget of the database is 2.
    small = make_platform(pool_size=1, max_overflow=1)
    deploy(platform, small)
    monkeypatch.setenv(SLEEP_VARIABLE, "0.4")

    result = invoke(small, "--jobs", "4")

    assert result.exit_code == 0, result.output
    assert "2 worker processes" in result.output and "default 2" in result.output
    rows = ledger_rows(small, runs(small)[0].id).values()
    spans = [
        (row.started_at, row.started_at + timedelta(milliseconds=row.duration_ms)) for row in rows
    ]
    # The most migrations that ran at one moment: never above the budget, and parallel.
    most = max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
    assert most == 2
    assert all(has_rank(small, tenant_id) for tenant_id in ids)


# -- locks ----------------------------------------------------------------------------------


def test_a_tenant_locked_by_another_run_is_reported_busy_and_left_alone(
    platform, create_tenant, deploy
) -> None:
    first, second = make_tenants(create_tenant, 2)
    head = deploy(platform)
    shipped = migrations.head_revision(HISTORY)

    with tenant_locked(platform, second):
        with pytest.raises(TenantBusy):
            platform.storage.migrate(second)
        result = invoke(platform)
        assert platform.storage.revision(second) == shipped

    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith("fleet-1 "))
    assert line.split()[1] == "busy" and "another run is migrating" in line
    assert "Upgraded 1, failed 0, up to date 0, busy 1" in result.output
    assert platform.storage.revision(first) == head
    assert runs(platform)[0].state == "failed"

    # Unlocked, the next run migrates it (a new run: the last one is over).
    again = invoke(platform)
    assert again.exit_code == 0, again.output
    assert "Upgraded 1, failed 0, up to date 1" in again.output
    assert platform.storage.revision(second) == head


# -- canary, fail-fast, resume -------------------------------------------------------------


def test_canary_stops_after_k_tenants_and_the_next_run_goes_on(
    platform, create_tenant, deploy
) -> None:
    ids = make_tenants(create_tenant, 5)
    head = deploy(platform)

    canary = invoke(platform, "--canary", "2")

    assert canary.exit_code == 0, canary.output
    assert "Canary: 2 tenants migrated" in canary.output
    assert [platform.storage.revision(i) == head for i in ids] == [True, True, False, False, False]
    (run,) = runs(platform)
    assert run.state == "stopped"
    status = platform.console.test_cli_runner().invoke(args=["tenants", "status"])
    assert status.exit_code == 1
    assert status.output.startswith(f"Run {run.id} to {head} is stopped: ")
    assert "3 of 5 tenants are not at" in status.output

    rest = invoke(platform, "--resume", "--jobs", "2")

    assert rest.exit_code == 0, rest.output
    assert f"Resuming run {run.id}" in rest.output
    assert "Upgraded 3, failed 0" in rest.output
    assert all(platform.storage.revision(i) == head for i in ids)
    (run,) = runs(platform)
    assert run.state == "finished"
    assert {row.state for row in ledger_rows(platform, run.id).values()} == {"done"}


def test_fail_fast_stops_at_the_first_failure_keep_going_does_not(
    platform, create_tenant, deploy
) -> None:
    ids = make_tenants(create_tenant, 4)
    engine = platform.storage.engine_for(ids[1])
    with engine.begin() as connection:
        if platform.settings.is_postgres:
            connection.exec_driver_sql(f'SET LOCAL search_path TO "tenant_{ids[1]}"')
        connection.exec_driver_sql("DROP TABLE notes")
    platform.storage.release(engine)
    head = deploy(platform)

    stopped = invoke(platform, "--fail-fast")

    assert stopped.exit_code == 1
    assert "Stopped at the first failure" in stopped.output
    assert [platform.storage.revision(i) == head for i in ids] == [True, False, False, False]
    (run,) = runs(platform)
    assert run.state == "stopped" and run.mode == "fail-fast"
    rows = ledger_rows(platform, run.id)
    assert rows[ids[1]].state == "failed" and "notes" in rows[ids[1]].error
    assert rows[ids[2]].state == rows[ids[3]].state == "pending"

    # The same run goes on, past the broken tenant this time.
    going = invoke(platform, "--keep-going")

    assert going.exit_code == 1
    assert f"Resuming run {run.id}" in going.output
    assert "Upgraded 2, failed 1" in going.output
    assert [platform.storage.revision(i) == head for i in ids] == [True, False, True, True]
    (run,) = runs(platform)
    assert run.state == "failed"


def test_resume_without_an_unfinished_run_is_one_clear_line(platform) -> None:
    result = invoke(platform, "--resume")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: There is no unfinished migration run to resume; 'tenants migrate' starts one."
    )


def test_a_new_head_abandons_the_unfinished_run(platform, create_tenant, deploy, history) -> None:
    make_tenants(create_tenant, 3)
    deploy(platform)
    assert invoke(platform, "--canary", "1").exit_code == 0
    # Another revision is deployed before the run was finished.
    (history / "versions" / "fleet_ledger_test_more.py").write_text(
        '"""more"""\n\nrevision = "fleet_ledger_test_more"\n'
        f'down_revision = "{NEW_REVISION}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    migrations.forget_scripts()

    result = invoke(platform)

    assert result.exit_code == 0, result.output
    assert "was not finished; the head is now fleet_ledger_test_more" in result.output
    first, second = runs(platform)
    assert first.state == "abandoned" and second.state == "finished"
    assert second.total == 3


@pytest.mark.slow
def test_a_worker_process_that_dies_stops_the_run_which_resumes_later(
    platform, create_tenant, deploy, monkeypatch
) -> None:
    ids = make_tenants(create_tenant, 6)
    head = deploy(platform)
    monkeypatch.setenv(CRASH_VARIABLE, str(ids[2]))

    crashed = invoke(platform, "--jobs", "2")

    assert crashed.exit_code == 1
    assert "A worker process ended mid-run" in crashed.output
    assert "Traceback" not in crashed.output
    (run,) = runs(platform)
    assert run.state == "stopped"
    rows = ledger_rows(platform, run.id)
    assert rows[ids[2]].state == "failed" and "worker process ended" in rows[ids[2]].error
    assert platform.storage.revision(ids[2]) != head  # its transaction died with it

    monkeypatch.delenv(CRASH_VARIABLE)
    resumed = invoke(platform, "--jobs", "2")

    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming run {run.id}" in resumed.output
    assert all(platform.storage.revision(i) == head for i in ids)
    assert runs(platform)[0].state == "finished"


# -- killed half-way ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_killed_half_way_resumes_where_it_stopped(
    platform, create_tenant, deploy, history, tmp_path, monkeypatch
) -> None:
    ids = make_tenants(create_tenant, 8)
    head = deploy(platform)
    (tmp_path / "fleet_kill_app.py").write_text(
        "import dataclasses\nfrom pathlib import Path\n"
        "from tenants.contract import load_tenant_app\n"
        'app = dataclasses.replace(load_tenant_app("tenants.workspace:app"), '
        f"migrations=Path({str(history)!r}))\n"
    )
    env = dict(os.environ)
    env.pop("FLASK_DEBUG", None)
    env.update(
        SECRET_KEY=TEST_SECRET,
        INSTANCE_PATH=str(tmp_path),
        BASE_DOMAIN="example.com",
        PASSWORD_HASH_METHOD=FAST_HASH,
        DATABASE_URL=platform.settings.database_url,
        TENANT_APP="fleet_kill_app:app",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])]),
        **{SLEEP_VARIABLE: "0.5"},
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "tenants.wsgi", "tenants", "migrate", "-j", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its workers are in its process group: kill them all
    )
    try:
        deadline = time.monotonic() + 60
        done: dict[int, MigrationRunTenant] = {}
        while time.monotonic() < deadline and process.poll() is None:
            found = runs(platform)
            if found:
                rows = ledger_rows(platform, found[0].id)
                done = {i: row for i, row in rows.items() if row.state == "done"}
                if len(done) >= 2:
                    break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()

    (run,) = runs(platform)
    assert run.state == "running"  # killed: nobody closed it
    before = ledger_rows(platform, run.id)
    finished_before = {i for i, row in before.items() if row.state == "done"}
    assert 2 <= len(finished_before) < len(ids)

    resumed = invoke(platform, "--jobs", "2")

    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming run {run.id}" in resumed.output
    assert all(platform.storage.revision(i) == head for i in ids)
    (run,) = runs(platform)
    assert run.state == "finished"
    after = ledger_rows(platform, run.id)
    assert {row.state for row in after.values()} == {"done"}
    # What the killed process had finished was not done again.
    for tenant_id in finished_before:
        assert after[tenant_id].finished_at == before[tenant_id].finished_at
    # Not more upgraded than were left (some may have been migrated but not yet recorded
    # when the kill came: those are redone as no-ops and counted).
    upgraded = int(resumed.output.split("Upgraded ")[1].split(",")[0])
    assert upgraded == len(ids) - len(finished_before)
    with Session(platform.engine) as session:
        revisions = set(session.execute(select(Tenant.storage_revision)).scalars())
    assert revisions == {head}


# -- the admin console's page -------------------------------------------------------------


def test_admin_migrations_page_shows_runs_and_tenants_behind_or_failed(
    platform, client, create_tenant, deploy
) -> None:
    from tenants.admins import create_admin
    from tests.conftest import PASSWORD
    from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

    anonymous = client.get("/admin/migrations/", headers=HOST)
    assert anonymous.status_code in (302, 303) and "/admin/login" in anonymous.location
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    assert log_in_admin(client).status_code == 303

    ids = make_tenants(create_tenant, 3)
    quiet = client.get("/admin/migrations/", headers=HOST).get_data(as_text=True)
    assert "No migration run yet" in quiet and "Every tenant is at the head." in quiet
    assert 'href="/admin/migrations/" aria-current="page">Migrations' in quiet

    engine = platform.storage.engine_for(ids[2])
    with engine.begin() as connection:
        if platform.settings.is_postgres:
            connection.exec_driver_sql(f'SET LOCAL search_path TO "tenant_{ids[2]}"')
        connection.exec_driver_sql("DROP TABLE notes")
    platform.storage.release(engine)
    head = deploy(platform)
    assert invoke(platform, "--canary", "1").exit_code == 0
    assert invoke(platform).exit_code == 1  # the resumed run: fleet-2 fails

    page = client.get("/admin/migrations/", headers=HOST)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert f"<code>{head}</code>" in html
    assert "3 tenants with storage, 1 behind" in html
    (run,) = runs(platform)
    row = html.split(f'id="run-{run.id}"')[1].split("</tr>")[0]
    assert "failed" in row and "2 of 3" in row
    behind = html.split(f'id="tenant-{ids[2]}"')[1].split("</tr>")[0]
    assert "fleet-2" in behind and "notes" in behind and f"(run {run.id})" in behind
    assert f'id="tenant-{ids[0]}"' not in html
