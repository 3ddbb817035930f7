"""A tenant's data lifecycle: deletion with a grace period, read-only mode

Deleted tenants keep their storage and their slug until ``purge_after``; the rows that
were "deleted" before this revision had their storage dropped at once, so they become
"purged". ``read_only`` (an admin's choice) and ``write_lock_until`` (an operation's
lease) make a tenant refuse writes; ``move_state`` records a move between databases in
progress, so that running ``tenants move`` again finishes or undoes it.

Revision ID: 0010_tenant_data_lifecycle
Revises: 0009_suspension_reason
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_tenant_data_lifecycle"
down_revision: str | None = "0009_suspension_reason"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_HOLDING = "status IN ('provisioning', 'active', 'suspended')"
NEW_HOLDING = "status IN ('provisioning', 'active', 'suspended', 'deleted')"


def _slug_indexes(holding: str) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP INDEX IF EXISTS uq_tenants_live_slug")
    op.create_index(
        "uq_tenants_live_slug",
        "tenants",
        [sa.text("lower(slug)")],
        unique=True,
        sqlite_where=sa.text(holding),
        postgresql_where=sa.text(holding),
    )
    if postgres:
        op.execute("DROP INDEX IF EXISTS ix_tenants_live_key_hash")
        op.create_index(
            "ix_tenants_live_key_hash", "tenants", ["key_hash"], postgresql_where=sa.text(holding)
        )


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD/DROP COLUMN on both backends (SQLite has both since 3.35):
    # batch mode would rebuild SQLite's table and lose its expression indexes.
    op.add_column("tenants", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "tenants",
        sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "tenants", sa.Column("write_lock_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("tenants", sa.Column("move_state", sa.JSON(), nullable=True))
    op.execute("UPDATE tenants SET status = 'purged' WHERE status = 'deleted'")
    _slug_indexes(NEW_HOLDING)


def downgrade() -> None:
    # Tenants in their grace period lose it: the old code knows no restorable deletion
    # ('tenants cleanup' then drops their storage, as it does for any deleted tenant).
    op.execute("UPDATE tenants SET status = 'deleted' WHERE status = 'purged'")
    for column in ("move_state", "write_lock_until", "read_only", "purge_after", "deleted_at"):
        op.drop_column("tenants", column)
    _slug_indexes(OLD_HOLDING)
