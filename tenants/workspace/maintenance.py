"""The workspace's background jobs: the worked example of a tenant job, and the owners' page.

``purge_spent_login_tokens`` runs every night in every active workspace (declared once,
fanned out per tenant by the platform) and on demand from the Background jobs page,
which shows the workspace's recent jobs and follows one until it is done.

Spent login links are remembered so that each works once; a link also expires after
``LOGIN_TOKEN_MAX_AGE`` seconds, so a record older than that guards nothing and only
grows the table. Deleting them is idempotent, as every job must be: running it twice
(after a worker died mid-way) deletes nothing more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import delete

from tenants.jobs import JobContext, tenant_job
from tenants.jobs.tenant_api import job_view, recent_jobs
from tenants.tokens import LOGIN_TOKEN_MAX_AGE
from tenants.workspace.access import owner_required
from tenants.workspace.extensions import db
from tenants.workspace.models import UsedLoginToken, utcnow

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

#: A spent link's record is kept twice as long as the link itself could be used.
KEEP_SPENT_TOKENS = timedelta(seconds=2 * LOGIN_TOKEN_MAX_AGE)
#: Shown to owners instead of the jobs' internal names.
LABELS = {"workspace.purge_spent_login_tokens": "Clean up spent login links"}


@tenant_job(
    "workspace.purge_spent_login_tokens",
    every=timedelta(days=1),
    offset=timedelta(hours=3),
    max_attempts=3,
)
def purge_spent_login_tokens(ctx: JobContext) -> dict[str, int]:
    """Delete records of login links that expired long ago (nightly, 03:00 UTC)."""
    cutoff = utcnow() - KEEP_SPENT_TOKENS
    deleted = db.session.execute(delete(UsedLoginToken).where(UsedLoginToken.used_at < cutoff))
    db.session.commit()
    ctx.progress(1, 1)
    return {"deleted": deleted.rowcount}


@bp.get("/")
@owner_required
def index() -> str:
    return render_template("workspace/jobs.html", jobs=recent_jobs(limit=20), labels=LABELS)


@bp.post("/cleanup")
@owner_required
def cleanup() -> Any:
    handle = purge_spent_login_tokens.enqueue()
    return redirect(url_for("jobs.show", job_id=handle.id), code=303)


@bp.get("/<job_id>")
@owner_required
def show(job_id: str) -> Any:
    job = job_view(job_id)
    if job is None:
        abort(404, "This workspace has no such job; the Background jobs page lists them.")
    if request.accept_mimetypes.best == "application/json":
        return jsonify(job.as_json())
    response = make_response(render_template("workspace/job.html", job=job, labels=LABELS))
    if not job.finished:
        response.headers["Refresh"] = "2"  # follow the job without any script
    return response
