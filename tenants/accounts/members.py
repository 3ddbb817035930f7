"""Members: everyone sees who is in the workspace; owners add, remove and set roles.

A workspace always keeps at least one owner. The owner rows are locked (PostgreSQL
``FOR UPDATE``; SQLite transactions already take the write lock first) before that
is checked, so two owners demoting each other at once cannot leave none.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tenants.accounts.access import owner_required
from tenants.accounts.extensions import db
from tenants.accounts.forms import MemberForm, RoleForm
from tenants.accounts.invitations import is_expired, pending_invitations
from tenants.accounts.models import Role, User
from tenants.appkit.flask_app import tenant_services

bp = Blueprint("members", __name__, url_prefix="/members")
log = logging.getLogger(__name__)

DUPLICATE_EMAIL = "A member with this email already exists in this workspace."


def _directory(change: str, email: str) -> None:
    """Keep the platform's member directory current (after the member change committed)."""
    services = tenant_services()
    try:
        getattr(services.directory, change)(email)
    except Exception:  # the platform database: `tenants directory-rebuild` repairs it
        log.exception(
            "Could not %s a member in the directory of tenant %s", change, services.tenant.id
        )


def with_article(role: str) -> str:
    """ "an owner", "a member": the role as a sentence says it."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def _role_form(member: User) -> RoleForm:
    form = RoleForm(prefix=f"m{member.id}", data={"role": member.role}, formdata=None)
    form.role.label.text = f"Role of {member.name or member.email}"
    return form


def render_members(
    status: int = 200, *, error: str | None = None, failed: tuple[int, RoleForm] | None = None
) -> tuple[str, int]:
    """The members page; ``failed`` is a member's role form to show with its errors."""
    members = db.session.execute(select(User).order_by(User.created_at, User.id)).scalars().all()
    role_forms: dict[int, RoleForm] = {}
    if current_user.is_owner:
        role_forms = {member.id: _role_form(member) for member in members}
        if failed is not None and failed[0] in role_forms:
            member_id, form = failed
            form.role.label.text = role_forms[member_id].role.label.text
            role_forms[member_id] = form
    page = render_template(
        "accounts/members.html",
        members=members,
        role_forms=role_forms,
        error=error,
        invitations=pending_invitations() if current_user.is_owner else [],
        is_expired=is_expired,
    )
    return page, status


def _locked_owner_ids() -> list[int]:
    statement = select(User.id).where(User.role == Role.OWNER).with_for_update()
    return list(db.session.execute(statement).scalars())


def email_taken(email: str) -> bool:
    statement = select(User.id).where(func.lower(User.email) == email.lower())
    return db.session.execute(statement).first() is not None


@bp.get("/")
@login_required
def index() -> tuple[str, int]:
    return render_members()


@bp.route("/create", methods=["GET", "POST"])
@owner_required
def create() -> Any:
    """Create an account with a password the owner chooses, for someone without email.

    Invitations are the way to add people (``invitations.new``): the member chooses the
    password and proves the address. This stays, one link away from the invitation form,
    for the deliberate case of a person with no mailbox (a shared shop-floor account): the
    owner then knows the password and tells it in person; the account is not verified.
    No mail is sent, so an owner need not have verified their own address for this.
    """
    form = MemberForm()
    status = 200
    if form.validate_on_submit():
        if email_taken(form.email.data):
            form.email.errors.append(DUPLICATE_EMAIL)
            status = 409
        else:
            member = User(
                email=form.email.data,
                name=form.name.data or "",
                password_hash=tenant_services().hash_password(form.password.data),
                role=form.role.data,
            )
            db.session.add(member)
            try:
                db.session.commit()
            except IntegrityError:  # added by someone else since the check
                db.session.rollback()
                form.email.errors.append(DUPLICATE_EMAIL)
                status = 409
            else:
                _directory("add", member.email)
                flash(f"{member.email} is now {with_article(member.role)} of this workspace.")
                return redirect(url_for("members.index"))
    elif request.method == "POST":
        status = 422
    return render_template("accounts/member_form.html", form=form), status


@bp.post("/<int:member_id>/role")
@owner_required
def change_role(member_id: int) -> Any:
    owners = _locked_owner_ids()
    member = db.get_or_404(User, member_id, description="There is no such member.")
    form = RoleForm(prefix=f"m{member.id}")
    if not form.validate_on_submit():
        return render_members(422, failed=(member.id, form))
    role = form.role.data
    if role == member.role:
        flash(f"{member.email} already is {with_article(role)}.")
        return redirect(url_for("members.index"))
    if owners == [member.id]:
        return render_members(
            409,
            error=f"{member.email} is the only owner. Make another member an owner first.",
        )
    member.role = role
    db.session.commit()
    flash(f"{member.email} is now {with_article(role)}.")
    return redirect(url_for("members.index"))


@bp.route("/<int:member_id>/remove", methods=["GET", "POST"])
@owner_required
def remove(member_id: int) -> Any:
    """GET: the confirmation step (works without JavaScript); POST: remove the member."""
    if request.method == "GET":
        member = db.get_or_404(User, member_id, description="There is no such member.")
        return render_template("accounts/member_remove.html", member=member)
    owners = _locked_owner_ids()
    member = db.get_or_404(User, member_id, description="There is no such member.")
    if member.id == current_user.id:
        return render_members(
            409, error="You cannot remove yourself. Another owner can remove you."
        )
    if owners == [member.id]:
        return render_members(409, error=f"{member.email} is the only owner; it stays.")
    email = member.email
    db.session.delete(member)
    db.session.commit()
    _directory("remove", email)
    flash(f"{email} was removed from this workspace.")
    return redirect(url_for("members.index"))
