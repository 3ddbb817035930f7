"""The platform's Flask CLI: ``flask --app tenants.wsgi db|tenants|admin ...``.

Bad input ends with one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenants import cleanup, lifecycle
from tenants.admins import (
    InvalidAdmin,
    create_admin,
    list_admins,
    remove_admin,
    set_admin_password,
)
from tenants.console.extensions import platform_of
from tenants.jobs.cli import jobs_cli  # also puts the job tables in RegistryBase.metadata
from tenants.plans import DEFAULT_PLAN, PLAN_NAMES, UnknownPlan
from tenants.registry import service
from tenants.registry.models import (
    SLUG_HOLDING_STATUSES,
    RegistryBase,
    Tenant,
    TenantStatus,
)
from tenants.storage import migrations
from tenants.storage.revisions import InvalidRevision, new_revision

if TYPE_CHECKING:
    from tenants.kernel import Platform

F = TypeVar("F", bound=Callable[..., Any])

db_cli = AppGroup("db", help="The platform database (tenant registry).")
admin_cli = AppGroup("admin", help="Platform admins (who manage tenants at /admin/).")
tenants_cli = AppGroup("tenants", help="Create, list, suspend, resume, delete and migrate tenants.")

#: Errors a person can act on: shown as one line, exit status 1.
USER_ERRORS: tuple[type[Exception], ...] = (
    lifecycle.InvalidSignup,
    lifecycle.InvalidTransition,
    lifecycle.InvalidSuspension,
    lifecycle.SlugTaken,
    lifecycle.TenantNotFound,
    InvalidAdmin,
    InvalidRevision,
    UnknownPlan,
)


def _platform() -> Platform:
    return platform_of()


def friendly_errors(command: F) -> F:
    """Turn a user error, or an unreachable database, into one line on stderr."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            raise click.ClickException(str(error)) from None
        except OperationalError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise click.ClickException(
                f"The platform database cannot be used ({reason}). Check DATABASE_URL, and run "
                "'tenants db upgrade' if it was never set up."
            ) from None

    return wrapper  # type: ignore[return-value]


@db_cli.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Create or upgrade the platform database to the latest revision."""
    platform = _platform()
    with platform.engine.begin() as connection:
        revision = migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
    click.echo(f"Platform database at revision {revision}.")


_MESSAGE = click.option("-m", "--message", required=True, help="What the revision changes.")
_AUTOGENERATE = click.option(
    "--autogenerate",
    is_flag=True,
    help="Write the operations that bring a database at the head to the current models.",
)
_REV_ID = click.option("--rev-id", default=None, help="The revision id (default: random).")


@db_cli.command("revision")
@_MESSAGE
@_AUTOGENERATE
@_REV_ID
@friendly_errors
def db_revision(message: str, autogenerate: bool, rev_id: str | None) -> None:
    """Create a platform-database revision (registry models) in its history."""
    made = new_revision(
        migrations.PLATFORM_SCRIPTS,
        message,
        metadata=RegistryBase.metadata,
        autogenerate=autogenerate,
        rev_id=rev_id,
    )
    click.echo(f"Created {made.path}; review it, then run 'tenants db upgrade'.")
    _warn_unchecked(made.unchecked_indexes)


def _warn_unchecked(indexes: Sequence[str]) -> None:
    if indexes:
        click.echo(
            "Autogenerate cannot compare expression indexes; add these to the revision by "
            "hand (op.create_index(..., [sa.text(...)])): " + ", ".join(indexes),
            err=True,
        )


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the workspace.")
@click.option("--owner-email", required=True, help="Email of the owner account.")
@click.option("--owner-password", required=True, help="Password of the owner account.")
@click.option(
    "--plan", default=DEFAULT_PLAN, show_default=True, help=f"One of: {', '.join(PLAN_NAMES)}."
)
@friendly_errors
def tenants_create(slug: str, name: str, owner_email: str, owner_password: str, plan: str) -> None:
    """Create tenant SLUG: registry row, storage, migrations and owner."""
    platform = _platform()
    tenant = lifecycle.provision_tenant(
        platform,
        lifecycle.NewTenant(slug, name, owner_email, owner_password, plan),
        actor="cli",
    )
    click.echo(f"Created {tenant.slug}: {platform.settings.url_for_tenant(tenant.slug)}")


@tenants_cli.command("revision")
@_MESSAGE
@_AUTOGENERATE
@_REV_ID
@friendly_errors
def tenants_revision(message: str, autogenerate: bool, rev_id: str | None) -> None:
    """Create a tenant-storage revision in the tenant app's history (TENANT_APP)."""
    tenant_app = _platform().tenant_app
    made = new_revision(
        tenant_app.migrations,
        message,
        metadata=tenant_app.metadata,
        autogenerate=autogenerate,
        rev_id=rev_id,
    )
    click.echo(f"Created {made.path} for {tenant_app.name}; review it, then run 'tenants migrate'.")
    _warn_unchecked(made.unchecked_indexes)


