"""Invitations: an owner invites an email with a role; the invitee sets a name and password.

The link is signed with the workspace's own key and names the workspace, the invitation
row and its current ``nonce``: it works in this workspace only, once (accepting ends the
invitation), until ``INVITATION_DAYS`` after it was sent, and only if it is the latest
link of that invitation (resending draws a new nonce). Owners see the pending ones on
the Members page, resend and revoke them. An owner whose own address is not verified
cannot invite (a typo'd or stolen signup must not become a spam relay).

Every bad link (forged, expired, used, revoked, replaced) gets a page that says which,
and counts against the address's login throttle, like a wrong password.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from tenants.accounts import mailer, throttle
from tenants.accounts.access import owner_required
from tenants.accounts.auth import home_url
from tenants.accounts.extensions import db
from tenants.accounts.forms import AcceptInvitationForm, InviteForm
from tenants.accounts.models import PENDING_EMAIL_INDEX, Invitation, Role, User, utcnow
from tenants.accounts.sessions import start_session
from tenants.accounts.tokens import LinkError, make_link_token, read_link_token
from tenants.appkit.flask_app import tenant_services

bp = Blueprint("invitations", __name__)
log = logging.getLogger(__name__)

PURPOSE = "invite"
#: The page of each way a link can be unusable: (status, title, message).
PROBLEMS = {
    "invalid": (
        400,
        "This invitation link is not valid",
        "It may be incomplete (copy the whole link from the email) or for another "
        "workspace. Ask an owner of this workspace to invite you again.",
    ),
    "expired": (
        410,
        "This invitation has expired",
        "Invitations work for a limited time. Ask the owner who invited you to resend it.",
    ),
    "replaced": (
        410,
        "This invitation link was replaced",
        "A newer invitation was sent to the same address: use the link of the latest email.",
    ),
    "revoked": (
        410,
        "This invitation was withdrawn",
        "An owner of this workspace revoked it. Ask them if you should still join.",
    ),
    "used": (
        410,
        "This invitation was already accepted",
        "Log in with the email and password chosen when it was accepted.",
    ),
    "reset-invalid": (
        400,
        "This password reset link is not valid",
        "It may be incomplete (copy the whole link from the email) or for another "
        "workspace. Ask for a new one on the login page (Forgot password?).",
    ),
    "reset-expired": (
        410,
        "This password reset link has expired",
        "Reset links work for a short time. Ask for a new one on the login page.",
    ),
    "reset-used": (
        410,
        "This password reset link was already used",
        "The password changed since the link was sent. Log in, or ask for a new link.",
    ),
    "member": (
        409,
        "You are already a member",
        "This address already has an account in this workspace: log in with it.",
    ),
}


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def is_expired(invitation: Invitation) -> bool:
    return _as_utc(invitation.expires_at) <= utcnow()


def pending_invitations() -> list[Invitation]:
    """Invitations neither accepted nor revoked (expired ones too: owners resend them)."""
    statement = (
        select(Invitation)
        .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
    return list(db.session.execute(statement).scalars())


def _pending_for(email: str) -> Invitation | None:
    statement = select(Invitation).where(
        func.lower(Invitation.email) == email.lower(),
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
    )
    return db.session.execute(statement).scalars().first()


def _member_exists(email: str) -> bool:
    statement = select(User.id).where(func.lower(User.email) == email.lower())
    return db.session.execute(statement).first() is not None


def invitation_token(invitation: Invitation) -> str:
    return make_link_token(
        current_app.config["SECRET_KEY"],
        PURPOSE,
        current_app.config["TENANT_ID"],
        id=invitation.id,
        nonce=invitation.nonce,
    )


def _renew(invitation: Invitation) -> None:
    """A fresh link: a new nonce (older links stop working) and a new expiry."""
    invitation.nonce = secrets.token_hex(16)
    invitation.sent_at = utcnow()
    invitation.expires_at = utcnow() + timedelta(days=tenant_services().invitation_days)


def _send(invitation: Invitation) -> None:
    workspace = current_app.config["TENANT_NAME"]
    inviter = current_user.display_name
    role = "an owner" if invitation.role == Role.OWNER else "a member"
    until = _as_utc(invitation.expires_at).strftime("%d %B %Y")
    mailer.send(
        invitation.email,
        f"{inviter} invited you to {workspace}",
        [
            f"{inviter} invited you to join {workspace} as {role}.",
            f"Open the link to choose your name and password. It works once, until {until}.",
        ],
        action=(f"Join {workspace}", mailer.link(f"/invitations/{invitation_token(invitation)}")),
        footer=f"If you did not expect this invitation, ignore this email: "
        f"nothing happens unless you open the link. Sent by {workspace}.",
    )


def _already_invited(email: str) -> str:
    return f"{email} was already invited; resend or revoke that invitation on Members."


def must_verify_first() -> tuple[str, int] | None:
    if current_user.email_verified:
        return None
    page = render_template(
        "errors/error.html",
        code=403,
        title="Verify your email first",
        message="Before you invite others, confirm your own address: open the link we sent "
        f"to {current_user.email} (the banner at the top of each page sends a new one).",
    )
    return page, 403


@bp.route("/members/new", methods=["GET", "POST"])
@owner_required
def new() -> Any:
    """Invite an email with a role."""
    unverified = must_verify_first()
    if unverified is not None:
        return unverified
    form = InviteForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data
        pending = _pending_for(email)
        if _member_exists(email):
            form.email.errors.append(f"{email} is already a member of this workspace.")
            status = 409
        elif pending is not None and not is_expired(pending):
            form.email.errors.append(_already_invited(email))
            status = 409
        else:
            invitation = pending or Invitation(email=email, invited_by_id=current_user.id)
            invitation.role = form.role.data
            invitation.invited_by_id = current_user.id
            _renew(invitation)
            db.session.add(invitation)
            try:
                db.session.commit()
            except IntegrityError as error:
                # Another request invited the address between the check and this insert:
                # the unique index on pending invitations refused the second one.
                db.session.rollback()
                if PENDING_EMAIL_INDEX not in str(error.orig):
                    raise
                form.email.errors.append(_already_invited(email))
                status = 409
            else:
                _send(invitation)
                flash(
                    f"An invitation to {email} is on its way. "
                    f"Its link works for {tenant_services().invitation_days} days."
                )
                return redirect(url_for("members.index"), code=303)
    elif request.method == "POST":
        status = 422
    page = render_template(
        "accounts/invite.html", form=form, invitation_days=tenant_services().invitation_days
    )
    return page, status


def _owned_invitation(invitation_id: int) -> Invitation:
    invitation = db.get_or_404(
        Invitation, invitation_id, description="There is no such invitation."
    )
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        # Already over: nothing to resend or revoke.
        abort(409, "That invitation is no longer pending: the Members page shows the others.")
    return invitation


@bp.post("/members/invitations/<int:invitation_id>/resend")
@owner_required
def resend(invitation_id: int) -> Any:
    unverified = must_verify_first()
    if unverified is not None:
        return unverified
    invitation = _owned_invitation(invitation_id)
    _renew(invitation)
    db.session.commit()
    _send(invitation)
    flash(
        f"A new invitation to {invitation.email} is on its way; the earlier link no longer works."
    )
    return redirect(url_for("members.index"), code=303)


@bp.post("/members/invitations/<int:invitation_id>/revoke")
@owner_required
def revoke(invitation_id: int) -> Response:
    invitation = _owned_invitation(invitation_id)
    invitation.revoked_at = utcnow()
    db.session.commit()
    flash(f"The invitation to {invitation.email} is revoked; its link no longer works.")
    return redirect(url_for("members.index"), code=303)


def problem_page(kind: str) -> tuple[str, int, dict[str, str]]:
    status, title, message = PROBLEMS[kind]
    page = render_template("accounts/link_problem.html", title=title, message=message)
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _resolve(token: str) -> tuple[Invitation | None, str | None]:
    """The invitation a link opens, or why it opens none."""
    max_age = tenant_services().invitation_days * 86400
    try:
        claims = read_link_token(
            current_app.config["SECRET_KEY"],
            PURPOSE,
            current_app.config["TENANT_ID"],
            token,
            max_age=max_age,
        )
    except LinkError as error:
        return None, error.kind
    invitation_id = claims.get("id")
    invitation = (
        db.session.get(Invitation, invitation_id) if isinstance(invitation_id, int) else None
    )
    if invitation is None:
        return None, "invalid"
    if invitation.accepted_at is not None:
        return None, "used"
    if invitation.revoked_at is not None:
        return None, "revoked"
    if not secrets.compare_digest(str(claims.get("nonce", "")), invitation.nonce):
        return None, "replaced"
    if is_expired(invitation):
        return None, "expired"
    if _member_exists(invitation.email):
        return None, "member"
    return invitation, None


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@throttle.guard_links
def accept(token: str) -> Any:
    invitation, problem = _resolve(token)
    if invitation is None:
        throttle.link_failed()
        return problem_page(problem or "invalid")
    form = AcceptInvitationForm()
    status = 200
    if form.validate_for(invitation.email):
        services = tenant_services()
        user = User(
            email=invitation.email,
            name=form.name.data,
            password_hash=services.hash_password(form.password.data),
            role=invitation.role,
            # The link reached this mailbox: the address is proven.
            email_verified_at=utcnow(),
        )
        invitation.accepted_at = utcnow()
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:  # the same address joined meanwhile (another invitation)
            db.session.rollback()
            return problem_page("member")
        try:
            services.directory.add(user.email)
        except Exception:  # the platform database: repaired by directory-rebuild
            log.exception(
                "Could not add a member to the directory of tenant %s", services.tenant.id
            )
        start_session(user)
        flash(f"Welcome to {current_app.config['TENANT_NAME']}, {user.display_name}.")
        return redirect(home_url(), code=303)
    if request.method == "POST":
        status = 422
    page = render_template("accounts/accept_invitation.html", form=form, invitation=invitation)
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
