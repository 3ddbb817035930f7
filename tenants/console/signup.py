"""Signup at the root domain: a new tenant, its owner, and the hand-over into it, signed in.

The platform cannot set the tenant's host-only cookie, so the tenant app says how to
hand the new owner over (``TenantApp.sign_in``: a URL and form fields, typically a
signed single-use token). The answer is a page whose form POSTs those fields to the
tenant: a small script submits it at once, and its button works without JavaScript.
The token therefore never appears in a URL, so no access log records it.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from flask import request as http_request
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import PasswordInput

from tenants.console.extensions import platform_of
from tenants.lifecycle import (
    InvalidSignup,
    NewTenant,
    SlugTaken,
    provision_tenant,
    validate_new_tenant,
)
from tenants.web.forms import SafeForm
from tenants.web.throttle import Counters, SignupGuard, SignupLimits, wait_phrase

bp = Blueprint("signup", __name__)
log = logging.getLogger(__name__)
#: ``app.extensions`` key of the console's signup throttle.
GUARD = "tenants.signup_guard"


def init_signup(app: Flask) -> None:
    """Signup pages, throttled per address and overall (``SIGNUP_LIMIT_*``)."""
    settings = platform_of(app).settings
    counters = Counters.at(settings.ratelimit_storage_url, str(settings.instance_path))
    limits = SignupLimits(settings.signup_limit_per_address, settings.signup_limit_total)
    app.extensions[GUARD] = SignupGuard(counters, limits)
    app.register_blueprint(bp)


def too_many_signups(message: str, retry_after: int) -> tuple[str, int, dict[str, str]]:
    page = render_template(
        "errors/error.html",
        code=429,
        title="Too many new workspaces",
        message=f"{message} Nothing was created. {wait_phrase(retry_after)}",
    )
    return page, 429, {"Retry-After": str(retry_after)}


class SignupForm(SafeForm):
    # Only presence and a generous size here; lifecycle.validate_new_tenant says the rest.
    name = StringField(
        "Workspace name",
        validators=[DataRequired("Give the workspace a name."), Length(max=500)],
    )
    subdomain = StringField(
        "Subdomain",
        validators=[DataRequired("Choose a subdomain: it is required."), Length(max=500)],
    )
    owner_name = StringField("Your name", validators=[Length(max=500)])
    email = EmailField(
        "Your email", validators=[DataRequired("Enter your email address."), Length(max=500)]
    )
    # The password is not cleared after a mistake elsewhere in the form (hide_value).
    password = PasswordField(
        "Password",
        widget=PasswordInput(hide_value=False),
        validators=[DataRequired("Choose a password."), Length(max=500)],
    )
    # Sent by the page's form (and then it must match, even empty); a client that posts
    # without the field at all (an API) is not asked for it.
    confirm = PasswordField("Password again", widget=PasswordInput(hide_value=False))

    def confirmation_differs(self) -> bool:
        return bool(self.confirm.raw_data) and self.confirm.data != self.password.data


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    form = SignupForm()
    if not form.is_submitted():
        return render_template("console/signup.html", form=form)
    valid = form.validate()
    if form.confirmation_differs():
        form.confirm.errors = [*form.confirm.errors, "The two passwords differ: type it again."]
        valid = False
    if not valid:
        return render_template("console/signup.html", form=form), 422
    platform = platform_of()
    request = NewTenant(
        slug=form.subdomain.data or "",
        display_name=form.name.data or "",
        owner_email=form.email.data or "",
        owner_password=form.password.data or "",
        owner_name=form.owner_name.data or "",
    )
    try:
        # Checked before the throttle: a mistyped form does not use up an allowance.
        validate_new_tenant(request)
    except InvalidSignup as error:
        getattr(form, error.field).errors.append(str(error))
        return render_template("console/signup.html", form=form), 422
    refusal = current_app.extensions[GUARD].admit(http_request.remote_addr or "unknown")
    if refusal is not None:  # answered before any hashing, row, file or schema
        return too_many_signups(refusal.message, refusal.retry_after)
    try:
        tenant = provision_tenant(platform, request, actor=f"signup:{request.owner_email.strip()}")
    except SlugTaken as error:
        form.subdomain.errors.append(str(error))
        return render_template("console/signup.html", form=form), 409
    record = platform.registry.get(tenant.slug)
    if record is None:  # not yet in this process's snapshot: read it now
        platform.registry.refresh(force=True)
        record = platform.registry.get(tenant.slug)
    services = platform.services_for(record)
    try:
        if platform.tenant_app.after_signup is not None:
            try:
                platform.tenant_app.after_signup(services, tenant.owner_id)
            except Exception:  # e.g. the job queue is down: the workspace exists all the same
                log.exception("after_signup of tenant %s failed", tenant.slug)
        handoff = platform.tenant_app.sign_in(services, tenant.owner_id)
    finally:
        services.close()  # the storage engine after_signup may have opened
    page = render_template(
        "console/handoff.html",
        handoff=handoff,
        name=request.display_name.strip(),
        url=platform.settings.url_for_tenant(tenant.slug),
    )
    # Not cached anywhere: the page carries a one-time credential.
    return page, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
