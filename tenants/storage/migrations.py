"""Running Alembic histories (the platform's, and the tenant app's) on a given connection.

The tenant history belongs to the tenant app (``TenantApp.migrations``); the platform
history lives beside the registry (``tenants/registry/migrations``). Both ship inside the
package, so an installed wheel can migrate.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData

#: The platform database's history (registry, admins, audit log).
PLATFORM_SCRIPTS = Path(__file__).resolve().parent.parent / "registry" / "migrations"


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


def forget_scripts() -> None:
    """Read the script directories again (after a revision was added to one)."""
    _script_directory.cache_clear()


def head_revision(location: Path) -> str:
    head = _script_directory(location).get_current_head()
    if head is None:
        raise RuntimeError(
            f"No Alembic revisions under {location}; create the first with "
            "'tenants revision -m \"create my tables\"'."
        )
    return head


def current_revision(connection: Connection, schema: str | None = None) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def stamp_head(location: Path, connection: Connection, schema: str | None = None) -> str:
    """Record the head revision without running any (the tables came from the models)."""
    script = _script_directory(location)
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    context.stamp(script, "head")
    return head_revision(location)


def upgrade(
    location: Path,
    connection: Connection,
    schema: str | None = None,
    *,
    metadata: MetaData | None = None,
    to: str = "head",
) -> str | None:
    """Apply pending revisions of ``location`` on ``connection`` (up to ``to``); return the
    new revision.

    The caller owns the transaction: a failing revision rolls back with it.

    What ``alembic upgrade head`` does, with the script directory read once per process
    instead of once per call, and the revision reached not read back: a fleet run
    migrates thousands of tenants, and each of those cost time on every one.
    """
    config = alembic_config(location, connection, schema=schema, target_metadata=metadata)
    script = _script_directory(location)

    def steps(revision: object, _context: object) -> object:
        return script._upgrade_revs(to, revision)  # type: ignore[arg-type]

    with EnvironmentContext(config, script, fn=steps, destination_rev=to):
        script.run_env()
    # Alembic got there or raised: the storage is at ``to``, no need to read it again.
    return head_revision(location) if to == "head" else to


def knows_revision(location: Path, revision: str) -> bool:
    """Whether ``revision`` is in the history at ``location`` (else: newer, or foreign)."""
    try:
        return _script_directory(location).get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown or malformed id
        return False
