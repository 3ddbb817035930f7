"""Invitations: at most one pending invitation per email

A unique index on lower(email) over the pending rows (neither accepted nor revoked)
makes the database refuse a second pending invitation to an address, in any case: two
owners submitting the same address at once could both pass the view's check before.

Existing duplicates are resolved first, or creating the index would fail on them: of an
address's pending invitations the newest (latest created_at, then highest id) stays
pending, the older ones are revoked now (their links say "withdrawn", as if an owner had
revoked them).

The new index replaces ix_invitations_email (lower(email) over every row): the only query
by address looks for the pending invitation, which the partial index serves, so keeping
both would only cost writes. The downgrade puts it back.

Revision ID: g0004_guestbook_pending_unique
Revises: g0003_guestbook_accounts
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "g0004_guestbook_pending_unique"
down_revision: str | None = "g0003_guestbook_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "accepted_at IS NULL AND revoked_at IS NULL"


def upgrade() -> None:
    revoke_older_duplicates = sa.text(
        "UPDATE invitations SET revoked_at = :now "
        "WHERE accepted_at IS NULL AND revoked_at IS NULL AND EXISTS ("
        "SELECT 1 FROM invitations AS newer "
        "WHERE lower(newer.email) = lower(invitations.email) "
        "AND newer.accepted_at IS NULL AND newer.revoked_at IS NULL "
        "AND (newer.created_at > invitations.created_at "
        "OR (newer.created_at = invitations.created_at AND newer.id > invitations.id)))"
    ).bindparams(sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True)))
    op.execute(revoke_older_duplicates)
    op.create_index(
        "uq_invitations_pending_email",
        "invitations",
        [sa.text("lower(email)")],
        unique=True,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.drop_index("ix_invitations_email", table_name="invitations")


def downgrade() -> None:
    op.create_index("ix_invitations_email", "invitations", [sa.text("lower(email)")])
    op.drop_index("uq_invitations_pending_email", table_name="invitations")
