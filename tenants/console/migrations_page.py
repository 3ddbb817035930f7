"""The admin console's view of fleet migrations: the last runs of ``tenants migrate`` (from
the ledger) and which tenants are behind the head revision or failed their last attempt.

Read-only: migrations run from the command line, where a run can be watched, stopped
and resumed; the page answers "did the last run finish, and who is left?".
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from tenants.console.extensions import platform_of
from tenants.fleet import ledger
from tenants.storage import migrations

bp = Blueprint("admin_migrations", __name__, url_prefix="/admin/migrations")

#: Runs and lagging tenants shown (the page reads a bounded number of rows at any size).
RUNS_SHOWN = 10
LAGGING_SHOWN = 100


@bp.before_request
@login_required
def _admins_only() -> None:
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index() -> Any:
    platform = platform_of()
    head = migrations.head_revision(platform.tenant_app.migrations)
    with Session(platform.engine) as session:
        counts = ledger.count_fleet(session, head)
        runs = ledger.recent_runs(session, RUNS_SHOWN)
        lagging = ledger.lagging_tenants(session, head, LAGGING_SHOWN)
        return render_template(
            "admin/migrations.html",
            head=head,
            counts=counts,
            runs=runs,
            lagging=lagging,
            lagging_shown=LAGGING_SHOWN,
            unfinished=ledger.UNFINISHED,
        )
