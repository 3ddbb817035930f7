"""Platform admins log in to the console: Flask-Login, server-side sessions, the login policy.

The console has its own ``LoginManager`` (tenant apps have theirs). A login is a row of
``admin_sessions`` in the platform database (``tenants.sessions``): logging out deletes
it, and a password change ends every session made before it. Failed log-ins meet the
same policy as tenant logins (``tenants.web.throttle.LoginGuard``, counted in the
platform's rate-limit storage under the console's own keys), with the console's limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
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
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import delete, select
from werkzeug.wrappers import Response

from tenants.admins import find_admin
from tenants.console.admin_forms import AdminLoginForm
from tenants.console.extensions import platform_of, registry_db
from tenants.registry.models import AdminSession, PlatformAdmin
from tenants.sessions import SessionLifetimes, row_id, session_fields, touch_later, utcnow
from tenants.web.links import fingerprint
from tenants.web.passwords import password_matches
from tenants.web.redirects import safe_next
from tenants.web.throttle import (
    Counters,
    KnownDevices,
    LoginGuard,
    LoginLimits,
    Refusal,
    account_key,
    wait_phrase,
)

#: The console's login limits: an admin account is worth more than a member's.
ADMIN_LOGIN_LIMITS = LoginLimits(
    per_account_and_address="5 per minute",
    per_address="20 per minute",
    per_account="30 per hour",
    past_ceiling="2 per minute",
)
#: ``app.extensions`` keys: the console's login guard and session lifetimes.
GUARD = "tenants.admin_login_guard"
LIFETIMES = "tenants.admin_session_lifetimes"

bp = Blueprint("admin_auth", __name__, url_prefix="/admin")
admin_login_manager = LoginManager()
admin_login_manager.login_view = "admin_auth.login"
# A changed address or browser ends an admin's session: the console can do everything.
admin_login_manager.session_protection = "strong"


@dataclass(frozen=True)
class AdminUser(UserMixin):
    """The logged-in platform admin, as Flask-Login sees it."""

    id: int
    email: str
    #: The token of this login's row in ``admin_sessions``.
    session_token: str
    has_two_factor: bool = False

    def get_id(self) -> str:
        return self.session_token


@admin_login_manager.user_loader
def load_admin(token: str) -> AdminUser | None:
    """The admin of the session row ``token`` names, if that session is still valid."""
    if not isinstance(token, str) or not token:
        return None
    found = registry_db.session.execute(
        select(AdminSession, PlatformAdmin)
        .join(PlatformAdmin, PlatformAdmin.id == AdminSession.admin_id)
        .where(AdminSession.id == row_id(token))
    ).first()
    # End the read at once: on SQLite a registry transaction holds the write lock.
    registry_db.session.close()
    if found is None:
        return None
    row, admin = found
    if not row.is_valid(admin.password_hash):
        return None
    touch_later(platform_of().engine, row)
    return AdminUser(admin.id, admin.email, token, bool(admin.totp_secret))


@admin_login_manager.unauthorized_handler
def ask_to_log_in() -> Response:
    flash("Log in as a platform admin to continue.")
    # Only a page can be come back to; a refused POST starts over from the list.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin_auth.login", next=target))


def init_admin_auth(app: Flask) -> None:
    """Log-in, session loading and the login policy of the console ``app``."""
    platform = platform_of(app)
    settings = platform.settings
    admin_login_manager.init_app(app)
    counters = Counters.at(settings.ratelimit_storage_url, str(settings.instance_path))
    app.extensions[GUARD] = LoginGuard(counters, "console:admin-login", ADMIN_LOGIN_LIMITS)
    app.extensions[LIFETIMES] = SessionLifetimes(
        browser=timedelta(hours=settings.session_lifetime_hours),
        remembered=timedelta(days=settings.session_remember_days),
    )
    app.register_blueprint(bp)


def start_admin_session(admin: PlatformAdmin, *, remember: bool) -> None:
    """Log ``admin`` in on this device: a new row in ``admin_sessions``, a fresh cookie."""
    user = AdminUser(admin.id, admin.email, "", bool(admin.totp_secret))
    token, fields = session_fields(
        request, admin.password_hash, remember=remember, lifetimes=current_app.extensions[LIFETIMES]
    )
    registry_db.session.execute(
        delete(AdminSession).where(
            AdminSession.admin_id == admin.id, AdminSession.expires_at < utcnow()
        )
    )
    registry_db.session.add(AdminSession(admin_id=admin.id, **fields))
    registry_db.session.commit()
    registry_db.session.close()
    session.clear()
    session.permanent = remember
    login_user(AdminUser(user.id, user.email, token, user.has_two_factor))


def current_row_id() -> str | None:
    token = session.get("_user_id")
    return row_id(token) if isinstance(token, str) and token else None


def end_current_admin_session() -> None:
    current = current_row_id()
    if current is not None:
        registry_db.session.execute(delete(AdminSession).where(AdminSession.id == current))
        registry_db.session.commit()
        registry_db.session.close()
    logout_user()
    session.clear()


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def render_refusal(refusal: Refusal) -> tuple[str, int, dict[str, str]]:
    message = (
        f"{refusal.message} {wait_phrase(refusal.retry_after)} "
        "If you cannot log in, ask another platform admin to check your account."
    )
    page = render_template(
        "errors/error.html", code=429, title="Too many attempts", message=message
    )
    return page, 429, {"Retry-After": str(refusal.retry_after)}


#: Session key of a login waiting for its second factor (``admin_twofactor``), and how
#: long the code may take after the password.
PENDING = "admin_2fa.pending"
PENDING_SECONDS = 300


def begin_second_factor(
    admin: PlatformAdmin, *, remember: bool, target: str, account: str
) -> Response:
    """The admin's password was right and a second factor is set up: ask for the code."""
    session[PENDING] = {
        "admin": admin.id,
        "fp": fingerprint(admin.password_hash),
        "remember": remember,
        "target": target,
        "account": account,
        "at": int(time.time()),
    }
    return redirect(url_for("admin_2fa.challenge"), code=303)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("admin.tenants"))
    form = AdminLoginForm()
    if not form.is_submitted():
        return render_template("admin/login.html", form=form)
    if not form.validate():
        return render_template("admin/login.html", form=form), 422
    email = (form.email.data or "").strip().lower()
    account = account_key(email)
    address = request.remote_addr or "unknown"
    guard: LoginGuard = current_app.extensions[GUARD]
    devices = KnownDevices(current_app.config["SECRET_KEY"])
    refusal = guard.refusal(account, address, known_device=devices.knows(request, account))
    if refusal is not None:
        return render_refusal(refusal)
    admin = find_admin(registry_db.session, email)
    registry_db.session.close()
    password = form.password.data or ""
    method = platform_of().settings.password_hash_method
    # An unknown email costs a hash check too: the time tells no one who is an admin.
    stored = admin.password_hash if admin is not None else None
    if password_matches(stored, password, method=method) and admin is not None:
        target = safe_next(request.args.get("next"))
        if target is None or not target.startswith("/admin/"):
            target = url_for("admin.tenants")
        if admin.totp_secret:
            return begin_second_factor(
                admin, remember=bool(form.remember.data), target=target, account=account
            )
        start_admin_session(admin, remember=bool(form.remember.data))
        response = redirect(target, code=303)
        devices.remember(
            request,
            response,
            account,
            path=current_app.config.get("SESSION_COOKIE_PATH") or "/",
            secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        )
        return response
    guard.failed(account, address)
    error = "That email and password do not match a platform admin."
    return render_template("admin/login.html", form=form, error=error), 401
