"""Add tenants.suspension_reason: why an admin suspended a tenant, shown to its members

Revision ID: 0009_suspension_reason
Revises: 0008_custom_domains
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_suspension_reason"
down_revision: str | None = "0008_custom_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite on PostgreSQL or SQLite.
    op.add_column("tenants", sa.Column("suspension_reason", sa.String(500), nullable=True))


def downgrade() -> None:
    # Not a batch: on SQLite that would copy the table and lose its expression index.
    # SQLite 3.35+ drops a column in place.
    op.drop_column("tenants", "suspension_reason")
