"""Deletion with a grace period: offline at once, restorable, purged after the grace (issue 15).

Time is injected: ``delete_tenant(now=...)`` and ``purge_due(now=...)`` take the clock,
so the 30 days pass in a test without waiting for them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import lifecycle
from tenants.jobs import catalog
from tenants.registry import service
from tenants.registry.models import AuditEntry, Tenant
from tenants.settings import Settings, SettingsError
from tenants.storage import migrations
from tests.test_registry_migration import empty_database  # noqa: F401 - a fixture

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=30)


def row_of(platform, tenant_id: int) -> Tenant:
    with Session(platform.engine) as session:
        return session.get_one(Tenant, tenant_id)


def users_in(platform, tenant_id: int) -> int:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.connect() as connection:
            users = platform.tenant_app.metadata.tables["users"]
            return connection.execute(select(sa.func.count()).select_from(users)).scalar_one()
    finally:
        platform.storage.release(engine)


def status_code(client, slug: str) -> int:
    return client.get("/login", headers={"Host": f"{slug}.example.com"}).status_code


def actions(platform, tenant_id: int) -> list[str]:
    with Session(platform.engine) as session:
        return list(
            session.execute(
                select(AuditEntry.action)
                .where(AuditEntry.tenant_id == tenant_id)
                .order_by(AuditEntry.id)
            ).scalars()
        )


def test_deleted_is_offline_at_once_and_restorable_with_its_data(
    platform, client, create_tenant
) -> None:
    tenant = create_tenant("acme")
    assert status_code(client, "acme") == 200

    deleted = lifecycle.delete_tenant(platform, "acme", actor="test", now=T0)

    assert (deleted.status, deleted.purge_after) == ("deleted", T0 + GRACE)
    assert status_code(client, "acme") == 404
    assert platform.storage.exists(tenant.id) and users_in(platform, tenant.id) == 1
    # Its slug is reserved: nobody can sign up as a workspace that was just deleted.
    with pytest.raises(service.SlugTaken):
        create_tenant("ACME")
    # Nothing but restoring or purging applies to it.
    with pytest.raises(service.TenantDeleted, match="undelete acme"):
        lifecycle.suspend_tenant(platform, "acme")
    with pytest.raises(service.TenantDeleted):
        lifecycle.delete_tenant(platform, "acme")

    restored = lifecycle.undelete_tenant(platform, "acme", actor="test")

    assert restored.status == "active" and restored.purge_after is None
    assert status_code(client, "acme") == 200
    assert users_in(platform, tenant.id) == 1
    assert actions(platform, tenant.id)[-2:] == ["tenant.delete", "tenant.undelete"]
    with pytest.raises(lifecycle.InvalidTransition, match="is active, not deleted"):
        lifecycle.undelete_tenant(platform, "acme")


def test_a_suspended_tenant_comes_back_suspended(platform, client, create_tenant) -> None:
    create_tenant("acme")
    lifecycle.suspend_tenant(platform, "acme")
    lifecycle.delete_tenant(platform, "acme")
    assert lifecycle.undelete_tenant(platform, "acme").status == "suspended"
    assert status_code(client, "acme") == 403


def test_purged_after_the_grace_period_only(platform, client, create_tenant) -> None:
    kept = create_tenant("kept")
    gone = create_tenant("gone")
    lifecycle.delete_tenant(platform, "gone", now=T0)
    lifecycle.delete_tenant(platform, "kept", now=T0 + timedelta(days=1))

    assert lifecycle.purge_due(platform, now=T0 + GRACE - timedelta(seconds=1)) == []
    assert platform.storage.exists(gone.id)

    assert lifecycle.purge_due(platform, now=T0 + GRACE) == ["gone"]

    assert row_of(platform, gone.id).status == "purged"
    assert not platform.storage.exists(gone.id)
    assert actions(platform, gone.id)[-1] == "tenant.purge"
    # The other is still in its grace period, and restorable.
    assert row_of(platform, kept.id).status == "deleted" and platform.storage.exists(kept.id)
    with pytest.raises(service.TenantNotFound, match="No tenant"):
        lifecycle.undelete_tenant(platform, "gone")
    # The slug is free after the purge: a new tenant is a new id, storage and owner.
    again = create_tenant("gone")
    assert again.id != gone.id and status_code(client, "gone") == 200
    assert lifecycle.purge_due(platform, now=T0 + 10 * GRACE) == ["kept"]
    assert row_of(platform, again.id).status == "active"


def test_the_hourly_job_purges_what_is_due(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    lifecycle.delete_tenant(platform, "acme", now=datetime.now(UTC) - GRACE - timedelta(hours=1))
    job = catalog.get("platform.purge_deleted")
    assert job.periodic is not None and not job.for_tenants

    assert job.function(SimpleNamespace(platform=platform)) == {"purged": ["acme"]}

    assert not platform.storage.exists(tenant.id)
    assert job.function(SimpleNamespace(platform=platform)) == {"purged": []}


def test_purge_now_needs_the_slug_typed(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    with pytest.raises(lifecycle.InvalidTransition, match="delete it first"):
        lifecycle.purge_tenant(platform, "acme", confirm="acme")
    lifecycle.delete_tenant(platform, "acme")
    for typed in ("", "acm", "other"):
        with pytest.raises(lifecycle.InvalidTransition, match="nothing was purged"):
            lifecycle.purge_tenant(platform, "acme", confirm=typed)
    assert platform.storage.exists(tenant.id)

    lifecycle.purge_tenant(platform, "acme", confirm="acme")

    assert row_of(platform, tenant.id).status == "purged"
    assert not platform.storage.exists(tenant.id)


def test_a_dead_provisioning_is_purged_at_once(platform, make_platform) -> None:
    brisk = make_platform(provisioning_lease_seconds=1)
    with Session(platform.engine) as session:
        claimed = service.claim_slug(session, "stuck", display_name="Stuck")
        claimed.created_at = datetime.now(UTC) - timedelta(minutes=5)
        session.commit()
        claimed_id = claimed.id
    platform.storage.create(claimed_id, lambda session: None)

    assert lifecycle.delete_tenant(brisk, "stuck").status == "purged"
    assert not platform.storage.exists(claimed_id)


def test_cleanup_keeps_the_storage_of_tenants_in_their_grace(platform, create_tenant) -> None:
    from tenants.cleanup import sweep

    tenant = create_tenant("acme")
    lifecycle.delete_tenant(platform, "acme")
    assert sweep(platform).dropped == []
    assert platform.storage.exists(tenant.id)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_postgres_purge_drops_tables_in_bounded_batches(platform, create_tenant) -> None:
    tenant = create_tenant("big")
    schema = platform.storage.location(tenant.id)
    engine = platform.storage.databases["default"]
    with engine.begin() as connection:
        for number in range(23):
            connection.exec_driver_sql(
                f'CREATE TABLE "{schema}".extra_{number} (id serial PRIMARY KEY, '
                f'user_id int REFERENCES "{schema}".users(id))'
            )
        connection.exec_driver_sql(
            f'CREATE VIEW "{schema}".everyone AS SELECT id FROM "{schema}".users'
        )
    drops: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("DROP"):
            drops.append(statement)

    platform.storage.drop_batch_tables = 5
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        lifecycle.delete_tenant(platform, "big")
        lifecycle.purge_tenant(platform, "big", confirm="big")
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)

    assert not platform.storage.exists(tenant.id)
    tables = [statement for statement in drops if statement.startswith("DROP TABLE")]
    assert len(tables) >= 6  # the tenant app's tables and 23 more, five at a time
    assert all(statement.count(f'"{schema}".') <= 5 for statement in tables)
    assert drops[-1] == f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'


def test_grace_days_come_from_the_environment() -> None:
    base = {"SECRET_KEY": "x" * 40, "BASE_DOMAIN": "example.com", "INSTANCE_PATH": "/nowhere"}
    assert Settings.from_environ(base).tenant_delete_grace_days == 30
    assert (
        Settings.from_environ({**base, "TENANT_DELETE_GRACE_DAYS": "7"}).tenant_delete_grace_days
        == 7
    )
    with pytest.raises(SettingsError, match="TENANT_DELETE_GRACE_DAYS"):
        Settings.from_environ({**base, "TENANT_DELETE_GRACE_DAYS": "soon"})


def test_migration_turns_old_deleted_rows_into_purged(empty_database: str) -> None:  # noqa: F811
    engine = sa.create_engine(empty_database)
    try:
        with engine.begin() as connection:
            config = migrations.alembic_config(migrations.PLATFORM_SCRIPTS, connection)
            command.upgrade(config, "0006_admin_sessions")
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (slug, display_name, status, plan, settings, created_at, "
                    "updated_at, version) VALUES ('old', 'Old', 'deleted', 'free', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
                )
            )
        with engine.begin() as connection:
            migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
            status = connection.execute(sa.text("SELECT status FROM tenants")).scalar()
            # Its storage was dropped when it was deleted: it is purged, its slug free.
            assert status == "purged"
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (slug, display_name, status, plan, settings, created_at, "
                    "updated_at, version) VALUES ('old', 'Old', 'deleted', 'free', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 2)"
                )
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (slug, display_name, status, plan, settings, created_at, "
                    "updated_at, version) VALUES ('OLD', 'Old', 'active', 'free', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 3)"
                )
            )
    finally:
        engine.dispose()
