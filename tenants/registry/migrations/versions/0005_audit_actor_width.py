"""Widen audit_log.actor to 320 characters: "signup:" and a 254-character email fit

Revision ID: 0005_audit_actor_width
Revises: 0004_jobs
Create Date: 2026-11-30
"""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0005_audit_actor_width"
down_revision: str | None = "0004_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@contextmanager
def _audit_log() -> Iterator[BatchOperations]:
    # On SQLite the batch copies the table, reflecting tenants (its foreign key) too,
    # whose expression index SQLite cannot describe: skipped, and it is not copied.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table("audit_log") as batch:
            yield batch


def upgrade() -> None:
    with _audit_log() as batch:
        batch.alter_column(
            "actor", existing_type=sa.String(254), type_=sa.String(320), existing_nullable=False
        )


def downgrade() -> None:
    # Entries written since may be longer: cut them to the old size first.
    op.execute("UPDATE audit_log SET actor = substr(actor, 1, 254) WHERE length(actor) > 254")
    with _audit_log() as batch:
        batch.alter_column(
            "actor", existing_type=sa.String(320), type_=sa.String(254), existing_nullable=False
        )
