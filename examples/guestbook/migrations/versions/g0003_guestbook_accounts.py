"""Accounts: invitations, recovery codes, verified email, two-factor

Invitations replace owners choosing members' passwords; recovery codes and the TOTP
columns are the second factor; email_verified_at and pending_email verify addresses.

Revision ID: g0003_guestbook_accounts
Revises: g0002_guestbook_user_sessions
Create Date: 2026-11-30.898910
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "g0003_guestbook_accounts"
down_revision: str | None = "g0002_guestbook_user_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invited_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invitations_email", "invitations", [sa.text("lower(email)")])
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_codes_user", ["user_id"], unique=False)

    # Plain ADD/DROP COLUMN (SQLite has both): a batch copy of the table would lose
    # its expression index (lower(email)), which SQLite cannot reflect.
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("pending_email", sa.String(length=254)))
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64)))
    op.add_column("users", sa.Column("totp_last_step", sa.Integer()))
    # Accounts made before verification existed were trusted as they were: count them
    # verified, so no existing owner is stopped from inviting by this upgrade.
    op.execute("UPDATE users SET email_verified_at = created_at")


def downgrade() -> None:
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_secret")
    op.drop_column("users", "pending_email")
    op.drop_column("users", "email_verified_at")

    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_codes_user")

    op.drop_table("recovery_codes")
    op.drop_index("ix_invitations_email", table_name="invitations")
    op.drop_table("invitations")
