"""The owners' Background jobs page: this tenant's recent jobs, one followed until done.

Generic: it lists whatever jobs the product runs in this tenant (``services.jobs``), so
every product built on accounts gets it. It can also start the accounts' own upkeep job
now; a product's page that starts a job (an export) links to ``jobs.show`` to follow it.
"""

from __future__ import annotations

from datetime import UTC, datetime
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

from tenants.accounts.access import owner_required
from tenants.accounts.upkeep import purge_spent_login_tokens
from tenants.appkit.flask_app import tenant_services

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

#: Shown to owners instead of the jobs' internal names.
LABELS = {
    purge_spent_login_tokens.name: "Clean up spent login links",
    "mail.send": "Send an email",
    "accounts.send_password_reset": "Password reset email",
    "accounts.send_verification": "Email confirmation",
}


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


@bp.get("/")
@owner_required
def index() -> str:
    return render_template(
        "accounts/jobs.html",
        jobs=tenant_services().jobs.list_own(limit=20),
        labels=LABELS,
        when=_when,
        iso=_iso,
    )


@bp.post("/cleanup")
@owner_required
def cleanup() -> Any:
    handle = tenant_services().jobs.enqueue(purge_spent_login_tokens)
    return redirect(url_for("jobs.show", job_id=handle.id), code=303)


@bp.get("/<job_id>")
@owner_required
def show(job_id: str) -> Any:
    job = tenant_services().jobs.get(job_id)
    if job is None:
        abort(404, "This workspace has no such job; the Background jobs page lists them.")
    if request.accept_mimetypes.best == "application/json":
        return jsonify(job.as_json())
    response = make_response(render_template("accounts/job.html", job=job, labels=LABELS))
    if not job.finished:
        response.headers["Refresh"] = "2"  # follow the job without any script
    return response
