"""Running the two Alembic histories (platform and tenant) on a given connection."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from tenants.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
PLATFORM_SCRIPTS = MIGRATIONS_DIR / "platform"
TENANT_SCRIPTS = MIGRATIONS_DIR / "tenant"


def alembic_config(
    location: Path, connection: Connection | None = None, **attributes: object
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    config.attributes.update(attributes)
    return config


@cache
def _script_directory(location: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(location))


def head_revision(location: Path = TENANT_SCRIPTS) -> str:
    head = _script_directory(location).get_current_head()
    if head is None:  # pragma: no cover - the project ships revisions
        raise RuntimeError(f"No Alembic revisions under {location}.")
    return head


def current_revision(connection: Connection, schema: str | None = None) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def stamp_head(connection: Connection, schema: str | None = None) -> str:
    """Record the head revision without running any (the tables came from the models)."""
    script = _script_directory(TENANT_SCRIPTS)
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    context.stamp(script, "head")
    return head_revision(TENANT_SCRIPTS)


def upgrade(location: Path, connection: Connection, schema: str | None = None) -> str | None:
    """Apply pending revisions of ``location`` on ``connection``; return the new revision.

    The caller owns the transaction: a failing revision rolls back with it.
    """
    command.upgrade(alembic_config(location, connection, schema=schema), "head")
    return current_revision(connection, schema)
