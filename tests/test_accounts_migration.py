"""The accounts revision (0004_workspace_accounts) on an existing workspace: its users stay
unique by address (the lower(email) index survives), and count as verified."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tenants.storage import migrations
from tenants.storage.backends import create_sqlite_engine
from tenants.workspace import HISTORY


def test_upgrading_a_workspace_keeps_its_users_unique_and_verified(tmp_path: Path) -> None:
    engine = create_sqlite_engine(f"sqlite:///{tmp_path / 'tenant.db'}")
    try:
        with engine.begin() as connection:
            config = migrations.alembic_config(HISTORY, connection)
            command.upgrade(config, "0003_workspace_user_sessions")
            connection.execute(
                sa.text(
                    "INSERT INTO users (email, name, password_hash, role, created_at) "
                    "VALUES ('ann@acme.test', 'Ann', 'x', 'owner', CURRENT_TIMESTAMP)"
                )
            )
        with engine.begin() as connection:
            migrations.upgrade(HISTORY, connection)
            verified = connection.execute(
                sa.text("SELECT email_verified_at FROM users")
            ).scalar_one()
            assert verified is not None
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (email, name, password_hash, role, created_at) "
                    "VALUES ('ANN@acme.test', '', 'x', 'member', CURRENT_TIMESTAMP)"
                )
            )
    finally:
        engine.dispose()
