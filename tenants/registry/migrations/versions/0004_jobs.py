"""Add job records (jobs) and periodic job schedules (job_schedules) for background jobs

Revision ID: 0004_jobs
Revises: 0003_registry_change_feed
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_jobs"
down_revision: str | None = "0003_registry_change_feed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Jobs waiting for their tenant's turn, and jobs whose send was never confirmed.
HELD = "state = 'queued' AND token IS NULL"
SENDING = "state = 'queued' AND token IS NOT NULL AND dispatched_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("tenant_slug", sa.String(63), nullable=True),
        sa.Column("tenant_version", sa.Integer, nullable=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("token", sa.String(32), nullable=True),
        sa.Column("unique_key", sa.String(255), nullable=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(120), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("public_error", sa.String(500), nullable=True),
        sa.Column("progress_done", sa.Integer, nullable=True),
        sa.Column("progress_total", sa.Integer, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
    )
    op.create_index("ix_jobs_tenant_queue", "jobs", ["tenant_id", "state", "token", "run_at"])
    op.create_index("ix_jobs_tenant_created", "jobs", ["tenant_id", "created_at"])
    op.create_index("ix_jobs_state_created", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"])
    op.create_index("uq_jobs_unique_key", "jobs", ["unique_key"], unique=True)
    op.create_index(
        "ix_jobs_held",
        "jobs",
        ["tenant_id", "run_at"],
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )
    op.create_index(
        "ix_jobs_sending",
        "jobs",
        ["updated_at"],
        sqlite_where=sa.text(SENDING),
        postgresql_where=sa.text(SENDING),
    )
    op.create_table(
        "job_schedules",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("last_period", sa.BigInteger, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_schedules")
    for index in (
        "ix_jobs_sending",
        "ix_jobs_held",
        "uq_jobs_unique_key",
        "ix_jobs_finished",
        "ix_jobs_state_created",
        "ix_jobs_tenant_created",
        "ix_jobs_tenant_queue",
    ):
        op.drop_index(index, table_name="jobs")
    op.drop_table("jobs")
