"""The platform's public pages: the landing page, and "Log in" to one's workspace.

A person logs in to a workspace, not to the platform: the front page's Log in asks for
the workspace's subdomain and sends them to that workspace's own login page. (Finding
one's workspaces by email comes with the accounts work.)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from tenants.console.extensions import platform_of
from tenants.registry.slugs import InvalidSlug, canonical_slug, validate_slug
from tenants.web.forms import SafeForm

bp = Blueprint("console", __name__)


class FindWorkspaceForm(SafeForm):
    """A GET form (it changes nothing), so no CSRF token."""

    class Meta:
        csrf = False

    workspace = StringField(
        "Your workspace's subdomain",
        validators=[DataRequired("Type your workspace's subdomain."), Length(max=63)],
    )


@bp.get("/")
def landing() -> str:
    return render_template("console/landing.html", form=FindWorkspaceForm(formdata=None))


@bp.get("/login")
def login() -> Any:
    """Ask for the subdomain; send the person to that workspace's login page."""
    form = FindWorkspaceForm(formdata=request.args if request.args else None)
    if not request.args:
        return render_template("console/login.html", form=form)
    if not form.validate():
        return render_template("console/login.html", form=form), 422
    slug = canonical_slug(form.workspace.data or "")
    # Accept what people paste: "acme.example.com" or "https://acme.example.com/".
    settings = platform_of().settings
    for prefix in ("https://", "http://"):
        slug = slug.removeprefix(prefix)
    parts = [part for part in slug.split("/") if part]
    host = parts[0].split(":")[0] if parts else ""
    if host == settings.base_domain and len(parts) > 1:  # path mode: example.com/acme/
        slug = parts[1]
    else:
        slug = host.removesuffix("." + settings.base_domain)
    try:
        slug = validate_slug(slug)
    except InvalidSlug:
        form.workspace.errors = [
            "A subdomain has letters a-z, digits and hyphens, like “acme”: check what you typed."
        ]
        return render_template("console/login.html", form=form), 422
    tenant = platform_of().registry.get(slug)
    if tenant is None or not (tenant.is_active or tenant.is_suspended):
        form.workspace.errors = [f"There is no workspace “{slug}”. Check the spelling."]
        return render_template("console/login.html", form=form, unknown=True), 404
    return redirect(settings.url_for_tenant(tenant.slug, "/login"), code=303)
