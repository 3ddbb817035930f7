"""The accounts' upkeep job: the worked example of a tenant job.

``purge_spent_login_tokens`` runs every night in every active tenant of a product that
lists ``accounts.JOBS`` in its ``TenantApp(jobs=...)`` (declared once, fanned out per
tenant by the platform), and on demand from the owners' Background jobs page.

Spent sign-in tokens are remembered so that each works once; a token also expires after
``LOGIN_TOKEN_MAX_AGE`` seconds, so a record older than that guards nothing and only
grows the table. Deleting them is idempotent, as every job must be: running it twice
(after a worker died mid-way) deletes nothing more.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from tenants.accounts.extensions import db
from tenants.accounts.models import UsedLoginToken, utcnow
from tenants.accounts.tokens import LOGIN_TOKEN_MAX_AGE
from tenants.jobs import JobContext, tenant_job

#: A spent token's record is kept twice as long as the token itself could be used.
KEEP_SPENT_TOKENS = timedelta(seconds=2 * LOGIN_TOKEN_MAX_AGE)


@tenant_job(
    "accounts.purge_spent_login_tokens",  # the name job records keep: never rename it
    every=timedelta(days=1),
    offset=timedelta(hours=3),
    max_attempts=3,
)
def purge_spent_login_tokens(ctx: JobContext) -> dict[str, int]:
    """Delete records of sign-in tokens that expired long ago (nightly, 03:00 UTC)."""
    cutoff = utcnow() - KEEP_SPENT_TOKENS
    deleted = db.session.execute(delete(UsedLoginToken).where(UsedLoginToken.used_at < cutoff))
    db.session.commit()
    ctx.progress(1, 1)
    return {"deleted": deleted.rowcount}
