"""Member directory (keyed email hashes per tenant) and admins' two-factor

The workspace finder looks up which tenants an address belongs to in member_directory
(HMAC of the address, never the address); platform_admins gain a TOTP secret, the last
accepted time step, and their recovery codes' hashes.

Revision ID: 0011_member_directory
Revises: 0010_tenant_data_lifecycle
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_member_directory"
down_revision: str | None = "0010_tenant_data_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_directory",
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("email_hash", "tenant_id"),
    )
    # Plain ADD/DROP COLUMN (SQLite has both): a batch copy of the table would lose
    # its expression index (lower(email)), which SQLite cannot reflect.
    op.add_column("platform_admins", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("platform_admins", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.add_column("platform_admins", sa.Column("recovery_codes", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("platform_admins", "recovery_codes")
    op.drop_column("platform_admins", "totp_last_step")
    op.drop_column("platform_admins", "totp_secret")
    op.drop_table("member_directory")
