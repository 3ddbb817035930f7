"""Add tenants.database: which PostgreSQL database holds a tenant's schema

Revision ID: 0002_tenant_database
Revises: 0001_tenant_registry
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_tenant_database"
down_revision: str | None = "0001_tenant_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("database", sa.String(40), nullable=False, server_default="default")
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("database")
