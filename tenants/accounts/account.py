"""Your account: who you are here, your password, and where you are logged in."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from tenants.accounts import mailer
from tenants.accounts.extensions import db
from tenants.accounts.forms import EmailChangeForm, PasswordForm, ProfileForm
from tenants.accounts.members import email_taken
from tenants.accounts.selfservice import transfer_candidates
from tenants.accounts.sessions import (
    active_sessions,
    current_row_id,
    end_all_sessions,
    end_current_session,
    end_session,
    start_session,
)
from tenants.accounts.verification import queue_verification
from tenants.appkit.flask_app import tenant_services
from tenants.sessions import device_label
from tenants.web.passwords import password_matches

bp = Blueprint("account", __name__, url_prefix="/account")

_SESSION_ID = re.compile(r"[0-9a-f]{64}")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(moment: datetime) -> str:
    """A time for people, in UTC (SQLite returns naive datetimes; they are UTC too)."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="seconds")


def render_account(
    form: PasswordForm | None = None,
    status: int = 200,
    *,
    profile: ProfileForm | None = None,
    email_form: EmailChangeForm | None = None,
) -> tuple[str, int]:
    if profile is None:
        profile = ProfileForm(formdata=None, data={"name": current_user.name})
    page = render_template(
        "accounts/account.html",
        form=form or PasswordForm(formdata=None),
        profile=profile,
        email_form=email_form or EmailChangeForm(formdata=None),
        transfer_candidates=transfer_candidates(current_user) if current_user.is_owner else [],
        sessions=active_sessions(current_user.id),
        this_session=current_row_id(),
        device_label=device_label,
        when=when,
        iso=iso,
    )
    return page, status


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        method = tenant_services().password_hash_method
        if password_matches(user.password_hash, form.current_password.data, method=method):
            remembered = any(
                row.remember for row in active_sessions(user.id) if row.id == current_row_id()
            )
            user.password_hash = tenant_services().hash_password(form.new_password.data)
            end_all_sessions(user.id)
            # Every session made with the old password is over; this device starts a new one.
            start_session(user, remember=remembered)
            flash("Your password is changed. Your sessions on other devices are logged out.")
            return redirect(url_for("account.index"))
        form.current_password.errors.append(
            "That is not your current password. Type it again, or log out and use "
            "“Forgot password?” on the login page."
        )
        return render_account(form, 422)
    return render_account(form, 422 if request.method == "POST" else 200)


@bp.post("/profile")
@login_required
def profile() -> Any:
    """Set your name: what Members, greetings and your notes show instead of your email."""
    form = ProfileForm()
    if not form.validate_on_submit():
        return render_account(profile=form, status=422)
    user = current_user._get_current_object()
    user.name = form.name.data or ""
    db.session.commit()
    flash("Your name is saved." if user.name else "Your name is cleared; your email is shown.")
    return redirect(url_for("account.index"), code=303)


@bp.post("/email")
@login_required
def change_email() -> Any:
    """Ask to change your address: it changes once the link sent to the new one is followed."""
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return render_account(email_form=form, status=422)
    user = current_user._get_current_object()
    method = tenant_services().password_hash_method
    if not password_matches(user.password_hash, form.email_password.data, method=method):
        form.email_password.errors.append("That is not your password.")
        return render_account(email_form=form, status=422)
    new = form.new_email.data
    if new.lower() == user.email.lower():
        form.new_email.errors.append("That is your address already.")
        return render_account(email_form=form, status=422)
    if email_taken(new):
        form.new_email.errors.append("Another member of this workspace uses that address.")
        return render_account(email_form=form, status=409)
    user.pending_email = new
    db.session.commit()
    queue_verification(user.id, new)
    workspace = current_app.config["TENANT_NAME"]
    mailer.send(
        user.email,
        f"Your email in {workspace} is changing",
        [
            f"Someone logged in as you asked to change your address in {workspace} to {new}.",
            "It changes only once the link sent there is followed. If this was not you, "
            "change your password now and tell an owner of the workspace.",
        ],
        action=("Open your account", mailer.link("/account/")),
    )
    flash(f"Follow the link we sent to {new} to finish; until then you keep {user.email}.")
    return redirect(url_for("account.index"), code=303)


@bp.post("/sessions/<session_id>/end")
@login_required
def end_one(session_id: str) -> Response:
    """End one of your sessions (another device's, or this one: then you are logged out)."""
    if not _SESSION_ID.fullmatch(session_id):
        abort(404, "There is no such session; your account page lists them.")
    if session_id == current_row_id():
        end_current_session()
        flash("You are logged out.")
        return redirect(url_for("auth.login"), code=303)
    if not end_session(current_user.id, session_id):
        abort(404, "That session has ended already; your account page lists the others.")
    flash("That session is ended: the device it was on is logged out.")
    return redirect(url_for("account.index"), code=303)


@bp.post("/sessions/end-all")
@login_required
def end_all() -> Response:
    """Log out everywhere, this device included."""
    end_all_sessions(current_user.id)
    end_current_session()
    flash("You are logged out everywhere.")
    return redirect(url_for("auth.login"), code=303)
