"""An admin's own account page: where they are logged in, and ending those sessions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import delete, select
from werkzeug.wrappers import Response

from tenants.console.admin_auth import current_row_id, end_current_admin_session
from tenants.console.extensions import registry_db
from tenants.registry.models import AdminSession
from tenants.sessions import device_label, utcnow

bp = Blueprint("admin_account", __name__, url_prefix="/admin/account")

_SESSION_ID = re.compile(r"[0-9a-f]{64}")


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _when(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@bp.get("/")
@login_required
def index() -> str:
    rows = list(
        registry_db.session.execute(
            select(AdminSession)
            .where(AdminSession.admin_id == current_user.id, AdminSession.expires_at > utcnow())
            .order_by(AdminSession.last_seen_at.desc(), AdminSession.created_at.desc())
        ).scalars()
    )
    registry_db.session.close()
    return render_template(
        "admin/account.html",
        sessions=rows,
        this_session=current_row_id(),
        device_label=device_label,
        when=_when,
    )


@bp.post("/sessions/<session_id>/end")
@login_required
def end_one(session_id: str) -> Response:
    if not _SESSION_ID.fullmatch(session_id):
        abort(404, "There is no such session; your account page lists them.")
    if session_id == current_row_id():
        end_current_admin_session()
        flash("You are logged out.")
        return redirect(url_for("admin_auth.login"), code=303)
    result = registry_db.session.execute(
        delete(AdminSession).where(
            AdminSession.id == session_id, AdminSession.admin_id == current_user.id
        )
    )
    registry_db.session.commit()
    registry_db.session.close()
    if not result.rowcount:
        abort(404, "That session has ended already; your account page lists the others.")
    flash("That session is ended: the device it was on is logged out.")
    return redirect(url_for("admin_account.index"), code=303)


@bp.post("/sessions/end-all")
@login_required
def end_all() -> Response:
    registry_db.session.execute(
        delete(AdminSession).where(AdminSession.admin_id == current_user.id)
    )
    registry_db.session.commit()
    registry_db.session.close()
    end_current_admin_session()
    flash("You are logged out everywhere.")
    return redirect(url_for("admin_auth.login"), code=303)
