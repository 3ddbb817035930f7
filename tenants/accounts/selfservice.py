"""Self-service: leave a workspace (deleting one's account in it) and transfer ownership.

An account belongs to one workspace, so leaving and deleting one's account there are one
act: the row goes, with its sessions, second factor and recovery codes (cascades); the
notes written stay, shown as by "a former member". The workspace always keeps an owner:
the last owner cannot leave, and transfers ownership first. Both need the password, so a
session left open on a shared computer cannot do either.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired

from tenants.accounts.extensions import db
from tenants.accounts.models import Role, User
from tenants.accounts.sessions import end_current_session
from tenants.appkit.flask_app import tenant_services
from tenants.web.forms import SafeForm
from tenants.web.passwords import password_matches

bp = Blueprint("selfservice", __name__, url_prefix="/account")
log = logging.getLogger(__name__)


class LeaveForm(SafeForm):
    leave_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm.")]
    )


class TransferForm(SafeForm):
    new_owner = SelectField("New owner", coerce=int, validate_choice=False)
    transfer_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm.")]
    )


def transfer_candidates(user: User) -> list[User]:
    """Members (not owners already) who could take over from ``user``."""
    return list(
        db.session.execute(
            select(User).where(User.id != user.id, User.role == Role.MEMBER).order_by(User.email)
        ).scalars()
    )


def _locked_owner_ids() -> list[int]:
    statement = select(User.id).where(User.role == Role.OWNER).with_for_update()
    return list(db.session.execute(statement).scalars())


def _password_ok(user: User, typed: str | None) -> bool:
    method = tenant_services().password_hash_method
    return password_matches(user.password_hash, typed or "", method=method)


@bp.post("/leave")
@login_required
def leave() -> Any:
    user = current_user._get_current_object()
    form = LeaveForm()
    if not form.validate_on_submit() or not _password_ok(user, form.leave_password.data):
        flash("You are still a member: that is not your password.")
        return redirect(url_for("account.index"), code=303)
    owners = _locked_owner_ids()
    if owners == [user.id]:
        db.session.rollback()
        flash(
            "You are the only owner: transfer ownership to another member first, "
            "so the workspace keeps one."
        )
        return redirect(url_for("account.index"), code=303)
    email = user.email
    workspace = current_app.config["TENANT_NAME"]
    end_current_session()
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    try:
        tenant_services().directory.remove(email)
    except Exception:
        log.exception(
            "Could not remove a member from tenant %s's directory", tenant_services().tenant.id
        )
    flash(f"You left {workspace}; your account here is deleted.")
    return redirect(url_for("auth.login"), code=303)


@bp.post("/transfer")
@login_required
def transfer() -> Response:
    user = current_user._get_current_object()
    form = TransferForm()
    if not user.is_owner:
        flash("Only an owner can transfer ownership.")
        return redirect(url_for("account.index"), code=303)
    if not form.validate_on_submit() or not _password_ok(user, form.transfer_password.data):
        flash("Nothing changed: that is not your password.")
        return redirect(url_for("account.index"), code=303)
    _locked_owner_ids()
    new_owner = db.session.get(User, form.new_owner.data)
    if new_owner is None or new_owner.id == user.id or new_owner.role != Role.MEMBER:
        db.session.rollback()
        flash("Choose a member of this workspace to hand over to.")
        return redirect(url_for("account.index"), code=303)
    new_owner.role = Role.OWNER
    user.role = Role.MEMBER
    db.session.commit()
    flash(f"{new_owner.display_name} is now an owner; you are a member.")
    return redirect(url_for("account.index"), code=303)
