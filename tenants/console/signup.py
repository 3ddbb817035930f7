"""Signup at the root domain: a new tenant, its owner, and the hand-over into it, signed in.

The platform cannot set the tenant's host-only cookie, so the tenant app says how to
hand the new owner over (``TenantApp.sign_in``: a URL and form fields, typically a
signed single-use token). The answer is a page whose form POSTs those fields to the
tenant: a small script submits it at once, and its button works without JavaScript.
The token therefore never appears in a URL, so no access log records it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tenants.console.extensions import platform_of
from tenants.lifecycle import InvalidSignup, NewTenant, SlugTaken, provision_tenant

bp = Blueprint("signup", __name__)


class SignupForm(FlaskForm):
    # Only presence and a generous size here; lifecycle.validate_new_tenant says the rest.
    name = StringField(
        "Workspace name",
        validators=[DataRequired("Give the workspace a name."), Length(max=500)],
    )
    subdomain = StringField(
        "Subdomain",
        validators=[DataRequired("Choose a subdomain: it is required."), Length(max=500)],
    )
    email = EmailField(
        "Your email", validators=[DataRequired("Enter your email address."), Length(max=500)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Choose a password."), Length(max=500)]
    )


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    form = SignupForm()
    if not form.is_submitted():
        return render_template("console/signup.html", form=form)
    if not form.validate():
        return render_template("console/signup.html", form=form), 422
    platform = platform_of()
    request = NewTenant(
        slug=form.subdomain.data or "",
        display_name=form.name.data or "",
        owner_email=form.email.data or "",
        owner_password=form.password.data or "",
    )
    try:
        tenant = provision_tenant(platform, request, actor=f"signup:{request.owner_email.strip()}")
    except InvalidSignup as error:
        getattr(form, error.field).errors.append(str(error))
        return render_template("console/signup.html", form=form), 422
    except SlugTaken as error:
        form.subdomain.errors.append(str(error))
        return render_template("console/signup.html", form=form), 409
    record = platform.registry.get(tenant.slug)
    if record is None:  # not yet in this process's snapshot: read it now
        platform.registry.refresh(force=True)
        record = platform.registry.get(tenant.slug)
    handoff = platform.tenant_app.sign_in(platform.services_for(record), tenant.owner_id)
    page = render_template(
        "console/handoff.html",
        handoff=handoff,
        name=request.display_name.strip(),
        url=platform.settings.url_for_tenant(tenant.slug),
    )
    # Not cached anywhere: the page carries a one-time credential.
    return page, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
