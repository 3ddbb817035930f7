"""Upgrading a registry from the clock row to the change feed keeps every version growing."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tenants.kernel import Platform
from tenants.registry.keys import slug_hash
from tenants.storage import migrations
from tests.conftest import DEFAULT_PG

BEFORE_FEED = "0002_tenant_database"


@pytest.fixture
def empty_database(backend: str, tmp_path: Path):
    """A database with no tables at all (its own, dropped afterwards on PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'platform.db'}"
        return
    admin = sa.create_engine(
        os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG), isolation_level="AUTOCOMMIT"
    )
    name = f"tenants_migration_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_upgrade_keeps_versions_growing_and_tenants_routable(
    empty_database: str, settings, tmp_path: Path
) -> None:
    engine = sa.create_engine(empty_database)
    with engine.begin() as connection:
        command.upgrade(
            migrations.alembic_config(migrations.PLATFORM_SCRIPTS, connection), BEFORE_FEED
        )
        connection.execute(
            sa.text(
                "INSERT INTO tenants (slug, display_name, status, plan, settings, created_at, "
                "updated_at, version) VALUES ('acme', 'Acme', 'active', 'free', '{}', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 57)"
            )
        )
        connection.execute(sa.text("UPDATE registry_clock SET generation = 57"))
    with engine.begin() as connection:
        migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
        # The feed counts on from the old clock; nothing before it is to be read.
        assert connection.execute(sa.text("SELECT generation FROM registry_clock")).scalar() == 57
        if connection.dialect.name == "postgresql":
            hashed = connection.execute(sa.text("SELECT key_hash FROM tenants")).scalar()
            assert hashed == slug_hash("acme")
    engine.dispose()

    platform = Platform(settings.with_changes(database_url=empty_database, instance_path=tmp_path))
    try:
        assert platform.registry.get("acme").version == 57
        from tenants import lifecycle

        lifecycle.update_tenant(platform, "acme", actor="test", plan="pro")
        platform.registry.refresh(force=True)
        changed = platform.registry.get("acme")
        assert changed.plan == "pro" and changed.version == 58
    finally:
        platform.close()

    engine = sa.create_engine(empty_database)
    with engine.begin() as connection:
        command.downgrade(
            migrations.alembic_config(migrations.PLATFORM_SCRIPTS, connection), BEFORE_FEED
        )
        # Back on the clock row, which must not fall behind the versions handed out.
        assert connection.execute(sa.text("SELECT generation FROM registry_clock")).scalar() == 58
    engine.dispose()
