"""Custom domains (owners): add one, see the DNS records to publish, check, choose the primary.

Everything is done by the platform through ``TenantServices.domains``; this page only
shows it. A refused domain (malformed, someone else's, the platform's own, a URL, over
the plan's limit) is shown beside the field with the page's status (422, or 409 when it
is taken), and nothing is saved. Choosing a custom domain as the primary address moves
the workspace there: the subdomain then redirects to it, and since sessions are
host-only, members sign in again on the new address.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from tenants.accounts.access import owner_required
from tenants.accounts.account import iso, when
from tenants.accounts.forms import DomainForm
from tenants.accounts.settings_page import SEEN_VERSION
from tenants.appkit.flask_app import tenant_services
from tenants.domains import DomainError

bp = Blueprint("domains", __name__, url_prefix="/settings/domains")


def _render(form: DomainForm, status: int = 200, *, error: str | None = None) -> tuple[str, int]:
    domains = tenant_services().domains
    views = domains.list()
    page = render_template(
        "accounts/domains.html",
        form=form,
        domains=views,
        limit=domains.limit,
        target=domains.target,
        primary=next((view for view in views if view.is_primary and view.routable), None),
        error=error,
        when=when,
        iso=iso,
    )
    return page, status


def _remember_own_write() -> None:
    """Routing may have changed: this user's next page must come from the rebuilt app."""
    tenant = tenant_services().current_tenant()
    if tenant is not None:
        session[SEEN_VERSION] = tenant.version


@bp.route("/", methods=["GET", "POST"])
@owner_required
def index() -> Any:
    form = DomainForm()
    if request.method == "GET":
        return _render(form)
    if not form.validate_on_submit():
        return _render(form, 422)
    try:
        view = tenant_services().domains.add(form.domain.data, actor=current_user.email)
    except DomainError as error:
        form.domain.errors = [error.message]
        return _render(form, error.status)
    flash(f"{view.display} added. Publish the TXT record below, then choose “Check now”.")
    return redirect(url_for("domains.index") + f"#domain-{view.id}")


@bp.route("/<int:domain_id>/check", methods=["POST"])
@owner_required
def check(domain_id: int) -> Any:
    try:
        view = tenant_services().domains.check(domain_id, actor=current_user.email)
    except DomainError as error:
        abort(error.status, error.message)
    _remember_own_write()
    if view.status == "verified":
        flash(f"{view.display} is verified.")
    else:
        flash(f"{view.display} is not verified yet: {view.last_error}")
    return redirect(url_for("domains.index") + f"#domain-{view.id}")


@bp.route("/<int:domain_id>/remove", methods=["POST"])
@owner_required
def remove(domain_id: int) -> Any:
    try:
        tenant_services().domains.remove(domain_id, actor=current_user.email)
    except DomainError as error:
        abort(error.status, error.message)
    _remember_own_write()
    flash("Domain removed.")
    return redirect(url_for("domains.index"))


@bp.route("/primary", methods=["POST"])
@owner_required
def primary() -> Any:
    raw = request.form.get("domain_id", "")
    domain_id: int | None = None
    if raw:
        if not raw.isdigit() or len(raw) > 12:
            abort(400, "Choose one of the listed addresses.")
        domain_id = int(raw)
    try:
        tenant_services().domains.set_primary(domain_id, actor=current_user.email)
    except DomainError as error:
        if error.status == 404:
            abort(404, error.message)
        return _render(DomainForm(formdata=None), error.status, error=error.message)
    _remember_own_write()
    flash("Primary address saved. Members sign in again on the new address.")
    return redirect(url_for("domains.index"))
