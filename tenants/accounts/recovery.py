"""Password reset: "Forgot password?" mails a single-use link valid ``PASSWORD_RESET_MINUTES``.

No enumeration: the page answers the same, in the same time, whether or not the address
has an account here. The request only queues ``accounts.send_password_reset`` with the
address; the job (in a worker) looks the account up and mails a link only if there is
one. Requests are throttled per address and account with the login policy
(``tenants.web.throttle.LoginGuard``), so nobody can mail-bomb a member through it.

The link names the user and a fingerprint of the password hash it was made for: once
the password changes (through this link or otherwise) the link is spent. Setting the new
password ends every session of the account (sessions are bound to the password hash)
and sends the user to log in, so a second factor, if any, is still asked.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from tenants.accounts import mailer, throttle
from tenants.accounts.access import owner_required
from tenants.accounts.auth import find_user
from tenants.accounts.extensions import db
from tenants.accounts.forms import EmailOnlyForm, NewPasswordForm
from tenants.accounts.invitations import problem_page
from tenants.accounts.models import User, utcnow
from tenants.accounts.sessions import end_all_sessions
from tenants.accounts.tokens import LinkError, fingerprint, make_link_token, read_link_token
from tenants.appkit.flask_app import tenant_services
from tenants.jobs import JobContext, tenant_job
from tenants.web.throttle import account_key

bp = Blueprint("recovery", __name__)

PURPOSE = "reset"
SENT = (
    "If {email} has an account here, a link to choose a new password is on its way. "
    "It works once, for {minutes} minutes. Nothing arrived? Check the spelling and your "
    "spam folder, or ask an owner of this workspace."
)


def reset_token(user: User) -> str:
    return make_link_token(
        current_app.config["SECRET_KEY"],
        PURPOSE,
        current_app.config["TENANT_ID"],
        user=user.id,
        fp=fingerprint(user.password_hash),
    )


@tenant_job("accounts.send_password_reset", max_attempts=5, writes=False)
def send_password_reset(ctx: JobContext, email: str) -> dict[str, bool]:
    """Mail a reset link to ``email`` if it has an account here (else nothing)."""
    user = find_user(email)
    if user is None:
        return {"sent": False}
    minutes = tenant_services().password_reset_minutes
    workspace = current_app.config["TENANT_NAME"]
    mailer.send(
        user.email,
        f"Choose a new password for {workspace}",
        [
            f"Someone (we hope you) asked to reset the password of {user.email} in {workspace}.",
            f"The link works once, for {minutes} minutes. Choosing a new password logs "
            "you out everywhere else.",
        ],
        action=("Choose a new password", mailer.link(f"/login/reset/{reset_token(user)}")),
        footer="If you did not ask for this, ignore this email: your password stays as it is.",
    )
    return {"sent": True}


def queue_reset(email: str) -> None:
    tenant_services().jobs.enqueue(send_password_reset, email=email.strip().lower())


@bp.route("/login/forgot", methods=["GET", "POST"])
def forgot() -> Any:
    form = EmailOnlyForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        guard = throttle.login_guard() if throttle.enabled() else None
        if guard is not None:
            account = account_key(f"reset:{email}")
            refusal = guard.refusal(account, throttle.address(), known_device=False)
            if refusal is not None:
                return throttle.render_throttled(refusal)
            guard.failed(account, throttle.address())  # every request counts
        queue_reset(email)
        minutes = tenant_services().password_reset_minutes
        flash(SENT.format(email=email, minutes=minutes))
        return redirect(url_for("auth.login"), code=303)
    if request.method == "POST":
        status = 422
    return render_template("accounts/forgot.html", form=form), status


def _resolve(token: str) -> tuple[User | None, str | None]:
    try:
        claims = read_link_token(
            current_app.config["SECRET_KEY"],
            PURPOSE,
            current_app.config["TENANT_ID"],
            token,
            max_age=tenant_services().password_reset_minutes * 60,
        )
    except LinkError as error:
        return None, f"reset-{error.kind}"
    user_id = claims.get("user")
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        return None, "reset-invalid"
    if claims.get("fp") != fingerprint(user.password_hash):
        return None, "reset-used"
    return user, None


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
@throttle.guard_links
def reset(token: str) -> Any:
    user, problem = _resolve(token)
    if user is None:
        throttle.link_failed()
        return problem_page(problem or "reset-invalid")
    form = NewPasswordForm()
    status = 200
    if form.validate_for(user.email):
        user.password_hash = tenant_services().hash_password(form.password.data)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()  # the link reached this mailbox
        db.session.commit()
        end_all_sessions(user.id)
        flash(
            "Your password is changed, and every session of your account has ended. Log in with it."
        )
        return redirect(url_for("auth.login"), code=303)
    if request.method == "POST":
        status = 422
    page = render_template("accounts/reset.html", form=form, email=user.email)
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.post("/members/<int:member_id>/send-reset")
@owner_required
def send_to_member(member_id: int) -> Response:
    """An owner sends a member a reset link (the owner never learns the new password)."""
    member = db.get_or_404(User, member_id, description="There is no such member.")
    queue_reset(member.email)
    who = "you" if member.id == current_user.id else member.email
    flash(f"A link to choose a new password is on its way to {who}.")
    return redirect(url_for("members.index"), code=303)
