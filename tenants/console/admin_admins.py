"""The console's Admins page: add an admin, change an admin's password, remove one.

Each change goes through ``tenants.admins`` (the same functions as ``tenants admin ...``)
with the acting admin's email as the audit actor. Removing takes a second step, a page
that asks for confirmation: it works without JavaScript, and a stray click removes no one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from tenants.admins import InvalidAdmin, create_admin, list_admins, remove_admin, set_admin_password
from tenants.console.admin_auth import current_row_id, end_current_admin_session
from tenants.console.admin_forms import AdminPasswordForm, ConfirmForm, NewAdminForm
from tenants.console.extensions import platform_of, registry_db
from tenants.registry.models import AuditEntry, PlatformAdmin

#: The newest admin changes shown under the list.
HISTORY_SHOWN = 50

bp = Blueprint("admin_admins", __name__, url_prefix="/admin/admins")


@bp.before_request
@login_required
def _admins_only() -> None:
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _admin(admin_id: int) -> PlatformAdmin:
    admin = registry_db.get_or_404(
        PlatformAdmin,
        admin_id,
        description="There is no such admin (removed already?); the Admins page lists them.",
    )
    registry_db.session.close()
    return admin


def _index(form: NewAdminForm | None = None, *, status: int = 200, error: str | None = None):
    admins = list_admins(platform_of())
    history = list(
        registry_db.session.execute(
            select(AuditEntry)
            .where(AuditEntry.tenant_id.is_(None), AuditEntry.action.startswith("admin."))
            .order_by(AuditEntry.id.desc())
            .limit(HISTORY_SHOWN)
        ).scalars()
    )
    registry_db.session.close()
    return (
        render_template(
            "admin/admins.html",
            admins=admins,
            history=history,
            form=form or NewAdminForm(formdata=None),
            error=error,
        ),
        status,
    )


@bp.get("/")
def index() -> Any:
    return _index()


@bp.post("/")
def add() -> Any:
    form = NewAdminForm()
    if not form.validate():
        return _index(form, status=422, error="The admin was not added; see below.")
    try:
        admin = create_admin(
            platform_of(), form.email.data or "", form.password.data or "", actor=current_user.email
        )
    except InvalidAdmin as error:
        form.email.errors = [str(error)]
        return _index(form, status=409 if "exists" in str(error) else 422, error=str(error))
    flash(f"Added {admin.email}: they can log in at this console now.")
    return redirect(url_for("admin_admins.index"), code=303)


@bp.route("/<int:admin_id>/password", methods=["GET", "POST"])
def password(admin_id: int) -> Any:
    admin = _admin(admin_id)
    form = AdminPasswordForm()
    if not form.is_submitted():
        return render_template("admin/admin_password.html", admin=admin, form=form)
    if not form.validate():
        return render_template("admin/admin_password.html", admin=admin, form=form), 422
    is_me = admin.id == current_user.id
    try:
        set_admin_password(
            platform_of(),
            admin.email,
            form.password.data or "",
            actor=current_user.email,
            keep_session=current_row_id() if is_me else None,
        )
    except InvalidAdmin as error:
        return render_template(
            "admin/admin_password.html", admin=admin, form=form, error=str(error)
        ), 404
    if is_me:
        flash("Your password is changed; your other sessions are ended.")
    else:
        flash(f"Changed the password of {admin.email}; their sessions are ended.")
    return redirect(url_for("admin_admins.index"), code=303)


@bp.route("/<int:admin_id>/remove", methods=["GET", "POST"])
def remove(admin_id: int) -> Any:
    admin = _admin(admin_id)
    form = ConfirmForm()
    if not form.is_submitted():
        return render_template("admin/admin_remove.html", admin=admin, form=form)
    if not form.validate():
        abort(400, "The form expired; open the Admins page and try again.")
    try:
        remove_admin(platform_of(), admin.email, actor=current_user.email)
    except InvalidAdmin as error:
        return render_template(
            "admin/admin_remove.html", admin=admin, form=form, error=str(error)
        ), 409
    if admin.id == current_user.id:
        end_current_admin_session()
        flash("You removed yourself as an admin, and are logged out.")
        return redirect(url_for("admin_auth.login"), code=303)
    flash(f"Removed {admin.email}; their sessions are ended.")
    return redirect(url_for("admin_admins.index"), code=303)