@tenants_cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include failed and deleted tenants.")
@friendly_errors
def tenants_list(show_all: bool) -> None:
    """List tenants: slug, status, plan, storage revision, URL."""
    platform = _platform()
    query = select(Tenant).order_by(Tenant.slug, Tenant.id)
    if not show_all:
        query = query.where(Tenant.status.in_(["provisioning", "active", "suspended"]))
    with Session(platform.engine) as session:
        tenants = session.execute(query).scalars().all()
    if not tenants:
        click.echo("No tenants yet: 'tenants create SLUG ...' adds one.")
        return
    # The database column only where tenants can live on more than one.
    several = bool(platform.settings.tenant_databases)
    # Columns as wide as their longest value, so a long revision id never runs into the URL.
    slug_width = max(len("SLUG"), *(len(tenant.slug) for tenant in tenants))
    revision_width = max(
        len("REVISION"), *(len(tenant.storage_revision or "-") for tenant in tenants)
    )
    database = f"{'DATABASE':<12} " if several else ""
    click.echo(
        f"{'SLUG':<{slug_width}}  {'STATUS':<12} {'PLAN':<10} {database}"
        f"{'REVISION':<{revision_width}}  URL"
    )
    for tenant in tenants:
        database = f"{tenant.database:<12} " if several else ""
        click.echo(
            f"{tenant.slug:<{slug_width}}  {tenant.status:<12} {tenant.plan:<10} {database}"
            f"{tenant.storage_revision or '-':<{revision_width}}  "
            f"{platform.settings.url_for_tenant(tenant.slug)}"
        )


@tenants_cli.command("suspend")
@click.argument("slug")
@click.option("--reason", default=None, help="Shown to the tenant's members on its 403 page.")
@friendly_errors
def tenants_suspend(slug: str, reason: str | None) -> None:
    """Suspend SLUG: its pages answer 403 in every process within a second."""
    tenant = lifecycle.suspend_tenant(_platform(), slug, actor="cli", reason=reason)
    click.echo(f"{tenant.slug} is {tenant.status}.")


@tenants_cli.command("resume")
@click.argument("slug")
@friendly_errors
def tenants_resume(slug: str) -> None:
    """Resume suspended tenant SLUG."""
    tenant = lifecycle.resume_tenant(_platform(), slug, actor="cli")
    click.echo(f"{tenant.slug} is {tenant.status}.")


@tenants_cli.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Confirm: the tenant's storage is dropped.")
@friendly_errors
def tenants_delete(slug: str, yes: bool) -> None:
    """Delete SLUG and drop its storage (its data is gone; the slug is free again)."""
    if not yes:
        raise click.ClickException(
            f"Deleting {slug} drops all its data; run again with --yes to confirm."
        )
    tenant = lifecycle.delete_tenant(_platform(), slug, actor="cli")
    click.echo(f"Deleted {tenant.slug} and dropped its storage.")


@admin_cli.command("create")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
@friendly_errors
def admin_create(email: str, password: str) -> None:
    """Create platform admin EMAIL."""
    admin = create_admin(_platform(), email, password, actor="cli")
    click.echo(f"Created admin {admin.email}: {_platform().settings.url_for_platform('/admin/')}")


@admin_cli.command("list")
@friendly_errors
def admin_list() -> None:
    """List the platform admins."""
    admins = list_admins(_platform())
    if not admins:
        click.echo("No admins yet: 'tenants admin create EMAIL --password ...' adds one.")
        return
    for admin in admins:
        click.echo(f"{admin.email}  (since {admin.created_at:%Y-%m-%d})")


