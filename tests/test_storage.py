"""Tenant storage: created from the models and stamped, migrated by the tenant history."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import SAWarning

from tenants.storage import migrations


def _schema_diff(platform, tenant_id: int) -> list:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.begin() as connection:
            if platform.storage.kind == "postgresql":
                schema = platform.storage.location(tenant_id)
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
            context = MigrationContext.configure(connection)
            with warnings.catch_warnings():
                # SQLite cannot reflect expression indexes (lower(email)); PostgreSQL can.
                warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
                warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
                return compare_metadata(context, platform.tenant_app.metadata)
    finally:
        platform.storage.release(engine)


def test_new_tenant_is_stamped_at_head(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    head = migrations.head_revision(platform.tenant_app.migrations)
    assert platform.storage.revision(acme.id) == head
    assert platform.registry.get("acme").storage_revision == head


def test_models_match_the_migration_history(platform) -> None:
    """create_all + stamp (signup) and replaying the history (fleet) build the same schema."""
    tenant_id = 999
    if platform.storage.kind == "postgresql":
        with platform.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "tenant_{tenant_id}"')
    try:
        revision = platform.storage.migrate(tenant_id)
        assert revision == migrations.head_revision(platform.tenant_app.migrations)
        assert _schema_diff(platform, tenant_id) == []
        engine = platform.storage.engine_for(tenant_id)
        with engine.connect() as connection:
            schema = (
                platform.storage.location(tenant_id)
                if platform.storage.kind == "postgresql"
                else None
            )
            tables = set(inspect(connection).get_table_names(schema=schema))
        platform.storage.release(engine)
        assert {"users", "notes", "used_login_tokens", "alembic_version"} <= tables
    finally:
        platform.storage.drop(tenant_id)
    assert not platform.storage.exists(tenant_id)


def test_created_storage_matches_models(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    assert _schema_diff(platform, acme.id) == []


def test_migrate_is_idempotent(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    head = migrations.head_revision(platform.tenant_app.migrations)
    assert platform.storage.migrate(acme.id) == head
    assert platform.storage.migrate(acme.id) == head


def test_drop_is_idempotent(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    platform.storage.drop(acme.id)
    platform.storage.drop(acme.id)
    assert not platform.storage.exists(acme.id)
