"""Add the fleet migration ledger (migration_runs, migration_run_tenants) and an index
for "which tenants are behind"

Revision ID: 0007_fleet_migration_ledger
Revises: 0006_admin_sessions
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_fleet_migration_ledger"
down_revision: str | None = "0006_admin_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "migration_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_revision", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_migration_runs_state", "migration_runs", ["state", "id"])
    op.create_table(
        "migration_run_tenants",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("database", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("from_revision", sa.String(length=64), nullable=True),
        sa.Column("to_revision", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["migration_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "tenant_id"),
    )
    op.create_index("ix_migration_run_tenants_state", "migration_run_tenants", ["run_id", "state"])
    op.create_index(
        "ix_migration_run_tenants_tenant", "migration_run_tenants", ["tenant_id", "run_id"]
    )
    op.create_index("ix_tenants_status_revision", "tenants", ["status", "storage_revision"])


def downgrade() -> None:
    op.drop_index("ix_tenants_status_revision", table_name="tenants")
    op.drop_index("ix_migration_run_tenants_tenant", table_name="migration_run_tenants")
    op.drop_index("ix_migration_run_tenants_state", table_name="migration_run_tenants")
    op.drop_table("migration_run_tenants")
    op.drop_index("ix_migration_runs_state", table_name="migration_runs")
    op.drop_table("migration_runs")
