"""New Alembic revisions for people: ``tenants revision`` and ``db revision``.

``--autogenerate`` compares the models with a scratch database brought to the head of
the history (a temporary SQLite file), so no real tenant or registry is touched, and the
new revision lands in the history's ``versions/`` folder, ready to review and commit.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.script import Script
from sqlalchemy import Column, MetaData, inspect
from sqlalchemy.exc import SAWarning

from tenants.database import create_sqlite_engine
from tenants.storage import migrations


class InvalidRevision(ValueError):
    """The revision cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class NewRevision:
    path: Path
    #: Expression indexes (e.g. ``lower(email)``) of tables this revision creates: SQLite
    #: cannot compare them, so autogenerate leaves them out; add them by hand.
    unchecked_indexes: tuple[str, ...] = ()


def new_revision(
    location: Path,
    message: str,
    *,
    metadata: MetaData,
    autogenerate: bool = False,
    rev_id: str | None = None,
) -> NewRevision:
    """Write a revision of the history at ``location``."""
    message = message.strip()
    if not message:
        raise InvalidRevision('Say what the revision changes: -m "add tasks".')
    with tempfile.TemporaryDirectory(prefix="tenants-revision-") as scratch:
        engine = create_sqlite_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            with engine.begin() as connection:
                has_revisions = migrations._script_directory(location).get_current_head()
                if has_revisions is not None:
                    migrations.upgrade(location, connection, metadata=metadata)
                existing = set(inspect(connection).get_table_names())
                config = migrations.alembic_config(location, connection, target_metadata=metadata)
                with warnings.catch_warnings():
                    # SQLite cannot reflect expression indexes (lower(email)); they are
                    # skipped, not dropped, and the history already creates them.
                    warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
                    warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
                    script = command.revision(
                        config, message=message, autogenerate=autogenerate, rev_id=rev_id
                    )
        finally:
            engine.dispose()
    migrations.forget_scripts()
    if not isinstance(script, Script):  # pragma: no cover - one head, one script
        raise RuntimeError("Alembic made no single revision; check the history's heads.")
    unchecked = tuple(
        f"{index.name} on {table.name}"
        for table in metadata.sorted_tables
        if autogenerate and table.name not in existing
        for index in table.indexes
        if any(not isinstance(expression, Column) for expression in index.expressions)
    )
    return NewRevision(Path(script.path), unchecked)
