"""Workspace settings (owners): the display name and accent colour, kept in the registry.

Saving moves the registry clock, so every process rebuilds this tenant's app with the
new values within a poll interval. The saver reads their own write at once: the session
remembers the new version, and a worker still on an older one catches up first
(see ``hooks.catch_up_with_own_writes``).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from tenants.lifecycle import TenantNotFound, update_tenant
from tenants.workspace.access import owner_required
from tenants.workspace.forms import WorkspaceSettingsForm
from tenants.workspace.hooks import SEEN_VERSION

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/", methods=["GET", "POST"])
@owner_required
def edit() -> Any:
    config = current_app.config
    form = WorkspaceSettingsForm(
        data={"display_name": config["TENANT_NAME"], "accent": config["TENANT_ACCENT"]}
    )
    if form.validate_on_submit():
        try:
            tenant = update_tenant(
                current_app.extensions["tenants_platform"],
                config["TENANT_SLUG"],
                actor=current_user.email,
                display_name=form.display_name.data,
                settings={"accent": form.accent.data.lower()},
            )
        except TenantNotFound:
            abort(404, "This workspace no longer exists.")
        session[SEEN_VERSION] = tenant.version
        flash("Workspace settings saved.")
        return redirect(url_for("settings.edit"))
    status = 422 if request.method == "POST" else 200
    return render_template("workspace/settings.html", form=form), status
