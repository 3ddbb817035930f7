"""The admin console at ``/admin/``: find tenants, look at one, suspend, resume, re-plan, delete.

Every change goes through ``tenants.lifecycle`` with the admin's email as the actor, so
it moves the registry clock (every process sees it within a poll) and lands in the
audit log shown on the tenant's page.

The list pages by keyset, newest first: a page is "the 50 tenants below id N" (or above,
going back), which an index walks to directly however deep the page, where OFFSET would
count past every row before it. The status filter is served by ``(status, id)``; the
search is a substring match on slug and name, served on PostgreSQL by ``pg_trgm`` GIN
indexes (SQLite scans, stopping at the first page of matches). The count shown is capped
(:data:`COUNT_CAP`): an exact count of a million rows costs more than the page itself; a
list that fits on one page is counted from the page, without a second query.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from tenants import lifecycle, moves
from tenants.console import admin_account, admin_admins
from tenants.console.admin_auth import end_current_admin_session, init_admin_auth
from tenants.console.admin_forms import (
    ALL,
    LIVE,
    DeleteForm,
    PlanForm,
    PurgeForm,
    SuspendForm,
    TenantSearchForm,
)
from tenants.console.admin_twofactor import init_admin_twofactor
from tenants.console.extensions import platform_of, registry_db
from tenants.plans import UnknownPlan
from tenants.registry.models import LIVE_STATUSES, AuditEntry, Tenant

if TYPE_CHECKING:
    from tenants.kernel import Platform

log = logging.getLogger(__name__)

PER_PAGE = 50
#: The list counts matches up to this many, then says "more than".
COUNT_CAP = 1_000
#: The largest id a page cursor may name (a 64-bit key).
MAX_CURSOR = 2**63 - 1
#: The newest audit entries shown on a tenant's page.
AUDIT_ENTRIES_SHOWN = 200
_LIVE = tuple(str(status) for status in LIVE_STATUSES)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_admin(app: Flask) -> None:
    """Add the admin console (log-in, throttle, pages) to the platform's console ``app``."""
    init_admin_auth(app)
    init_admin_twofactor(app)
    app.register_blueprint(bp)
    app.register_blueprint(admin_account.bp)
    app.register_blueprint(admin_admins.bp)


@bp.before_request
@login_required
def _admins_only() -> None:
    """Every page and action of this blueprint refuses anyone but a logged-in admin."""
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _platform() -> Platform:
    return platform_of()


# -- the tenants list -----------------------------------------------------------------


@bp.get("/")
def tenants() -> Any:
    form = TenantSearchForm(formdata=request.args)
    if not form.validate():
        problems = "; ".join(
            f"{form[name].label.text}: {' '.join(e)}" for name, e in form.errors.items()
        )
        abort(400, description=f"The search cannot be run ({problems}). Change it and try again.")
    before, after = _cursor("before"), _cursor("after")
    if before is not None and after is not None:
        abort(400, description="Give either before or after, not both; go back to the first page.")
    query = tenants_query(form.q.data or "", form.status.data or LIVE)
    page = tenants_page(query, before=before, after=after)
    if before is None and after is None and page.older is None:
        total = len(page.items)  # it all fits on this page: no second query
    else:
        total = registry_db.session.execute(
            select(func.count()).select_from(query.limit(COUNT_CAP + 1).order_by(None).subquery())
        ).scalar_one()
    done_reading()
    return render_template(
        "admin/tenants.html",
        form=form,
        page=page,
        total=min(total, COUNT_CAP),
        more_than_total=total > COUNT_CAP,
        filters={"q": form.q.data or None, "status": form.status.data or LIVE},
        url_for_tenant=_platform().settings.url_for_tenant,
        live_statuses=_LIVE,
    )


def _cursor(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_CURSOR):
        abort(
            400,
            description=(
                f"“{name}” is a tenant id (a whole number from 1); go back to the first page."
            ),
        )
    return int(raw)


@dataclass(frozen=True)
class TenantsPage:
    """One page of the list, newest first, and the cursors of its neighbours (None: none)."""

    items: list[Tenant]
    #: ``after=`` for the newer page, ``before=`` for the older one.
    newer: int | None
    older: int | None


