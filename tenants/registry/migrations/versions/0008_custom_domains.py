"""Add tenant_domains and the tenant's routable custom domains (custom domains, issue 16)

Revision ID: 0008_custom_domains
Revises: 0007_fleet_migration_ledger
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_custom_domains"
down_revision: str | None = "0007_fleet_migration_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (SQLite has it): a batch copy of ``tenants``
    # would have to rebuild its expression index by hand.
    op.add_column(
        "tenants",
        sa.Column("custom_domains", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column("tenants", sa.Column("primary_domain", sa.String(253), nullable=True))
    op.create_table(
        "tenant_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    # A domain is claimed once, whatever its case: the database refuses the second claim.
    op.create_index(
        "uq_tenant_domains_domain", "tenant_domains", [sa.text("lower(domain)")], unique=True
    )
    op.create_index("ix_tenant_domains_tenant", "tenant_domains", ["tenant_id", "id"])
    op.create_index("ix_tenant_domains_checked", "tenant_domains", ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_tenant_domains_checked", table_name="tenant_domains")
    op.drop_index("ix_tenant_domains_tenant", table_name="tenant_domains")
    op.drop_index("uq_tenant_domains_domain", table_name="tenant_domains")
    op.drop_table("tenant_domains")
    op.drop_column("tenants", "primary_domain")  # SQLite 3.35+ drops columns too
    op.drop_column("tenants", "custom_domains")
