"""At the root domain: "find my workspaces" by email, and platform admins' password reset.

Both answer the same whatever the address (no enumeration, no timing difference): the
page only queues a platform job (``tenants/jobs/mail.py``) with the address, and the
worker looks it up. Both are throttled per address and per email address with the
login policy's counters (``tenants.web.throttle.LoginGuard``), under keys of their own.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import delete
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from tenants.console.admin_auth import GUARD, render_refusal
from tenants.console.extensions import platform_of, registry_db
from tenants.jobs.mail import ADMIN_RESET, admin_password_reset, find_workspaces
from tenants.keys import derive_console_secret
from tenants.registry import service
from tenants.registry.models import AdminSession, PlatformAdmin
from tenants.validation import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    password_problem,
    valid_email,
)
from tenants.web.forms import SafeForm
from tenants.web.links import PlatformLinkError, fingerprint, read_link
from tenants.web.throttle import LoginGuard, account_key

bp = Blueprint("recovery", __name__)


class EmailForm(SafeForm):
    email = EmailField(
        "Your email", validators=[DataRequired("Enter your email address."), Length(max=254)]
    )

    def validate_email(self, field: EmailField) -> None:
        if not valid_email((field.data or "").strip()):
            raise ValidationError("Enter an email address like you@example.com.")


class NewAdminPasswordForm(SafeForm):
    password = PasswordField(
        "New password",
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=f"Use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            ),
        ],
    )
    confirm_password = PasswordField(
        "Repeat the password",
        validators=[
            DataRequired("Repeat the password."),
            EqualTo("password", message="The two passwords differ; type them again."),
        ],
    )


def _count_request(kind: str, email: str) -> Any:
    """Refuse (429) past the limits, else count this request; None when it may go on."""
    guard: LoginGuard = current_app.extensions[GUARD]
    account = account_key(f"{kind}:{email}")
    address = request.remote_addr or "unknown"
    refusal = guard.refusal(account, address, known_device=False)
    if refusal is not None:
        return render_refusal(refusal)
    guard.failed(account, address)
    return None


@bp.route("/find-workspaces", methods=["GET", "POST"])
def find() -> Any:
    """Log in from the root domain: mail me the workspaces my address belongs to."""
    form = EmailForm()
    if not form.is_submitted():
        return render_template("console/find.html", form=form)
    if not form.validate():
        return render_template("console/find.html", form=form), 422
    email = (form.email.data or "").strip().lower()
    refused = _count_request("finder", email)
    if refused is not None:
        return refused
    find_workspaces.enqueue(platform=platform_of(), email=email)
    return render_template("console/find_sent.html", email=email)


@bp.route("/admin/forgot", methods=["GET", "POST"])
def admin_forgot() -> Any:
    form = EmailForm()
    if not form.is_submitted():
        return render_template("admin/forgot.html", form=form)
    if not form.validate():
        return render_template("admin/forgot.html", form=form), 422
    email = (form.email.data or "").strip().lower()
    refused = _count_request("admin-reset", email)
    if refused is not None:
        return refused
    admin_password_reset.enqueue(platform=platform_of(), email=email)
    minutes = platform_of().settings.password_reset_minutes
    flash(
        f"If {email} is a platform admin, a link to choose a new password is on its way. "
        f"It works once, for {minutes} minutes."
    )
    return redirect(url_for("admin_auth.login"), code=303)


def _problem(kind: str) -> tuple[str, int]:
    titles = {
        "invalid": (400, "This reset link is not valid", "Copy the whole link from the email."),
        "expired": (410, "This reset link has expired", "Ask for a new one on the login page."),
        "used": (410, "This reset link was already used", "The password changed since."),
    }
    status, title, message = titles[kind]
    page = render_template("errors/error.html", code=status, title=title, message=message)
    return page, status


@bp.route("/admin/reset/<token>", methods=["GET", "POST"])
def admin_reset(token: str) -> Any:
    guard: LoginGuard = current_app.extensions[GUARD]
    address = request.remote_addr or "unknown"
    refusal = guard.refusal("mailed-link", address, known_device=False)
    if refusal is not None:
        return render_refusal(refusal)
    settings = platform_of().settings
    try:
        claims = read_link(
            derive_console_secret(settings.secret_key),
            ADMIN_RESET,
            token,
            max_age=settings.password_reset_minutes * 60,
        )
    except PlatformLinkError as error:
        guard.failed("mailed-link", address)
        return _problem(error.kind)
    admin_id = claims.get("admin")
    admin = registry_db.session.get(PlatformAdmin, admin_id) if isinstance(admin_id, int) else None
    if admin is None or claims.get("fp") != fingerprint(admin.password_hash):
        registry_db.session.close()
        guard.failed("mailed-link", address)
        return _problem("invalid" if admin is None else "used")
    form = NewAdminPasswordForm()
    valid = form.validate_on_submit()
    if valid:
        # Length is the form's; common passwords and the address itself are refused too.
        problem = password_problem(form.password.data or "", email=admin.email)
        if problem is not None:
            form.password.errors.append(problem)
            valid = False
    if valid:
        admin.password_hash = settings.hash_password(form.password.data or "")
        registry_db.session.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id))
        service.audit(registry_db.session, admin.email, "admin.password_reset", email=admin.email)
        registry_db.session.commit()
        registry_db.session.close()
        flash("Your admin password is changed and every admin session of yours ended. Log in.")
        return redirect(url_for("admin_auth.login"), code=303)
    email = admin.email
    registry_db.session.close()
    status = 422 if request.method == "POST" else 200
    page = render_template("admin/reset.html", form=form, email=email)
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
