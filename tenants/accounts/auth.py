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
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from tenants.accounts import throttle
from tenants.accounts.extensions import csrf, db, login_manager
from tenants.accounts.forms import LoginForm
from tenants.accounts.models import UsedLoginToken, User
from tenants.accounts.sessions import end_current_session, start_session
from tenants.accounts.tokens import LoginTokenError, read_login_token
from tenants.appkit.flask_app import tenant_services
from tenants.web.passwords import password_matches
from tenants.web.redirects import safe_next
from tenants.web.throttle import account_key

bp = Blueprint("auth", __name__, template_folder="templates")

login_manager.login_view = "auth.login"
# No flash: opening a workspace logged out is not an error, and the login page says
# where it is.
login_manager.login_message = None  # type: ignore[assignment]
login_manager.session_protection = "basic"

#: Where the platform posts the new owner's sign-in token after signup.
HANDOFF_PATH = "/login/handoff"
#: app.config key: the endpoint a login lands on (the product's home page).
HOME_ENDPOINT = "ACCOUNTS_HOME_ENDPOINT"


def home_url() -> str:
    return url_for(current_app.config.get(HOME_ENDPOINT, "home.index"))


def find_user(email: str) -> User | None:
    return db.session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).scalar_one_or_none()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = LoginForm()
    error = None
    status = 200
    # The form reads the body however it was sent (urlencoded, multipart, JSON): the
    # throttle counts the email the form read, so every way in meets the same limits.
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        account = account_key(email)
        guard = throttle.login_guard() if throttle.enabled() else None
        if guard is not None:
            known = throttle.known_devices().knows(request, account)
            refusal = guard.refusal(account, throttle.address(), known_device=known)
            if refusal is not None:
                return throttle.render_throttled(refusal)
        user = find_user(email)
        method = tenant_services().password_hash_method
        # An unknown email costs a hash check too: the time tells no one who is a member.
        stored = user.password_hash if user is not None else None
        if password_matches(stored, form.password.data, method=method) and user is not None:
            target = safe_next(request.args.get("next"), request.script_root)
            if user.has_two_factor:
                from tenants.accounts import twofactor

                return twofactor.begin(
                    user,
                    remember=bool(form.remember.data),
                    target=target or home_url(),
                    account=account,
                )
            start_session(user, remember=bool(form.remember.data))
            response = redirect(target or home_url())
            throttle.remember_device(response, account)
            return response
        if guard is not None:
            guard.failed(account, throttle.address())
        error = "That email and password do not match an account of this workspace."
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("accounts/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    end_current_session()
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
