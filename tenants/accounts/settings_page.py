"""Workspace settings (owners): the display name and accent colour, kept in the registry.

Saving moves the registry clock (through ``TenantServices.update_tenant``), so every
process rebuilds this tenant's app with the new values within a poll interval. The saver
reads their own write at once: the session remembers the new version, and a worker still
on an older one catches up first (``catch_up_with_own_writes``).
"""

from __future__ import annotations

import re
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

from tenants.accounts.access import owner_required
from tenants.accounts.forms import ExportForm, WorkspaceSettingsForm
from tenants.appkit.flask_app import tenant_services
from tenants.web.colors import readable_accent

bp = Blueprint("settings", __name__, url_prefix="/settings")

DEFAULT_ACCENT = "#4f46e5"
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")
#: Session key: the registry version of this tenant that the user's own last change made.
SEEN_VERSION = "seen_version"


def valid_accent(value: object) -> str:
    """The accent to put in the page's CSS: a ``#rrggbb`` colour, else the default.

    Checked again when an app is built: the registry can be written by other tools, and
    the value goes into a <style> element.
    """
    if isinstance(value, str) and _ACCENT.fullmatch(value):
        return value
    return DEFAULT_ACCENT


@bp.route("/", methods=["GET", "POST"])
@owner_required
def edit() -> Any:
    config = current_app.config
    form = WorkspaceSettingsForm(
        data={
            "display_name": config["TENANT_NAME"],
            "accent": config["TENANT_ACCENT"],
            "require_2fa": bool(config.get("TENANT_SETTINGS", {}).get("require_2fa")),
        }
    )
    if form.validate_on_submit() and form.require_2fa.data and not current_user.has_two_factor:
        form.require_2fa.errors.append(
            "Set up two-factor sign-in for yourself first (your Account page), "
            "so you keep your own way in."
        )
        return _page(form), 409
    if form.validate_on_submit():
        try:
            tenant = tenant_services().update_tenant(
                actor=current_user.email,
                display_name=form.display_name.data,
                settings={
                    "accent": form.accent.data.lower(),
                    "require_2fa": bool(form.require_2fa.data),
                },
            )
        except LookupError:
            abort(404, "This workspace no longer exists.")
        session[SEEN_VERSION] = tenant.version
        chosen = form.accent.data.lower()
        shade = readable_accent(chosen)
        if shade != chosen:
            flash(
                f"Workspace settings saved. {chosen} is too light to read as text on white: "
                f"buttons and links use {shade}, the nearest shade with 4.5:1 contrast."
            )
        else:
            flash("Workspace settings saved.")
        return redirect(url_for("settings.edit"))
    status = 422 if request.method == "POST" else 200
    return _page(form), status


def _page(form: WorkspaceSettingsForm) -> str:
    """The settings page with everything it shows besides the form."""
    return render_template(
        "accounts/settings.html", form=form, exports=_exports_view(), troubled=_troubled()
    )


def _exports_view() -> dict[str, Any] | None:
    """The owner's exports: being built, and ready with their expiring links (or None)."""
    services = tenant_services()
    if services.open_exports is None:
        return None
    return {"pending": services.exports.pending(), "ready": services.exports.ready()}


@bp.post("/export")
@owner_required
def export() -> Any:
    """Ask for a ZIP of all the workspace's data, built by a background job."""
    if not ExportForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    services = tenant_services()
    if services.open_exports is None:
        abort(404)
    services.exports.request(current_user.email)
    flash(
        "Your export is being prepared. Reload this page in a minute: a download link "
        "appears here when it is ready."
    )
    return redirect(url_for("settings.edit"))


def _troubled() -> list[Any]:
    """Custom domains whose DNS record is gone (failing, or disabled): the owner is told here."""
    services = tenant_services()
    if services.open_domains is None:
        return []
    return [view for view in services.domains.list() if view.status in ("failing", "disabled")]


def catch_up_with_own_writes() -> Any:
    """Read your own writes: after a settings change, never show the user the old app.

    Other processes see a change within a poll interval; the user who made it may hit
    one of them at once. If this app is older than what the user's session has seen,
    read the registry now and send the GET again, to the rebuilt app.
    """
    seen = session.get(SEEN_VERSION) if request.method == "GET" else None
    if not isinstance(seen, int) or seen <= current_app.config["TENANT_VERSION"]:
        return None
    tenant = tenant_services().current_tenant()
    if tenant is None or tenant.version <= current_app.config["TENANT_VERSION"]:
        return None
    path = request.full_path if request.query_string else request.path
    return redirect(request.script_root + path, code=307)