def tenants_page(
    query: Select[tuple[Tenant]], *, before: int | None = None, after: int | None = None
) -> TenantsPage:
    """The page of ``query`` below id ``before`` (or above ``after``), by keyset."""
    if after is not None:
        rows = list(
            registry_db.session.execute(
                query.where(Tenant.id > after)
                .order_by(None)
                .order_by(Tenant.id.asc())
                .limit(PER_PAGE + 1)
            ).scalars()
        )
        has_newer = len(rows) > PER_PAGE
        items = list(reversed(rows[:PER_PAGE]))
        return TenantsPage(
            items, items[0].id if has_newer else None, items[-1].id if items else None
        )
    if before is not None:
        query = query.where(Tenant.id < before)
    rows = list(registry_db.session.execute(query.limit(PER_PAGE + 1)).scalars())
    items = rows[:PER_PAGE]
    newer = items[0].id if before is not None and items else None
    older = items[-1].id if len(rows) > PER_PAGE else None
    return TenantsPage(items, newer, older)


def tenants_query(search: str, status: str) -> Select[tuple[Tenant]]:
    """Tenants whose slug or name contains ``search`` (any case), in ``status``, newest first."""
    query = select(Tenant)
    if status == LIVE:  # deleted tenants in their grace period: under "Deleted"
        query = query.where(Tenant.status.in_(_LIVE))
    elif status != ALL:
        query = query.where(Tenant.status == status)
    search = search.strip()
    if search:
        query = query.where(
            or_(
                Tenant.slug.icontains(search, autoescape=True),
                Tenant.display_name.icontains(search, autoescape=True),
            )
        )
    return query.order_by(Tenant.id.desc())


# -- one tenant -----------------------------------------------------------------------


@bp.get("/tenants/<int:tenant_id>")
def tenant(tenant_id: int) -> Any:
    return _tenant_page(_get_tenant(tenant_id))


def _get_tenant(tenant_id: int) -> Tenant:
    tenant = registry_db.get_or_404(
        Tenant,
        tenant_id,
        description=f"There is no tenant with id {tenant_id}; the tenants list shows them all.",
    )
    done_reading()
    return tenant


def done_reading() -> None:
    """End the registry transaction; what was loaded stays readable.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so a view must
    not hold one while ``lifecycle`` writes through its own connection, nor while it renders.
    """
    registry_db.session.close()


def _tenant_page(
    row: Tenant,
    *,
    status: int = 200,
    error: str | None = None,
    plan_form: PlanForm | None = None,
    delete_form: DeleteForm | None = None,
    purge_form: PurgeForm | None = None,
) -> tuple[str, int]:
    platform = _platform()
    audit = (
        registry_db.session.execute(
            select(AuditEntry)
            .where(AuditEntry.tenant_id == row.id)
            .order_by(AuditEntry.id.desc())
            .limit(AUDIT_ENTRIES_SHOWN)
        )
        .scalars()
        .all()
    )
    done_reading()
    if plan_form is None:
        plan_form = PlanForm.showing(row.plan)
    return (
        render_template(
            "admin/tenant.html",
            tenant=row,
            is_live=row.status in _LIVE,
            url=platform.tenant_url(row),
            domains=platform.domains.list(row.id),
            storage_location=platform.storage.location(row.id),
            facts=describe(platform, row),
            audit=audit,
            plan_form=plan_form,
            delete_form=delete_form or DeleteForm(formdata=None),
            purge_form=purge_form or PurgeForm(formdata=None),
            grace_days=platform.settings.tenant_delete_grace_days,
            move_targets=[
                name for name in getattr(platform.storage, "databases", {}) if name != row.database
            ],
            describe_change=describe_change,
            error=error,
        ),
        status,
    )


def describe(platform: Platform, row: Tenant) -> dict[str, object] | None:
    """What the tenant app says about the tenant (``TenantApp.describe``), or None.

    None when the tenant has no readable storage; a failure to read it is logged and
    shown as unreadable rather than breaking the admin's page.
    """
    try:
        facts = platform.describe_tenant(row)
    except SQLAlchemyError:
        log.exception("Could not describe the storage of tenant %s", row.id)
        return None
    return None if facts is None else dict(facts)


