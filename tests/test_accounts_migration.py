"""The accounts revisions on existing storage: 0004_workspace_accounts keeps users unique
by address (the lower(email) index survives) and counts them verified; the pending
invitations revision (workspace and guestbook) resolves duplicates before its index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tenants.accounts.models import Invitation
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


@pytest.mark.parametrize(
    ("tenants_app_spec", "previous"),
    [
        ("tenants.workspace:app", "0004_workspace_accounts"),
        ("examples.guestbook:app", "g0003_guestbook_accounts"),
    ],
)
def test_upgrading_keeps_the_newest_pending_invitation_of_an_address(
    platform, previous: str
) -> None:
    """Pending duplicates made before the unique index: the newest stays, the older ones are
    revoked, ended invitations are untouched, and the index then refuses a new duplicate."""
    tenant_id = 998
    earlier, later = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    rows = [
        # (id, email, created_at, accepted_at)
        (1, "ann@example.org", earlier, None),
        (2, "ANN@example.org", later, None),
        (3, "Ann@Example.org", earlier, later),
        (4, "bob@example.org", later, None),
    ]

    def load(connection: sa.Connection) -> None:
        for row_id, email, created_at, accepted_at in rows:
            connection.execute(
                sa.insert(Invitation).values(
                    id=row_id,
                    email=email,
                    role="member",
                    nonce=f"nonce-{row_id}",
                    created_at=created_at,
                    sent_at=created_at,
                    expires_at=created_at + timedelta(days=7),
                    accepted_at=accepted_at,
                )
            )

    try:
        head = migrations.head_revision(platform.tenant_app.migrations)
        assert head != previous
        assert platform.storage.restore(tenant_id, previous, load) == head
        engine = platform.storage.engine_for(tenant_id)
        try:
            with engine.connect() as connection:
                found = connection.execute(
                    sa.select(
                        Invitation.id, Invitation.accepted_at, Invitation.revoked_at
                    ).order_by(Invitation.id)
                ).all()
            revoked = {row.id for row in found if row.revoked_at is not None}
            pending = {row.id for row in found if row.accepted_at is None} - revoked
            assert revoked == {1} and pending == {2, 4}
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
                connection.execute(
                    sa.insert(Invitation).values(
                        email="BOB@example.org",
                        role="member",
                        nonce="again",
                        created_at=later,
                        sent_at=later,
                        expires_at=later,
                    )
                )
        finally:
            platform.storage.release(engine)
    finally:
        platform.storage.drop(tenant_id)
