"""New Alembic revisions for people: ``tenants revision`` and ``db revision``.

``--autogenerate`` compares the models with a scratch database brought to the head of
the history (a temporary SQLite file), so no real tenant or registry is touched, and the
new revision lands in the history's ``versions/`` folder, ready to review and commit.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from alembic import command
from alembic.script import Script
from sqlalchemy import MetaData
from sqlalchemy.exc import SAWarning

from tenants.database import create_sqlite_engine
from tenants.storage import migrations


class InvalidRevision(ValueError):
    """The revision cannot be made as asked; the message says why."""


def new_revision(
    location: Path,
    message: str,
    *,
    metadata: MetaData,
    autogenerate: bool = False,
    rev_id: str | None = None,
) -> Path:
    """Write a revision of the history at ``location``; return the new file's path."""
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
    return Path(script.path)
