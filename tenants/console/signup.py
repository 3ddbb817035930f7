"""Signup at the root domain: a new tenant, its owner, and a redirect into it, logged in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tenants.lifecycle import InvalidSignup, NewTenant, SlugTaken, provision_tenant
from tenants.tokens import make_login_token
from tenants.workspace.factory import derive_tenant_secret

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
    platform = current_app.extensions["tenants_platform"]
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
    settings = platform.settings
    token = make_login_token(
        derive_tenant_secret(settings.secret_key, tenant.id), tenant.id, tenant.owner_id
    )
    return redirect(settings.url_for_tenant(tenant.slug, f"/login/token/{token}"), code=303)