# -- actions --------------------------------------------------------------------------


def _live_tenant(tenant_id: int) -> Tenant | tuple[str, int]:
    """The tenant if it is live; otherwise its page with a 409 saying why nothing changed."""
    row = _get_tenant(tenant_id)
    if row.status not in _LIVE:
        return _tenant_page(
            row,
            status=409,
            error=f"Tenant “{row.slug}” is {row.status}; it can no longer be changed.",
        )
    return row


def describe_change(detail: dict[str, Any] | None) -> str:
    """An audit entry's detail as people read it: ``settings: accent #c2410c``, not a dict."""
    parts = []
    for key, value in (detail or {}).items():
        label = key.replace("_", " ")
        if isinstance(value, dict):
            inner = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items())
            parts.append(f"{label}: {inner}")
        elif isinstance(value, list | tuple):
            parts.append(f"{label}: {', '.join(str(item) for item in value)}")
        else:
            parts.append(f"{label}: {value}")
    return "; ".join(parts)


def _back_to(row: Tenant) -> Response:
    return redirect(url_for("admin.tenant", tenant_id=row.id), code=303)


@bp.route("/tenants/<int:tenant_id>/suspend", methods=["GET", "POST"])
def suspend(tenant_id: int) -> Any:
    """GET: the confirmation step (with the reason members will see); POST: suspend."""
    row = _live_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    form = SuspendForm()
    if request.method == "GET" or not form.validate():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/suspend.html", tenant=row, form=form), status
    reason = form.reason.data or None
    return _change_status(
        tenant_id, functools.partial(lifecycle.suspend_tenant, reason=reason), "suspended"
    )


@bp.post("/tenants/<int:tenant_id>/resume")
def resume(tenant_id: int) -> Any:
    return _change_status(tenant_id, lifecycle.resume_tenant, "active")


def _change_status(tenant_id: int, change: Callable[..., Tenant], target: str) -> Any:
    row = _live_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    if row.status == target:
        flash(f"{row.slug} is already {target}.")
        return _back_to(row)
    try:
        change(_platform(), row.slug, actor=current_user.email)
    except (lifecycle.InvalidTransition, lifecycle.TenantNotFound) as error:
        return _tenant_page(row, status=409, error=str(error))
    except lifecycle.InvalidSuspension as error:
        return _tenant_page(row, status=422, error=str(error))
    if target == "suspended":
        flash(f"Suspended {row.slug}: its pages answer 403 in every process within a second.")
    else:
        flash(f"Resumed {row.slug}: its pages are served again.")
    return _back_to(row)


@bp.post("/tenants/<int:tenant_id>/read-only")
def read_only(tenant_id: int) -> Any:
    """Make the tenant read-only (``on=1``) or writable again (anything else)."""
    row = _live_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    wanted = request.form.get("on") == "1"
    if row.read_only == wanted:
        flash(f"{row.slug} is already {'read-only' if wanted else 'writable'}.")
        return _back_to(row)
    try:
        lifecycle.set_read_only(_platform(), row.slug, wanted, actor=current_user.email)
    except lifecycle.TenantNotFound as error:
        return _tenant_page(row, status=409, error=str(error))
    if wanted:
        flash(
            f"{row.slug} is read-only: its pages are served, every write answers "
            "“read-only for maintenance” in every process within a second."
        )
    else:
        flash(f"{row.slug} is writable again.")
    return _back_to(row)


@bp.get("/databases")
def databases() -> Any:
    """Each tenant database with its live tenants and size."""
    overview = moves.database_overview(_platform())
    done_reading()
    return render_template("admin/databases.html", overview=overview)


@bp.post("/tenants/<int:tenant_id>/move")
def move(tenant_id: int) -> Any:
    """Queue the move of the tenant to another database (``platform.move_tenant``)."""
    row = _live_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    target = request.form.get("to", "")
    known = getattr(_platform().storage, "databases", {})
    if target not in known or target == row.database:
        return _tenant_page(
            row,
            status=422,
            error=f"Choose a database other than “{row.database}” among those configured.",
        )
    handle = moves.move_tenant_job.enqueue(
        platform=_platform(), slug=row.slug, to=target, requested_by=current_user.email
    )
    flash(
        f"Moving {row.slug} to {target} in the background (job {handle.id[:8]}); this page "
        "shows the new database when it is done."
    )
    return _back_to(row)


