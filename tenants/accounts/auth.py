"""Members log in and out; the new owner arrives from signup with a signed single-use token.

The token comes in the body of a POST to ``/login/handoff`` (the platform's signup page
submits it), so it never appears in a URL, a request log or a proxy's access log. It is
bound to this tenant, works once, and expires after a minute. The form post is exempt
from CSRF: the signed token is the proof.
"""

from __future__ import annotations

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
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from tenants.accounts.extensions import csrf, db, login_manager
from tenants.accounts.forms import LoginForm
from tenants.accounts.models import UsedLoginToken, User
from tenants.accounts.throttle import limit_login_per_account, limit_login_per_address
from tenants.accounts.tokens import LoginTokenError, read_login_token
from tenants.web.redirects import safe_next

bp = Blueprint("auth", __name__, template_folder="templates")

login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
login_manager.session_protection = "basic"

#: Where the platform posts the new owner's sign-in token after signup.
HANDOFF_PATH = "/login/handoff"
#: app.config key: the endpoint a login lands on (the product's home page).
HOME_ENDPOINT = "ACCOUNTS_HOME_ENDPOINT"


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


def home_url() -> str:
    return url_for(current_app.config.get(HOME_ENDPOINT, "home.index"))


def start_session(user: User) -> None:
    session.clear()
    session["tenant_id"] = current_app.config["TENANT_ID"]
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@limit_login_per_address
@limit_login_per_account
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        user = db.session.execute(
            select(User).where(func.lower(User.email) == form.email.data.strip().lower())
        ).scalar_one_or_none()
        if user is not None and check_password_hash(user.password_hash, form.password.data):
            start_session(user)
            target = safe_next(request.args.get("next"), request.script_root)
            return redirect(target or home_url())
        error = "That email and password do not match an account of this workspace."
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("accounts/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.post(HANDOFF_PATH)
@csrf.exempt
def handoff() -> Response:
    """Spend a signup sign-in token from the POST body: this tenant only, once, for a minute."""
    token = request.form.get("token", "")
    try:
        claims = read_login_token(current_app.config["SECRET_KEY"], token)
    except LoginTokenError as error:
        flash(f"{error} Log in with your email and password.")
        return redirect(url_for("auth.login"), code=303)
    if claims["tenant"] != current_app.config["TENANT_ID"]:
        # Signed with this tenant's key but for another id: never honoured.
        flash("That sign-in link is not for this workspace. Log in with your email and password.")
        return redirect(url_for("auth.login"), code=303)
    db.session.add(UsedLoginToken(nonce=claims["nonce"]))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash("That sign-in link was already used. Log in with your email and password.")
        return redirect(url_for("auth.login"), code=303)
    user = db.session.get(User, claims["user"])
    if user is None:
        return redirect(url_for("auth.login"), code=303)
    start_session(user)
    return redirect(home_url(), code=303)


@bp.get("/login/token/<path:_token>")
def old_login_link(_token: str) -> tuple[str, int]:
    """Links of the old signup (token in the URL) no longer sign anyone in."""
    return (
        render_template(
            "errors/error.html",
            code=410,
            title="This sign-in link is no longer used",
            message="Sign-in links from signup now work only from the signup page itself. "
            "Log in with your email and password.",
        ),
        410,
    )
