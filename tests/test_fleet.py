"""Fleet commands: tenants migrate / status / cleanup, with real migrations on both backends."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenants.registry import service
from tenants.registry.models import AuditEntry, Tenant, TenantStatus, utcnow
from tenants.storage import migrations
from tenants.workspace import HISTORY

NEW_REVISION = "fleet_test_note_flag"
NEW_MIGRATION = '''"""Add notes.fleet_flag (a revision that only the fleet tests apply)

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notes", sa.Column("fleet_flag", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("notes", "fleet_flag")
'''


@pytest.fixture
def cli(platform):
    runner = platform.console.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))

    return invoke


@pytest.fixture
def shipped_head() -> str:
    return migrations.head_revision(HISTORY)


@pytest.fixture
def new_migration(platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped_head: str):
    """Deploy a new tenant revision: a copy of the tenant history with one more file.

    Call the returned function after creating the tenants (new tenants would be stamped
    at the new head); it returns the new head.
    """

    def deploy() -> str:
        scripts = tmp_path / "tenant-migrations"
        shutil.copytree(HISTORY, scripts, ignore=shutil.ignore_patterns("__pycache__"))
        (scripts / "versions" / f"{NEW_REVISION}.py").write_text(
            NEW_MIGRATION.format(revision=NEW_REVISION, down=shipped_head)
        )
        deployed = dataclasses.replace(platform.tenant_app, migrations=scripts)
        monkeypatch.setattr(platform, "tenant_app", deployed)
        monkeypatch.setattr(platform.storage, "tenant_app", deployed)
        migrations.forget_scripts()
        return NEW_REVISION

    yield deploy
    migrations.forget_scripts()


def run_sql(platform, tenant_id: int, statement: str) -> None:
    """Run SQL inside one tenant's storage (to break it for real)."""
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.begin() as connection:
            if platform.settings.is_postgres:
                location = platform.storage.location(tenant_id)
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{location}"')
            connection.exec_driver_sql(statement)
    finally:
        platform.storage.release(engine)


def note_columns(platform, tenant_id: int) -> set[str]:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.connect() as connection:
            schema = platform.storage.location(tenant_id) if platform.settings.is_postgres else None
            return {
                column["name"] for column in sa.inspect(connection).get_columns("notes", schema)
            }
    finally:
        platform.storage.release(engine)


def registry_rows(platform) -> dict[str, Tenant]:
    with Session(platform.engine, expire_on_commit=False) as session:
        return {row.slug: row for row in session.execute(select(Tenant)).scalars()}


def registry_only(platform, slug: str, revision: str | None, status=TenantStatus.ACTIVE) -> int:
    """A registry row with no storage behind it."""
    with Session(platform.engine) as session:
        tenant = service.claim_slug(session, slug, display_name=slug.title())
        tenant.storage_revision = revision
        if status != TenantStatus.PROVISIONING:
            service.set_status(session, tenant, status)
        session.commit()
        return tenant.id


# -- migrate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("breakage", "reported"),
    [
        ("DROP TABLE notes", "notes"),
        ("UPDATE alembic_version SET version_num = 'bogus'", "bogus"),
    ],
    ids=["dropped-table", "bogus-revision"],
)
def test_migrate_goes_on_past_a_broken_tenant_and_exits_1(
    cli, platform, create_tenant, new_migration, shipped_head, breakage, reported
) -> None:
    ids = {slug: create_tenant(slug).id for slug in ("alpha", "bravo", "charlie")}
    run_sql(platform, ids["bravo"], breakage)
    before = registry_rows(platform)
    head = new_migration()

    result = cli("tenants", "migrate")

    assert result.exit_code == 1, result.output
    assert "Migrating 3 tenants" in result.output  # the progress bar's label
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert lines["alpha"].split()[1] == "upgraded" and f"{shipped_head} → {head}" in lines["alpha"]
    assert lines["charlie"].split()[1] == "upgraded"
    assert lines["bravo"].split()[1] == "failed" and reported in lines["bravo"]
    assert " ms " in lines["alpha"]
    assert "Upgraded 2, failed 1, up to date 0" in result.stdout
    assert "Traceback" not in result.output

    after = registry_rows(platform)
    for slug in ("alpha", "charlie"):
        assert platform.storage.revision(ids[slug]) == head
        assert "fleet_flag" in note_columns(platform, ids[slug])
        assert after[slug].storage_revision == head
        assert after[slug].version > before[slug].version
    # The failed tenant's migration rolled back; the registry still says where it is.
    assert after["bravo"].storage_revision == shipped_head
    assert after["bravo"].version == before["bravo"].version
    if breakage.startswith("UPDATE"):
        assert platform.storage.revision(ids["bravo"]) == "bogus"
    else:
        assert platform.storage.revision(ids["bravo"]) == shipped_head

    # Fixed, the tenant is migrated by the next run; the others are skipped.
    if breakage.startswith("UPDATE"):
        run_sql(
            platform, ids["bravo"], f"UPDATE alembic_version SET version_num = '{shipped_head}'"
        )
        again = cli("tenants", "migrate")
        assert again.exit_code == 0, again.output
        assert "Upgraded 1, failed 0, up to date 2" in again.output
        assert "fleet_flag" in note_columns(platform, ids["bravo"])


def test_migrate_applies_a_new_revision_to_suspended_tenants_too(
    cli, platform, create_tenant, new_migration
) -> None:
    from tenants import lifecycle

    first, second = create_tenant("alpha"), create_tenant("bravo")
    lifecycle.suspend_tenant(platform, "bravo")
    head = new_migration()
    result = cli("tenants", "migrate")
    assert result.exit_code == 0, result.output
    assert "Upgraded 2, failed 0, up to date 0" in result.output
    assert platform.storage.revision(first.id) == platform.storage.revision(second.id) == head
    # The registry's snapshot (every process's) sees the new revision.
    platform.registry.refresh(force=True)
    assert platform.registry.get("alpha").storage_revision == head
    assert registry_rows(platform)["bravo"].status == "suspended"


def test_up_to_date_tenants_are_skipped_without_opening_storage(
    cli, platform, shipped_head
) -> None:
    # Registry rows at the head with no storage at all: opening one would fail.
    for n in range(5):
        registry_only(platform, f"tenant-{n}", shipped_head)
    result = cli("tenants", "migrate")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"All 5 tenants are at {shipped_head}; nothing to migrate."


def test_missing_storage_fails_without_creating_it(cli, platform, shipped_head) -> None:
    ghost = registry_only(platform, "ghost", "0001_workspace_users")
    registry_only(platform, "fine", shipped_head)
    result = cli("tenants", "migrate")
    assert result.exit_code == 1
    assert "ghost" in result.output and "is missing" in result.output
    assert "Upgraded 0, failed 1, up to date 1" in result.output
    assert not platform.storage.exists(ghost)


def test_migrate_named_tenants_only(cli, platform, create_tenant, new_migration) -> None:
    ids = {slug: create_tenant(slug).id for slug in ("alpha", "bravo", "charlie")}
    head = new_migration()
    result = cli("tenants", "migrate", "ALPHA", "charlie")
    assert result.exit_code == 0, result.output
    assert "Upgraded 2, failed 0, up to date 0" in result.output
    assert platform.storage.revision(ids["alpha"]) == head
    assert platform.storage.revision(ids["charlie"]) == head
    assert platform.storage.revision(ids["bravo"]) != head


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost"], "No tenant “ghost”"),
        (["alpha", "ghost", "zombie"], "No tenant “ghost”, “zombie”"),
        (["pending"], "still being provisioned"),
    ],
    ids=["unknown", "several-unknown", "provisioning"],
)
def test_migrate_refuses_unknown_names_in_one_line(
    cli, platform, create_tenant, new_migration, args, message
) -> None:
    alpha = create_tenant("alpha")
    registry_only(platform, "pending", None, status=TenantStatus.PROVISIONING)
    new_migration()
    result = cli("tenants", "migrate", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().count("\n") == 0
    assert "Traceback" not in result.output
    assert platform.storage.revision(alpha.id) != NEW_REVISION


# -- status ---------------------------------------------------------------------------


def test_status_reports_drift_and_exit_codes(
    cli, platform, create_tenant, new_migration, shipped_head
) -> None:
    create_tenant("alpha")
    create_tenant("bravo")
    registry_only(platform, "gone", None, status=TenantStatus.DELETED)

    ok = cli("tenants", "status")
    assert ok.exit_code == 0
    assert ok.output.strip() == f"All 2 tenants are at {shipped_head}."

    head = new_migration()
    registry_only(platform, "unknown-rev", None)
    drift = cli("tenants", "status")
    assert drift.exit_code == 1
    assert f"3 of 3 tenants are not at {head}:" in drift.output
    rows = {line.split()[0]: line.split() for line in drift.output.splitlines()[2:-1]}
    assert rows["alpha"] == ["alpha", "active", shipped_head]
    assert rows["unknown-rev"] == ["unknown-rev", "active", "missing"]
    assert "gone" not in rows
    assert "tenants migrate" in drift.output

    cli("tenants", "migrate", "alpha", "bravo")
    still = cli("tenants", "status")
    assert still.exit_code == 1 and "1 of 3 tenants" in still.output


# -- cleanup --------------------------------------------------------------------------


def test_cleanup_fails_stuck_provisioning_and_drops_orphan_storage(
    cli, platform, create_tenant
) -> None:
    live = create_tenant("alpha")
    deleted = create_tenant("bravo")
    stuck = registry_only(platform, "stuck", None, status=TenantStatus.PROVISIONING)
    fresh = registry_only(platform, "fresh", None, status=TenantStatus.PROVISIONING)
    with Session(platform.engine) as session:
        # A tenant row marked purged whose storage drop never happened...
        session.execute(update(Tenant).where(Tenant.id == deleted.id).values(status="purged"))
        # ...and a provisioning abandoned eleven minutes ago, with its storage made.
        session.execute(
            update(Tenant)
            .where(Tenant.id == stuck)
            .values(created_at=utcnow() - timedelta(minutes=11))
        )
        session.commit()
    platform.storage.create(stuck, lambda session: None)
    # Storage whose tenant row does not exist at all.
    platform.storage.create(9999, lambda session: None)

    result = cli("tenants", "cleanup")

    assert result.exit_code == 0, result.output
    assert f"Marked stuck (id {stuck}) failed" in result.output
    for tenant_id in (deleted.id, stuck, 9999):
        assert f"Dropped {platform.storage.location(tenant_id)}" in result.output
        assert not platform.storage.exists(tenant_id)
    assert platform.storage.exists(live.id)
    rows = registry_rows(platform)
    assert rows["stuck"].status == "failed"
    assert rows["fresh"].status == "provisioning"
    assert platform.storage.existing_ids() == {live.id}
    with Session(platform.engine) as session:
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.tenant_id == stuck)
        ).scalar_one()
    assert (entry.actor, entry.action) == ("cli", "tenant.fail")

    assert cli("tenants", "cleanup").output.strip() == "Nothing to clean up."
    # The stuck tenant's slug is free again.
    from tenants import lifecycle

    retried = lifecycle.provision_tenant(
        platform, lifecycle.NewTenant("stuck", "Stuck", "o@stuck.test", "long-enough")
    )
    assert retried.id not in (stuck, fresh)


def test_real_flask_commands_exit_codes(tmp_path) -> None:
    from tests.test_cli import OWNER, _flask

    assert _flask(tmp_path, "db", "upgrade").returncode == 0
    assert _flask(tmp_path, "tenants", "create", "acme", *OWNER).returncode == 0
    status = _flask(tmp_path, "tenants", "status")
    assert status.returncode == 0
    assert status.stdout.startswith("All 1 tenants are at ")
    migrate = _flask(tmp_path, "tenants", "migrate")
    assert migrate.returncode == 0 and "nothing to migrate" in migrate.stdout
    unknown = _flask(tmp_path, "tenants", "migrate", "ghost")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().startswith("Error: No tenant “ghost”")
    assert unknown.stderr.strip().count("\n") == 0
    cleanup = _flask(tmp_path, "tenants", "cleanup")
    assert cleanup.returncode == 0 and cleanup.stdout.strip() == "Nothing to clean up."
