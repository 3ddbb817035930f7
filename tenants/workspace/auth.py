"""Members log in and out; a signed single-use token logs the new owner in after signup."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from tenants.tokens import LoginTokenError, read_login_token
from tenants.workspace.extensions import db, login_manager
from tenants.workspace.forms import LoginForm
from tenants.workspace.models import UsedLoginToken, User
from tenants.workspace.throttle import limit_login_per_account, limit_login_per_address

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    # The session id is "<user id>:<end of password hash>": changing the password
    # ends every other session of that user.
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.password_hash[-12:] != fingerprint:
        return None
    return user


def safe_next(target: str | None) -> str | None:
    """A same-tenant path to go to after login, or None; never another host or scheme."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    root = request.script_root or ""
    if root and not (target == root or target.startswith(root + "/")):
        return None
    return target


def start_session(user: User) -> None:
    session.clear()
    session["tenant_id"] = current_app.config["TENANT_ID"]
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@limit_login_per_address
@limit_login_per_account
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        user = db.session.execute(
            select(User).where(func.lower(User.email) == form.email.data.strip().lower())
        ).scalar_one_or_none()
        if user is not None and check_password_hash(user.password_hash, form.password.data):
            start_session(user)
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
        error = "That email and password do not match an account of this workspace."
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("workspace/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.get("/login/token/<token>")
def login_with_token(token: str) -> Response:
    """Spend a signup login token: valid for this tenant only, once, for a minute."""
    try:
        claims = read_login_token(current_app.config["SECRET_KEY"], token)
    except LoginTokenError as error:
        flash(f"{error} Log in with your email and password.")
        return redirect(url_for("auth.login"))
    if claims["tenant"] != current_app.config["TENANT_ID"]:
        abort(404)
    db.session.add(UsedLoginToken(nonce=claims["nonce"]))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash("That login link was already used. Log in with your email and password.")
        return redirect(url_for("auth.login"))
    user = db.session.get(User, claims["user"])
    if user is None:
        return redirect(url_for("auth.login"))
    start_session(user)
    return redirect(url_for("home.index"))
