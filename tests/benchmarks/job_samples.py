"""The job the jobs benchmark runs: open the tenant, ask its database one question."""

from __future__ import annotations

from sqlalchemy import func, select

from tenants.appkit import db
from tenants.jobs import JobContext, tenant_job
from tenants.notes.models import Note


@tenant_job("bench.count_notes", max_attempts=1)
def count_notes(ctx: JobContext) -> None:
    db.session.execute(select(func.count(Note.id))).scalar_one()