@admin_cli.command("passwd")
@click.argument("email")
@click.option(
    "--password",
    prompt="New password",
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters (asked for when not given).",
)
@friendly_errors
def admin_passwd(email: str, password: str) -> None:
    """Set admin EMAIL's password; their sessions end (audited)."""
    admin = set_admin_password(_platform(), email, password, actor="cli")
    click.echo(f"Changed the password of {admin.email}; their sessions are ended.")


@admin_cli.command("remove")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Confirm the removal.")
@friendly_errors
def admin_remove(email: str, yes: bool) -> None:
    """Remove admin EMAIL (never the last one); their sessions end (audited)."""
    if not yes:
        raise click.ClickException(f"Removing {email} ends their access; run again with --yes.")
    admin = remove_admin(_platform(), email, actor="cli")
    click.echo(f"Removed admin {admin.email}.")


def register_commands(app: Flask) -> None:
    app.cli.add_command(admin_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(tenants_cli)


def _elapsed(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


# -- fleet operations: migrate, status, cleanup ----------------------------------------

#: Tenants whose storage the fleet commands migrate and check (provisioning ones get the
#: head revision when they are created; failed and deleted ones have no storage).
MIGRATED_STATUSES = (str(TenantStatus.ACTIVE), str(TenantStatus.SUSPENDED))


@dataclass(frozen=True)
class _FleetTenant:
    id: int
    slug: str
    status: str
    storage_revision: str | None


@dataclass(frozen=True)
class _Outcome:
    slug: str
    result: str
    elapsed: str
    detail: str


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _head() -> str:
    return migrations.head_revision(_platform().tenant_app.migrations)


def _fleet(platform: Platform, slugs: Sequence[str]) -> list[_FleetTenant]:
    """The tenants to migrate, from one registry query: all active and suspended, or SLUGS."""
    columns = (Tenant.id, Tenant.slug, Tenant.status, Tenant.storage_revision)
    if not slugs:
        query = select(*columns).where(Tenant.status.in_(MIGRATED_STATUSES))
    else:
        holding = [str(status) for status in SLUG_HOLDING_STATUSES]
        wanted = {slug.strip().lower() for slug in slugs}
        query = select(*columns).where(
            func.lower(Tenant.slug).in_(wanted), Tenant.status.in_(holding)
        )
    with Session(platform.engine) as session:
        tenants = [_FleetTenant(*row) for row in session.execute(query.order_by(Tenant.slug))]
    if slugs:
        found = {tenant.slug.lower() for tenant in tenants}
        unknown = sorted(wanted - found)
        if unknown:
            names = ", ".join(f"“{slug}”" for slug in unknown)
            raise click.ClickException(f"No tenant {names}; 'tenants list' shows the tenants.")
        for tenant in tenants:
            if tenant.status not in MIGRATED_STATUSES:
                raise click.ClickException(
                    f"Tenant “{tenant.slug}” is still being provisioned; it is created at the "
                    "head revision, so it needs no migration."
                )
    return tenants


def _record_revision(platform: Platform, tenant_id: int, revision: str | None) -> None:
    with Session(platform.engine) as session:
        row = session.get(Tenant, tenant_id)
        if row is not None:
            row.storage_revision = revision
            service.touch(session, row)
            session.commit()


def _migrate_one(platform: Platform, tenant: _FleetTenant) -> _Outcome:
    started = time.perf_counter()
    before = tenant.storage_revision or "none"
    try:
        if not platform.storage.exists(tenant.id):
            # Never migrate missing storage: on SQLite that would build an empty tenant.
            raise FileNotFoundError(
                f"its storage {platform.storage.location(tenant.id)} is missing; "
                "restore it, or delete the tenant"
            )
        revision = platform.storage.migrate(tenant.id)
    except Exception as error:
        return _Outcome(tenant.slug, "failed", _elapsed(started), _first_line(error))
    try:
        _record_revision(platform, tenant.id, revision)
    except Exception as error:
        return _Outcome(
            tenant.slug,
            "failed",
            _elapsed(started),
            f"migrated to {revision}, but the registry could not record it "
            f"({_first_line(error)}); run migrate again",
        )
    return _Outcome(tenant.slug, "upgraded", _elapsed(started), f"{before} → {revision}")


@tenants_cli.command("migrate")
@click.argument("slugs", nargs=-1, metavar="[SLUG]...")
@friendly_errors
def tenants_migrate(slugs: tuple[str, ...]) -> None:
    """Apply pending tenant migrations to all active and suspended tenants, or to SLUG...

    A tenant whose recorded revision is the head is skipped without opening its storage.
    A failing tenant is reported and the others go on; the exit status is 1 if any failed.
    """
    platform = _platform()
    head = _head()
    tenants = _fleet(platform, slugs)
    pending = [tenant for tenant in tenants if tenant.storage_revision != head]
    up_to_date = len(tenants) - len(pending)
    if not pending:
        click.echo(f"All {len(tenants)} tenants are at {head}; nothing to migrate.")
        return
    outcomes: list[_Outcome] = []
    with click.progressbar(
        pending,
        label=f"Migrating {len(pending)} tenants to {head}",
        item_show_func=lambda tenant: tenant.slug if tenant else None,
        # On stderr, so the summary on stdout can be piped or saved alone.
        file=sys.stderr,
    ) as bar:
        for tenant in bar:
            outcomes.append(_migrate_one(platform, tenant))
    platform.registry.invalidate()

    width = max(len("SLUG"), *(len(outcome.slug) for outcome in outcomes))
    click.echo(f"{'SLUG':<{width}}  {'RESULT':<8}  {'TIME':>8}  DETAIL")
    for outcome in outcomes:
        click.echo(
            f"{outcome.slug:<{width}}  {outcome.result:<8}  {outcome.elapsed:>8}  {outcome.detail}"
        )
    failed = sum(outcome.result == "failed" for outcome in outcomes)
    click.echo(
        f"Upgraded {len(outcomes) - failed}, failed {failed}, up to date {up_to_date} "
        f"(head {head})."
    )
    if failed:
        click.echo(
            "Fix the failed tenants and run 'tenants migrate' again.",
            err=True,
        )
        click.get_current_context().exit(1)


@tenants_cli.command("status")
@friendly_errors
def tenants_status() -> None:
    """List active and suspended tenants whose storage is not at the head revision.

    Reads only the registry (one query). Exit status 1 when any tenant is behind.
    """
    head = _head()
    with Session(_platform().engine) as session:
        rows = session.execute(
            select(Tenant.slug, Tenant.status, Tenant.storage_revision)
            .where(Tenant.status.in_(MIGRATED_STATUSES))
            .order_by(Tenant.slug)
        ).all()
    behind = [row for row in rows if row.storage_revision != head]
    if not behind:
        click.echo(f"All {len(rows)} tenants are at {head}.")
        return
    click.echo(f"{len(behind)} of {len(rows)} tenants are not at {head}:")
    width = max(len("SLUG"), *(len(row.slug) for row in behind))
    click.echo(f"{'SLUG':<{width}}  {'STATUS':<10}  REVISION")
    for row in behind:
        click.echo(f"{row.slug:<{width}}  {row.status:<10}  {row.storage_revision or 'missing'}")
    click.echo("Run 'tenants migrate' to bring them to the head.")
    click.get_current_context().exit(1)


@tenants_cli.command("cleanup")
@friendly_errors
def tenants_cleanup() -> None:
    """Fail tenants stuck in provisioning, and drop storage that no live tenant owns."""
    platform = _platform()
    report = cleanup.sweep(platform, actor="cli")
    seconds = platform.settings.provisioning_lease_seconds
    for tenant_id, slug in report.failed:
        click.echo(
            f"Marked {slug} (id {tenant_id}) failed: it was stuck in provisioning for over "
            f"{seconds} seconds; its subdomain is free again."
        )
    for location in report.dropped:
        click.echo(f"Dropped {location}: no live tenant owns it.")
    for error in report.errors:
        click.echo(f"Could not drop {error}", err=True)
    if report.did_nothing:
        click.echo("Nothing to clean up.")
    if report.errors:
        click.get_current_context().exit(1)
