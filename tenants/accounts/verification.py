"""Email verification: the owner's address at signup, and every changed address.

After signup the platform calls ``accounts.after_signup`` (``TenantApp.after_signup``),
which queues ``accounts.send_verification``: the owner works at once, sees a banner
until the link is followed, can send it again, and cannot invite anyone before. A
member who changes their address keeps the old one until the link sent to the new one
is followed (``pending_email``); the old address is told of the request.

A link names the user and a fingerprint of the address it proves: it verifies that
address only, once (after it, the address is verified or changed and the link says so),
within ``VERIFY_DAYS``, in this workspace only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from tenants.accounts import mailer, throttle
from tenants.accounts.extensions import db
from tenants.accounts.forms import ConfirmForm
from tenants.accounts.models import User, utcnow
from tenants.accounts.tokens import LinkError, fingerprint, make_link_token, read_link_token
from tenants.appkit.flask_app import tenant_services
from tenants.contract import TenantServices
from tenants.jobs import JobContext, tenant_job
from tenants.web.throttle import account_key

bp = Blueprint("verification", __name__)
log = logging.getLogger(__name__)

PURPOSE = "verify"
#: How long a verification link works.
VERIFY_DAYS = 7


def verification_token(user: User, address: str) -> str:
    return make_link_token(
        current_app.config["SECRET_KEY"],
        PURPOSE,
        current_app.config["TENANT_ID"],
        user=user.id,
        fp=fingerprint(address.lower()),
    )


@tenant_job("accounts.send_verification", max_attempts=5, writes=False)
def send_verification(ctx: JobContext, user_id: int, address: str) -> dict[str, Any]:
    """Mail the link that proves ``address``, if the user still waits for that proof."""
    user = db.session.get(User, user_id)
    if user is None:
        return {"sent": False}
    waiting = {user.pending_email} if user.pending_email else set()
    if not user.email_verified:
        waiting.add(user.email)
    if address not in waiting:
        return {"sent": False}
    workspace = current_app.config["TENANT_NAME"]
    url = mailer.link(f"/account/verify/{verification_token(user, address)}")
    mailer.send(
        address,
        f"Confirm your email for {workspace}",
        [
            f"Confirm that {address} is your address in {workspace}.",
            f"The link works for {VERIFY_DAYS} days.",
        ],
        action=("Confirm my email", url),
        footer="If you did not sign up or change your address, ignore this email.",
    )
    return {"sent": True}


def queue_verification(user_id: int, address: str, services: TenantServices | None = None) -> None:
    (services or tenant_services()).jobs.enqueue(
        send_verification, user_id=user_id, address=address
    )


def after_signup(services: TenantServices, owner_id: int) -> None:
    """``TenantApp.after_signup``: the new owner's address gets its verification link."""
    with Session(services.engine) as session:
        email = session.execute(select(User.email).where(User.id == owner_id)).scalar_one()
    queue_verification(owner_id, email, services)


def _resolve(token: str) -> tuple[User | None, str, str | None]:
    """(user, what the link proves: "email" or "pending", problem)."""
    try:
        claims = read_link_token(
            current_app.config["SECRET_KEY"],
            PURPOSE,
            current_app.config["TENANT_ID"],
            token,
            max_age=VERIFY_DAYS * 86400,
        )
    except LinkError as error:
        return None, "", error.kind
    user_id = claims.get("user")
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        return None, "", "invalid"
    if user.pending_email and claims.get("fp") == fingerprint(user.pending_email.lower()):
        return user, "pending", None
    if claims.get("fp") == fingerprint(user.email.lower()):
        return user, "email", None
    return None, "", "outdated"


PROBLEMS = {
    "invalid": (
        400,
        "This confirmation link is not valid",
        "Copy the whole link from the email, or send a new one from your Account page.",
    ),
    "expired": (
        410,
        "This confirmation link has expired",
        "Send a new one from your Account page.",
    ),
    "outdated": (
        410,
        "This confirmation link is out of date",
        "Your address changed since it was sent. Your Account page shows your address now.",
    ),
    "taken": (
        409,
        "That address belongs to another member",
        "Another account of this workspace uses it now; your address stays as it was.",
    ),
}


def _problem(kind: str) -> tuple[str, int, dict[str, str]]:
    status, title, message = PROBLEMS[kind]
    page = render_template("accounts/link_problem.html", title=title, message=message)
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/account/verify/<token>")
@throttle.guard_links
def ask(token: str) -> Any:
    """The page a confirmation link opens: it asks, and only its button confirms.

    Mail scanners and link previews open every link in a message; if opening one
    confirmed the address, a scanner at someone else's mailbox could confirm an address
    they never chose. So the link is read (and refused when it is not valid) but changes
    nothing until the person presses Confirm (a POST carrying the CSRF token).
    """
    user, proves, problem = _resolve(token)
    if user is None:
        throttle.link_failed()
        return _problem(problem or "invalid")
    address = user.pending_email if proves == "pending" else user.email
    page = render_template(
        "accounts/verify_confirm.html", form=ConfirmForm(), address=address, token=token
    )
    return page, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.post("/account/verify/<token>")
@throttle.guard_links
def verify(token: str) -> Any:
    """Confirm the address a link proves (works logged out too: the mailbox is the proof)."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("verification.ask", token=token), code=303)
    user, proves, problem = _resolve(token)
    if user is None:
        throttle.link_failed()
        return _problem(problem or "invalid")
    if proves == "pending":
        old, new = user.email, user.pending_email or user.email
        taken = db.session.execute(
            select(User.id).where(func.lower(User.email) == new.lower(), User.id != user.id)
        ).first()
        if taken is not None:
            user.pending_email = None
            db.session.commit()
            return _problem("taken")
        user.email, user.pending_email = new, None
        user.email_verified_at = utcnow()
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return _problem("taken")
        try:
            tenant_services().directory.replace(old, new)
        except Exception:
            log.exception(
                "Could not update the directory of tenant %s", tenant_services().tenant.id
            )
        flash(f"Your email is now {new}. Log in with it from now on.")
    else:
        if not user.email_verified:
            user.email_verified_at = utcnow()
            db.session.commit()
        flash(f"Thank you: {user.email} is confirmed.")
    target = "account.index" if current_user.is_authenticated else "auth.login"
    return redirect(url_for(target), code=303)


@bp.post("/account/verify/send")
@login_required
def resend() -> Response | tuple[str, int, dict[str, str]]:
    """Send the confirmation link again (throttled like password resets)."""
    user = current_user._get_current_object()
    if user.email_verified and not user.pending_email:
        flash("Your email is already confirmed.")
        return redirect(url_for("account.index"), code=303)
    if throttle.enabled():
        guard = throttle.login_guard()
        account = account_key(f"verify:{user.id}")
        refusal = guard.refusal(account, throttle.address(), known_device=False)
        if refusal is not None:
            return throttle.render_throttled(refusal)
        guard.failed(account, throttle.address())
    address = user.pending_email or user.email
    queue_verification(user.id, address)
    flash(f"A confirmation link is on its way to {address}.")
    return redirect(url_for("account.index"), code=303)
