"""A periodic tenant job for the periodic test's workers (imported through JOBS_IMPORTS only)."""

from __future__ import annotations

from datetime import timedelta

from tenants.appkit import db
from tenants.jobs import JobContext, tenant_job
from tenants.notes.models import Note


@tenant_job("tests.daily_mark", every=timedelta(days=1))
def daily_mark(ctx: JobContext) -> None:
    """One note per run: a tenant reached twice in a period would show two."""
    db.session.add(Note(title=f"daily {ctx.job_id}", body=""))
    db.session.commit()
