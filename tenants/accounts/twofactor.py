"""Two-factor sign-in for a workspace's members: TOTP from an authenticator app, or a
recovery code (``tenants.web.twofactor``).

With it set up, the password alone logs no one in: the login page keeps the half-done
login in the (signed) session for five minutes and asks for a code; a wrong code or a
replayed one counts against the login throttle like a wrong password. An owner can
require it for everyone: members without it are sent to set it up before anything else.
What it protects (SECURITY.md): a stolen or guessed password is not enough to log in.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import delete, select
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from tenants.accounts import throttle
from tenants.accounts.extensions import db
from tenants.accounts.models import RecoveryCode, User, utcnow
from tenants.accounts.sessions import start_session
from tenants.accounts.tokens import fingerprint
from tenants.appkit.flask_app import tenant_services
from tenants.web import twofactor as otp
from tenants.web.forms import SafeForm
from tenants.web.passwords import password_matches
from tenants.web.throttle import account_key

bp = Blueprint("twofactor", __name__)

#: Session keys of a login waiting for its second factor, and of a secret being set up.
PENDING = "2fa.pending"
SETUP_SECRET = "2fa.setup_secret"
#: How long the code may take after the password.
PENDING_SECONDS = 300
#: The workspace setting (an owner's choice) that makes it required.
REQUIRED = "require_2fa"


class CodeForm(SafeForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired("Enter a code."), Length(max=40)],
    )
    submit = SubmitField("Continue")


class DisableForm(SafeForm):
    disable_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm.")]
    )
    submit = SubmitField("Turn off two-factor sign-in")


def required_here() -> bool:
    return bool(current_app.config.get("TENANT_SETTINGS", {}).get(REQUIRED))


# -- the login's second step ------------------------------------------------------------


def begin(user: User, *, remember: bool, target: str, account: str) -> Response:
    """The password was right and the account has a second factor: ask for it."""
    session[PENDING] = {
        "user": user.id,
        "fp": fingerprint(user.password_hash),
        "remember": remember,
        "target": target,
        "account": account,
        "at": int(time.time()),
    }
    return redirect(url_for("twofactor.challenge"), code=303)


def _pending_user() -> tuple[User | None, dict[str, Any]]:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, {}
    user = db.session.get(User, pending.get("user"))
    if user is None or not user.has_two_factor:
        return None, {}
    if pending.get("fp") != fingerprint(user.password_hash):
        return None, {}  # the password changed meanwhile
    return user, pending


def accept_code(user: User, code: str) -> str | None:
    """ "totp" or "recovery" if ``code`` is a right, unused code of ``user``, else None."""
    step = otp.check_totp(user.totp_secret or "", code, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        db.session.commit()
        return "totp"
    unused = list(
        db.session.execute(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).scalars()
    )
    matched = otp.matching_hash(code, [row.code_hash for row in unused])
    if matched is None:
        return None
    for row in unused:
        if row.code_hash == matched:
            row.used_at = utcnow()
    db.session.commit()
    return "recovery"


@bp.route("/login/2fa", methods=["GET", "POST"])
def challenge() -> Any:
    user, pending = _pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash("Log in again: the code must follow the password within five minutes.")
        return redirect(url_for("auth.login"), code=303)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        account = pending.get("account") or account_key(user.email)
        guard = throttle.login_guard() if throttle.enabled() else None
        if guard is not None:
            known = throttle.known_devices().knows(request, account)
            refusal = guard.refusal(account, throttle.address(), known_device=known)
            if refusal is not None:
                return throttle.render_throttled(refusal)
        used = accept_code(user, form.code.data)
        if used is not None:
            session.pop(PENDING, None)
            start_session(user, remember=bool(pending.get("remember")))
            if used == "recovery":
                left = _unused_codes(user.id)
                flash(
                    f"You used a recovery code; {left} left. Your Account page makes a "
                    "new list (and turns the old one off)."
                )
            response = redirect(pending.get("target") or url_for("auth.login"), code=303)
            throttle.remember_device(response, account)
            return response
        if guard is not None:
            guard.failed(account, throttle.address())
        form.code.errors.append(
            "That code is not right (or was used already). Use the newest code of your app."
        )
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("accounts/twofactor_challenge.html", form=form), status


def _unused_codes(user_id: int) -> int:
    rows = db.session.execute(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    return len(rows)


# -- setting it up, turning it off --------------------------------------------------------


def _store_recovery_codes(user: User) -> list[str]:
    codes = otp.new_recovery_codes()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=otp.hash_recovery_code(code)) for code in codes
    )
    return codes


@bp.route("/account/2fa/setup", methods=["GET", "POST"])
@login_required
def setup() -> Any:
    user = current_user._get_current_object()
    if user.has_two_factor:
        flash("Two-factor sign-in is already on.")
        return redirect(url_for("account.index"), code=303)
    secret = otp.pending_secret(session, SETUP_SECRET)
    form = CodeForm()
    form.code.label.text = "The 6-digit code your app shows"
    status = 200
    if form.validate_on_submit():
        step = otp.check_totp(secret, form.code.data, None)
        if step is not None:
            user.totp_secret = secret
            user.totp_last_step = step
            codes = _store_recovery_codes(user)
            db.session.commit()
            session.pop(SETUP_SECRET, None)
            page = render_template("accounts/twofactor_codes.html", codes=codes)
            return page, 200, {"Cache-Control": "no-store"}
        form.code.errors.append(
            "That code is not right. Check the app's clock and try the newest code."
        )
        status = 422
    elif request.method == "POST":
        status = 422
    uri = otp.provisioning_uri(secret, user.email, current_app.config["TENANT_NAME"])
    page = render_template(
        "accounts/twofactor_setup.html",
        form=form,
        secret=otp.grouped(secret),
        uri=uri,
        qr=otp.qr_svg(uri),
        required=required_here(),
    )
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/account/2fa/disable")
@login_required
def disable() -> Any:
    user = current_user._get_current_object()
    form = DisableForm()
    if required_here():
        flash("This workspace requires two-factor sign-in; an owner can change that in Settings.")
        return redirect(url_for("account.index"), code=303)
    method = tenant_services().password_hash_method
    if not form.validate_on_submit() or not password_matches(
        user.password_hash, form.disable_password.data or "", method=method
    ):
        flash("Two-factor sign-in stays on: that is not your password.")
        return redirect(url_for("account.index"), code=303)
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()
    flash("Two-factor sign-in is off: your password alone logs you in.")
    return redirect(url_for("account.index"), code=303)


@bp.post("/account/2fa/recovery-codes")
@login_required
def new_recovery_codes() -> Any:
    """A new list of recovery codes (the old ones stop working), confirmed by the password."""
    user = current_user._get_current_object()
    form = DisableForm()
    method = tenant_services().password_hash_method
    typed = form.disable_password.data or ""
    if (
        not user.has_two_factor
        or not form.validate_on_submit()
        or not password_matches(user.password_hash, typed, method=method)
    ):
        flash("Your recovery codes stay as they were: that is not your password.")
        return redirect(url_for("account.index"), code=303)
    codes = _store_recovery_codes(user)
    db.session.commit()
    page = render_template("accounts/twofactor_codes.html", codes=codes)
    return page, 200, {"Cache-Control": "no-store"}


#: Endpoints a member who must set up two-factor sign-in may still reach.
_ALLOWED_WHILE_REQUIRED = {
    "twofactor.setup",
    "auth.logout",
    "static",
    "verification.ask",
    "verification.verify",
}


def enforce_requirement() -> Response | None:
    """``before_request``: in a workspace that requires it, set it up before anything else."""
    if not required_here() or not current_user.is_authenticated:
        return None
    if current_user.has_two_factor or request.endpoint in _ALLOWED_WHILE_REQUIRED:
        return None
    flash("This workspace requires two-factor sign-in: set it up to continue.")
    return redirect(url_for("twofactor.setup"), code=303)
