"""Platform admins log in to the console: Flask-Login, CSRF, and a throttle on failures.

The console has its own ``LoginManager`` (tenant apps have theirs), and
its own ``Limiter`` per app: Flask-Limiter keeps its storage on the instance, so one
instance shared by several platforms in a process would share (and reset) counters.
Only failed log-ins count (``deduct_when``): per email, so one account cannot be
guessed at, and per client address, so one address cannot sweep many accounts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
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
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user
from werkzeug.exceptions import TooManyRequests
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from tenants.admins import find_admin
from tenants.console.admin_forms import AdminLoginForm
from tenants.console.extensions import platform_of, registry_db
from tenants.registry.models import PlatformAdmin
from tenants.web.redirects import safe_next

#: Failed log-ins allowed before the console answers 429 (moving one-minute windows).
FAILURES_PER_EMAIL = "5 per minute"
FAILURES_PER_ADDRESS = "20 per minute"
LIMITER = "tenants.admin_limiter"
_DUMMY_HASH = "tenants.admin_dummy_hash"

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
    password_fingerprint: str

    @classmethod
    def of(cls, admin: PlatformAdmin) -> AdminUser:
        return cls(admin.id, admin.email, admin.password_hash[-12:])

    def get_id(self) -> str:
        # A new password ends every session made with the old one.
        return f"{self.id}:{self.password_fingerprint}"


@admin_login_manager.user_loader
def load_admin(session_id: str) -> AdminUser | None:
    admin_id, _, fingerprint = session_id.partition(":")
    if not admin_id.isdigit():
        return None
    admin = registry_db.session.get(PlatformAdmin, int(admin_id))
    # End the read at once: on SQLite a registry transaction holds the write lock.
    registry_db.session.close()
    if admin is None or admin.password_hash[-12:] != fingerprint:
        return None
    return AdminUser.of(admin)


@admin_login_manager.unauthorized_handler
def ask_to_log_in() -> Response:
    flash("Log in as a platform admin to continue.")
    # Only a page can be come back to; a refused POST starts over from the list.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin_auth.login", next=target))


def _email_key() -> str:
    return "email:" + (request.form.get("email") or "").strip().lower()


def _address_key() -> str:
    return "address:" + get_remote_address()


def _failed(response: Response) -> bool:
    return response.status_code == 401


def init_admin_auth(app: Flask) -> None:
    """Log-in, session loading and the failure throttle of the console ``app``."""
    platform = platform_of(app)
    admin_login_manager.init_app(app)
    limiter = Limiter(
        get_remote_address,
        storage_uri=platform.settings.ratelimit_storage_url,
        strategy="moving-window",
        key_prefix="tenants-admin-login",
        headers_enabled=True,
    )
    for limit, key in ((FAILURES_PER_EMAIL, _email_key), (FAILURES_PER_ADDRESS, _address_key)):
        limiter.limit(limit, key_func=key, methods=["POST"], deduct_when=_failed)(bp)
    limiter.init_app(app)
    app.extensions[LIMITER] = limiter
    app.register_blueprint(bp)


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(TooManyRequests)
def too_many_failures(error: TooManyRequests) -> tuple[str, int]:
    limit = current_app.extensions[LIMITER].current_limit
    wait = 60
    if limit is not None:
        wait = max(1, min(limit.limit.get_expiry(), math.ceil(limit.reset_at - time.time())))
    message = (
        f"Too many failed log-ins. Try again in {wait} second{'s' if wait != 1 else ''}, "
        "or ask another platform admin to check your account."
    )
    return (
        render_template("errors/error.html", code=429, title="Too many attempts", message=message),
        429,
    )


def _dummy_hash() -> str:
    # Checking a password against a throw-away hash when the email is unknown makes
    # "no such admin" take as long as "wrong password": the timing reveals no emails.
    if _DUMMY_HASH not in current_app.extensions:
        platform = platform_of()
        current_app.extensions[_DUMMY_HASH] = platform.settings.hash_password("not-a-password")
    return current_app.extensions[_DUMMY_HASH]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("admin.tenants"))
    form = AdminLoginForm()
    if not form.is_submitted():
        return render_template("admin/login.html", form=form)
    if not form.validate():
        return render_template("admin/login.html", form=form), 422
    admin = find_admin(registry_db.session, form.email.data or "")
    registry_db.session.close()
    password = form.password.data or ""
    if admin is None:
        check_password_hash(_dummy_hash(), password)
    elif check_password_hash(admin.password_hash, password):
        session.clear()
        login_user(AdminUser.of(admin))
        target = safe_next(request.args.get("next"))
        if target is None or not target.startswith("/admin/"):
            target = url_for("admin.tenants")
        return redirect(target, code=303)
    error = "That email and password do not match a platform admin."
    return render_template("admin/login.html", form=form, error=error), 401
