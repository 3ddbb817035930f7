"""The admin console's view of background jobs: queue depth, running and failed jobs per
tenant, and retry or discard of one job (audited, with the admin's email as the actor).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from tenants.jobs.brokers import queue_depth
from tenants.jobs.runtime import JobRuntime, runtime_here
from tenants.jobs.store import JobNotFound, JobStateConflict
from tenants.registry.models import AuditEntry, Tenant

log = logging.getLogger(__name__)

bp = Blueprint("admin_jobs", __name__, url_prefix="/admin/jobs")

PER_PAGE = 50
MAX_PAGE = 100_000
#: The list's filters: what each shows.
VIEWS = {
    "live": ("queued", "running"),
    "failed": ("failed",),
    "queued": ("queued",),
    "running": ("running",),
    "skipped": ("skipped",),
    "succeeded": ("succeeded",),
    "discarded": ("discarded",),
    "all": (),
}


@bp.before_request
@login_required
def _admins_only() -> None:
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _runtime() -> JobRuntime:
    return runtime_here()


def _filters(source: Any) -> dict[str, str]:
    """The list's filters from a query string or form; 400 with what to change."""
    view = source.get("view", "live")
    if view not in VIEWS:
        abort(400, description=f"Unknown view “{view}”; choose one of: {', '.join(VIEWS)}.")
    filters = {"view": view}
    tenant = source.get("tenant", "").strip()
    if tenant:
        if tenant != "platform" and not (tenant.isascii() and tenant.isdigit()):
            abort(400, description="The tenant filter is a tenant id or “platform”.")
        filters["tenant"] = tenant
    return filters


@bp.get("/")
def index() -> Any:
    filters = _filters(request.args)
    page_number = request.args.get("page", "1")
    if not (page_number.isascii() and page_number.isdigit() and 1 <= int(page_number) <= MAX_PAGE):
        abort(400, description="The page number is a whole number from 1; go back to page 1.")
    page = int(page_number)
    runtime = _runtime()
    tenant_filter = filters.get("tenant")
    tenant = None
    if tenant_filter and tenant_filter != "platform":
        with Session(runtime.platform.engine) as session:
            tenant = session.get(Tenant, int(tenant_filter))
        if tenant is None:
            abort(404, description=f"There is no tenant with id {tenant_filter}.")
    rows, total = runtime.store.search(
        states=VIEWS[filters["view"]],
        tenant_id=tenant.id if tenant else None,
        platform_only=tenant_filter == "platform",
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
    )
    try:
        waiting = queue_depth(runtime.broker)
    except Exception:
        log.warning("Could not read the queue depth.", exc_info=True)
        waiting = None
    return render_template(
        "admin/jobs.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        filters=filters,
        views=list(VIEWS),
        tenant=tenant,
        summary=runtime.store.summary_by_tenant(),
        waiting=waiting,
        queue="Redis" if runtime.settings.is_redis else "embedded (SQLite)",
    )


@bp.post("/<job_id>/retry")
def retry(job_id: str) -> Any:
    return _change(job_id, "retry")


@bp.post("/<job_id>/discard")
def discard(job_id: str) -> Any:
    return _change(job_id, "discard")


def _change(job_id: str, action: str) -> Any:
    filters = _filters(request.form)
    runtime = _runtime()
    try:
        row, dispatches = getattr(runtime.store, action)(job_id)
    except JobNotFound:
        abort(404, description=f"There is no job {job_id}; it may have been pruned.")
    except JobStateConflict as error:
        flash(f"Nothing changed: {error}")
        return redirect(url_for("admin_jobs.index", **filters), code=303)
    runtime.send(dispatches)
    with Session(runtime.platform.engine) as session:
        session.add(
            AuditEntry(
                tenant_id=row.tenant_id,
                actor=current_user.email,
                action=f"job.{action}",
                detail={"job": row.id, "name": row.name, "was": row.state},
            )
        )
        session.commit()
    done = "queued again" if action == "retry" else "discarded"
    flash(f"Job {row.name} ({job_id[:8]}) is {done}.")
    return redirect(url_for("admin_jobs.index", **filters), code=303)