@bp.post("/tenants/<int:tenant_id>/plan")
def change_plan(tenant_id: int) -> Any:
    row = _live_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    form = PlanForm()
    if not form.validate():
        return _tenant_page(
            row, status=422, error="Choose one of the plans listed.", plan_form=form
        )
    plan = form.plan.data
    if plan == row.plan:
        flash(f"{row.slug} is already on the {plan} plan.")
        return _back_to(row)
    try:
        lifecycle.update_tenant(_platform(), row.slug, actor=current_user.email, plan=plan)
    except lifecycle.TenantNotFound as error:
        return _tenant_page(row, status=409, error=str(error))
    except UnknownPlan as error:
        return _tenant_page(row, status=422, error=str(error), plan_form=form)
    flash(f"{row.slug} is now on the {plan} plan.")
    return _back_to(row)


@bp.post("/tenants/<int:tenant_id>/delete")
def delete(tenant_id: int) -> Any:
    row = _live_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    form = DeleteForm()
    if not form.validate() or form.confirm.data != row.slug:
        if not form.confirm.errors:
            form.confirm.errors = [
                f"Type “{row.slug}” exactly to delete this tenant; nothing was deleted."
            ]
        # The reason up top too: the field that says it is at the bottom of a long page.
        return _tenant_page(
            row,
            status=422,
            error=f"The tenant was not deleted: {form.confirm.errors[0]}",
            delete_form=form,
        )
    try:
        tenant = lifecycle.delete_tenant(_platform(), row.slug, actor=current_user.email)
    except (lifecycle.InvalidTransition, lifecycle.TenantNotFound) as error:
        return _tenant_page(row, status=409, error=str(error))
    if tenant.status == "purged":
        flash(f"Deleted {row.slug}, a provisioning that never finished, and dropped its storage.")
    else:
        flash(
            f"Deleted {row.slug}: offline now; it can be restored here until "
            f"{tenant.purge_after:%Y-%m-%d %H:%M} UTC, when it is purged."
        )
    return _back_to(row)


def _deleted_tenant(tenant_id: int) -> Tenant | tuple[str, int]:
    """The tenant if it is deleted within its grace period; else its page with a 409."""
    row = _get_tenant(tenant_id)
    if row.status != "deleted":
        return _tenant_page(
            row, status=409, error=f"Tenant “{row.slug}” is {row.status}, not deleted."
        )
    return row


@bp.post("/tenants/<int:tenant_id>/undelete")
def undelete(tenant_id: int) -> Any:
    row = _deleted_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    try:
        tenant = lifecycle.undelete_tenant(_platform(), row.slug, actor=current_user.email)
    except (lifecycle.InvalidTransition, lifecycle.TenantNotFound) as error:
        return _tenant_page(row, status=409, error=str(error))
    flash(f"Restored {row.slug}: it is {tenant.status} again.")
    return _back_to(row)


@bp.post("/tenants/<int:tenant_id>/purge")
def purge(tenant_id: int) -> Any:
    row = _deleted_tenant(tenant_id)
    if not isinstance(row, Tenant):
        return row
    form = PurgeForm()
    if not form.validate() or (form.confirm.data or "").strip().lower() != row.slug.lower():
        if not form.confirm.errors:
            form.confirm.errors = [
                f"Type “{row.slug}” exactly to purge this tenant; nothing was purged."
            ]
        return _tenant_page(row, status=422, error="The tenant was not purged.", purge_form=form)
    try:
        lifecycle.purge_tenant(
            _platform(), row.slug, confirm=form.confirm.data, actor=current_user.email
        )
    except (lifecycle.InvalidTransition, lifecycle.TenantNotFound) as error:
        return _tenant_page(row, status=409, error=str(error))
    flash(f"Purged {row.slug}: its storage is dropped and the subdomain is free again.")
    return _back_to(row)


@bp.post("/logout")
def logout() -> Response:
    end_current_admin_session()
    flash("You are logged out.")
    return redirect(url_for("admin_auth.login"), code=303)
