"""Two-factor sign-in for platform admins (``tenants.web.twofactor``: TOTP, recovery codes).

An admin can do anything to every tenant, so ``ADMIN_REQUIRE_2FA`` (on unless
``FLASK_DEBUG``) makes it required: an admin without it is sent to set it up before any
other console page. With it, the password alone logs no one in: the code comes next,
within five minutes; wrong and replayed codes count against the console's login throttle.
Recovery codes are stored hashed in ``platform_admins.recovery_codes`` and each works once.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tenants.console.admin_auth import (
    GUARD,
    PENDING,
    PENDING_SECONDS,
    render_refusal,
    start_admin_session,
)
from tenants.console.extensions import platform_of, registry_db
from tenants.registry import service
from tenants.registry.models import PlatformAdmin
from tenants.web import twofactor as otp
from tenants.web.forms import SafeForm
from tenants.web.links import fingerprint
from tenants.web.passwords import password_matches
from tenants.web.throttle import KnownDevices, LoginGuard

bp = Blueprint("admin_2fa", __name__, url_prefix="/admin")

SETUP_SECRET = "admin_2fa.setup_secret"


class AdminCodeForm(SafeForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired("Enter a code."), Length(max=40)],
    )


class AdminDisableForm(SafeForm):
    disable_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm.")]
    )


def required() -> bool:
    return platform_of().settings.admin_require_2fa


def accept_code(admin: PlatformAdmin, code: str) -> str | None:
    step = otp.check_totp(admin.totp_secret or "", code, admin.totp_last_step)
    if step is not None:
        admin.totp_last_step = step
        return "totp"
    hashes = list(admin.recovery_codes or [])
    matched = otp.matching_hash(code, hashes)
    if matched is None:
        return None
    hashes.remove(matched)
    admin.recovery_codes = hashes
    return "recovery"


@bp.route("/login/2fa", methods=["GET", "POST"])
def challenge() -> Any:
    pending = session.get(PENDING)
    admin = None
    if isinstance(pending, dict) and time.time() - pending.get("at", 0) <= PENDING_SECONDS:
        admin = registry_db.session.get(PlatformAdmin, pending.get("admin"))
        if admin is not None and (
            not admin.totp_secret or pending.get("fp") != fingerprint(admin.password_hash)
        ):
            admin = None
    if admin is None or not isinstance(pending, dict):
        registry_db.session.close()
        session.pop(PENDING, None)
        flash("Log in again: the code must follow the password within five minutes.")
        return redirect(url_for("admin_auth.login"), code=303)
    form = AdminCodeForm()
    if not form.validate_on_submit():
        registry_db.session.close()
        status = 422 if request.method == "POST" else 200
        return render_template("admin/twofactor_challenge.html", form=form), status
    guard: LoginGuard = current_app.extensions[GUARD]
    account = pending.get("account", "")
    address = request.remote_addr or "unknown"
    devices = KnownDevices(current_app.config["SECRET_KEY"])
    refusal = guard.refusal(account, address, known_device=devices.knows(request, account))
    if refusal is not None:
        registry_db.session.close()
        return render_refusal(refusal)
    used = accept_code(admin, form.code.data or "")
    if used is None:
        registry_db.session.close()
        guard.failed(account, address)
        form.code.errors.append(
            "That code is not right (or was used already). Use the newest code of your app."
        )
        return render_template("admin/twofactor_challenge.html", form=form), 401
    left = len(admin.recovery_codes or [])
    if used == "recovery":
        service.audit(registry_db.session, admin.email, "admin.recovery_code_used")
    session.pop(PENDING, None)
    # Commits the spent code (or step) with the new session row, in one transaction.
    start_admin_session(admin, remember=bool(pending.get("remember")))
    if used == "recovery":
        flash(f"You used a recovery code; {left} left.")
    return redirect(pending.get("target") or url_for("admin.tenants"), code=303)


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def setup() -> Any:
    admin = registry_db.session.get(PlatformAdmin, current_user.id)
    if admin is None:
        registry_db.session.close()
        return redirect(url_for("admin_auth.login"), code=303)
    if admin.totp_secret:
        registry_db.session.close()
        flash("Two-factor sign-in is already on.")
        return redirect(url_for("admin_account.index"), code=303)
    secret = otp.pending_secret(session, SETUP_SECRET)
    form = AdminCodeForm()
    form.code.label.text = "The 6-digit code your app shows"
    status = 200
    if form.validate_on_submit():
        step = otp.check_totp(secret, form.code.data or "", None)
        if step is not None:
            codes = otp.new_recovery_codes()
            admin.totp_secret = secret
            admin.totp_last_step = step
            admin.recovery_codes = [otp.hash_recovery_code(code) for code in codes]
            service.audit(registry_db.session, admin.email, "admin.2fa_on")
            registry_db.session.commit()
            registry_db.session.close()
            session.pop(SETUP_SECRET, None)
            return render_template("admin/twofactor_codes.html", codes=codes)
        form.code.errors.append("That code is not right. Check the app's clock and try again.")
        status = 422
    elif request.method == "POST":
        status = 422
    email = admin.email
    registry_db.session.close()
    uri = otp.provisioning_uri(secret, email, platform_of().settings.base_domain)
    page = render_template(
        "admin/twofactor_setup.html",
        form=form,
        secret=otp.grouped(secret),
        uri=uri,
        qr=otp.qr_svg(uri),
        required=required(),
    )
    return page, status


@bp.post("/account/2fa/disable")
@login_required
def disable() -> Response:
    if required():
        flash("Two-factor sign-in is required for admins here (ADMIN_REQUIRE_2FA).")
        return redirect(url_for("admin_account.index"), code=303)
    form = AdminDisableForm()
    admin = registry_db.session.get(PlatformAdmin, current_user.id)
    method = platform_of().settings.password_hash_method
    if (
        admin is None
        or not form.validate_on_submit()
        or not password_matches(
            admin.password_hash, form.disable_password.data or "", method=method
        )
    ):
        registry_db.session.close()
        flash("Two-factor sign-in stays on: that is not your password.")
        return redirect(url_for("admin_account.index"), code=303)
    admin.totp_secret = None
    admin.totp_last_step = None
    admin.recovery_codes = None
    service.audit(registry_db.session, admin.email, "admin.2fa_off")
    registry_db.session.commit()
    registry_db.session.close()
    flash("Two-factor sign-in is off.")
    return redirect(url_for("admin_account.index"), code=303)


_ALLOWED = {"admin_2fa.setup", "admin_auth.logout", "admin_auth.login", "static"}


def enforce_requirement() -> Response | None:
    """``before_request``: with ADMIN_REQUIRE_2FA, an admin without it sets it up first."""
    if not request.path.startswith("/admin") or not current_user.is_authenticated:
        return None
    if getattr(current_user, "has_two_factor", True) or request.endpoint in _ALLOWED:
        return None
    if not required():
        return None
    flash("Platform admins must use two-factor sign-in here: set it up to continue.")
    return redirect(url_for("admin_2fa.setup"), code=303)


def init_admin_twofactor(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(enforce_requirement)
