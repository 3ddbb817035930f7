"""The platform's Flask CLI: ``flask --app tenants.wsgi db|tenants|admin ...``.

Bad input ends with one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenants import backups, cleanup, lifecycle, moves
from tenants.admins import (
    InvalidAdmin,
    create_admin,
    list_admins,
    remove_admin,
    set_admin_password,
)
from tenants.console.extensions import platform_of
from tenants.fleet import ledger, runner, worker
from tenants.jobs.cli import jobs_cli  # also puts the job tables in RegistryBase.metadata
from tenants.plans import DEFAULT_PLAN, PLAN_NAMES, UnknownPlan
from tenants.registry.models import (
    LIVE_STATUSES,
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
    backups.ArchiveError,
    moves.MoveError,
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
    database = f"{'DATABASE':<12} " if several else ""
    click.echo(f"{'SLUG':<24} {'STATUS':<13} {'PLAN':<10} {database}{'REVISION':<24} URL")
    for tenant in tenants:
        database = f"{tenant.database:<12} " if several else ""
        click.echo(
            f"{tenant.slug:<24} {tenant.status:<13} {tenant.plan:<10} {database}"
            f"{tenant.storage_revision or '-':<24} {platform.tenant_url(tenant)}"
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
@click.option("--yes", is_flag=True, help="Confirm: the tenant goes offline at once.")
@friendly_errors
def tenants_delete(slug: str, yes: bool) -> None:
    """Delete SLUG: unreachable at once, restorable until its grace period ends."""
    if not yes:
        raise click.ClickException(
            f"Deleting {slug} takes it offline at once and purges its data after "
            "TENANT_DELETE_GRACE_DAYS; run again with --yes to confirm."
        )
    tenant = lifecycle.delete_tenant(_platform(), slug, actor="cli")
    if tenant.status == TenantStatus.PURGED:
        click.echo(f"Deleted {tenant.slug} (a provisioning that never finished) and purged it.")
        return
    click.echo(
        f"Deleted {tenant.slug}: offline now, purged after {tenant.purge_after:%Y-%m-%d %H:%M} "
        f"UTC; 'flask --app tenants.wsgi tenants undelete {tenant.slug}' restores it until then."
    )


@tenants_cli.command("undelete")
@click.argument("slug")
@friendly_errors
def tenants_undelete(slug: str) -> None:
    """Restore SLUG, deleted within its grace period, in the status it had."""
    tenant = lifecycle.undelete_tenant(_platform(), slug, actor="cli")
    click.echo(f"Restored {tenant.slug}: it is {tenant.status} again.")


@tenants_cli.command("purge")
@click.argument("slug")
@click.option(
    "--confirm",
    "confirm",
    default=None,
    help="The slug again, typed (asked for when not given).",
)
@friendly_errors
def tenants_purge(slug: str, confirm: str | None) -> None:
    """Purge deleted tenant SLUG now: its storage is dropped for good, its slug freed."""
    if confirm is None:
        confirm = click.prompt(f"This drops all data of {slug} for good. Type its slug")
    tenant = lifecycle.purge_tenant(_platform(), slug, confirm=confirm, actor="cli")
    click.echo(f"Purged {tenant.slug}: its storage is dropped and its slug is free.")


@tenants_cli.command("purge-due")
@friendly_errors
def tenants_purge_due() -> None:
    """Purge every deleted tenant whose grace period is over (the purge job does it hourly)."""
    purged = lifecycle.purge_due(_platform(), actor="cli")
    click.echo(f"Purged {len(purged)} tenant(s){': ' + ', '.join(purged) if purged else '.'}")


@tenants_cli.command("read-only")
@click.argument("slug")
@click.option("--off", is_flag=True, help="Make the tenant writable again.")
@friendly_errors
def tenants_read_only(slug: str, off: bool) -> None:
    """Put SLUG read-only (pages work, writes answer 503) or, with --off, writable again."""
    tenant = lifecycle.set_read_only(_platform(), slug, not off, actor="cli")
    if tenant.read_only:
        click.echo(f"{tenant.slug} is read-only: every process refuses its writes within a second.")
    else:
        click.echo(f"{tenant.slug} is writable again.")


@tenants_cli.command("backup")
@click.argument("slug")
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="ZIP to write."
)
@friendly_errors
def tenants_backup(slug: str, output: Path) -> None:
    """Write a complete, consistent backup of SLUG to a new ZIP file."""
    started = time.perf_counter()
    made = backups.backup_tenant(_platform(), slug, output, actor="cli")
    elapsed = (time.perf_counter() - started) * 1000
    click.echo(
        f"Backed up {slug}: {made.manifest.total_rows} rows in {len(made.manifest.tables)} "
        f"tables at revision {made.manifest.schema_revision} to {made.path} ({elapsed:.0f} ms)."
    )


@tenants_cli.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--slug", required=True, help="The new tenant's slug (never an existing one).")
@friendly_errors
def tenants_restore(file: Path, slug: str) -> None:
    """Restore backup FILE into a new tenant --slug (verified, migrated to the head)."""
    platform = _platform()
    tenant = backups.restore_tenant(platform, file, slug, actor="cli")
    click.echo(
        f"Restored {file} into {tenant.slug} at revision {tenant.storage_revision}: "
        f"{platform.settings.url_for_tenant(tenant.slug)}"
    )


@tenants_cli.command("clone")
@click.argument("slug")
@click.argument("new_slug")
@friendly_errors
def tenants_clone(slug: str, new_slug: str) -> None:
    """Copy tenant SLUG, every row of it, into a new tenant NEW_SLUG."""
    platform = _platform()
    tenant = backups.clone_tenant(platform, slug, new_slug, actor="cli")
    click.echo(f"Cloned {slug} into {tenant.slug}: {platform.settings.url_for_tenant(tenant.slug)}")


@tenants_cli.command("move")
@click.argument("slug")
@click.option("--to", "to", required=True, help="A database TENANT_DATABASES names.")
@click.option(
    "--lease",
    default=moves.LEASE_SECONDS,
    show_default=True,
    type=click.FloatRange(min=5),
    help="Seconds a killed move keeps the tenant read-only at most.",
)
@friendly_errors
def tenants_move(slug: str, to: str, lease: float) -> None:
    """Move SLUG's schema to database --to: read-only, copy, verify, switch, drop the old."""
    report = moves.move_tenant(_platform(), slug, to, actor="cli", lease_seconds=lease)
    if report.recovered:
        click.echo(f"An interrupted move of {report.slug} was {report.recovered}.")
    if report.source == report.target:
        click.echo(f"{report.slug} lives on {report.target}.")
        return
    click.echo(
        f"Moved {report.slug} from {report.source} to {report.target}: {report.rows} rows, "
        f"writes refused for {report.write_window:.2f} s."
    )


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


# -- fleet operations: migrate, status, cleanup ----------------------------------------

#: Tenants whose storage the fleet commands migrate and check (provisioning ones get the
#: head revision when they are created; failed and deleted ones have no storage).
MIGRATED_STATUSES = ledger.MIGRATED_STATUSES


@dataclass(frozen=True)
class _FleetTenant:
    id: int
    slug: str
    status: str
    storage_revision: str | None


def _head() -> str:
    return migrations.head_revision(_platform().tenant_app.migrations)


def _named(platform: Platform, slugs: Sequence[str]) -> list[_FleetTenant]:
    """The tenants SLUGS name, from one registry query; unknown or provisioning ones refused."""
    columns = (Tenant.id, Tenant.slug, Tenant.status, Tenant.storage_revision)
    # Deleted tenants (in their grace period) are not migrated: as unknown as purged ones.
    holding = [str(status) for status in LIVE_STATUSES]
    wanted = {slug.strip().lower() for slug in slugs}
    query = select(*columns).where(func.lower(Tenant.slug).in_(wanted), Tenant.status.in_(holding))
    with Session(platform.engine) as session:
        tenants = [_FleetTenant(*row) for row in session.execute(query.order_by(Tenant.slug))]
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


def _print_results(results: Sequence[worker.Result]) -> None:
    width = max(len("SLUG"), *(len(result.slug) for result in results))
    click.echo(f"{'SLUG':<{width}}  {'RESULT':<8}  {'TIME':>8}  DETAIL")
    for result in results:
        if result.state == worker.DONE:
            outcome = "upgraded"
            detail = f"{result.from_revision or 'none'} → {result.to_revision}"
        else:
            outcome, detail = result.state, result.error or ""
        click.echo(f"{result.slug:<{width}}  {outcome:<8}  {result.duration_ms:>5} ms  {detail}")


@tenants_cli.command("migrate")
@click.argument("slugs", nargs=-1, metavar="[SLUG]...")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1, max=256),
    default=1,
    show_default=True,
    help="Worker processes; no database gets more at once than its connection budget.",
)
@click.option(
    "--canary",
    type=click.IntRange(min=1),
    default=None,
    help="Migrate this many tenants, then stop for a look; run migrate again to go on.",
)
@click.option(
    "--fail-fast/--keep-going",
    default=False,
    show_default=True,
    help="Stop at the first failed tenant, or go on past failures.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Only continue the unfinished run (an error if there is none).",
)
@friendly_errors
def tenants_migrate(
    slugs: tuple[str, ...], jobs: int, canary: int | None, fail_fast: bool, resume: bool
) -> None:
    """Apply pending migrations: the platform's first, then every tenant's (or SLUG...'s).

    Each run is recorded in a ledger in the platform database; a run that was killed, or
    stopped by --canary or --fail-fast, is continued by the next 'tenants migrate'.
    A tenant whose recorded revision is the head is skipped without opening its storage.
    The exit status is 1 if any tenant failed or was busy (another run was migrating it).
    """
    platform = _platform()
    if resume and slugs:
        raise click.ClickException("--resume continues the unfinished fleet run; name no SLUG.")
    # Platform migrations first and alone: the ledger itself may be what they add.
    with platform.engine.begin() as connection:
        migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
    head = _head()
    named = _named(platform, slugs) if slugs else None
    mode = "fail-fast" if fail_fast else "keep-going"
    with Session(platform.engine, expire_on_commit=False) as session:
        counts = ledger.count_fleet(session, head)
        unfinished = None if named is not None else ledger.unfinished_run(session)
        if unfinished is not None and unfinished.target_revision != head:
            click.echo(
                f"Run {unfinished.id} to {unfinished.target_revision} was not finished; "
                f"the head is now {head}, so a new run replaces it."
            )
            ledger.abandon(session, unfinished)
            session.commit()
            unfinished = None
        if resume and unfinished is None:
            raise click.ClickException(
                "There is no unfinished migration run to resume; 'tenants migrate' starts one."
            )
        if unfinished is not None:
            run = unfinished
            click.echo(f"Resuming run {run.id} ({run.total} tenants, to {head}).")
            ledger.close_run(session, run.id, ledger.RunState.RUNNING)
        else:
            if named is not None:
                pending_ids = [t.id for t in named if t.storage_revision != head]
                total, up_to_date = len(named), len(named) - len(pending_ids)
            else:
                pending_ids, total, up_to_date = None, counts.live, counts.live - counts.behind
                if counts.behind == 0:
                    click.echo(f"All {total} tenants are at {head}; nothing to migrate.")
                    return
            if pending_ids == []:
                click.echo(f"All {total} tenants are at {head}; nothing to migrate.")
                return
            run = ledger.start_run(session, head, jobs=jobs, mode=mode, tenant_ids=pending_ids)
        session.commit()
        todo = ledger.todo(session, run, limit=canary)
    if unfinished is not None:
        up_to_date = counts.live - counts.behind
    the_plan = runner.plan(platform, todo, jobs)
    if jobs > 1:
        budgets = ", ".join(f"{name} {budget}" for name, budget in the_plan.budgets.items())
        click.echo(
            f"Run {run.id}: {the_plan.workers} worker processes (connection budget per "
            f"database: {budgets}).",
            err=True,
        )
    results: list[worker.Result] = []
    with click.progressbar(
        length=len(todo),
        label=f"Migrating {len(todo)} tenants to {head}",
        # On stderr, so the summary on stdout can be piped or saved alone.
        file=sys.stderr,
    ) as bar:

        def progress(batch: list[worker.Result]) -> None:
            results.extend(batch)
            bar.update(len(batch))

        stopped = runner.execute(
            platform, run.id, todo, the_plan, fail_fast=fail_fast, on_results=progress
        )
    platform.registry.invalidate()

    with Session(platform.engine) as session:
        left = ledger.todo(session, run, limit=1)
        failed = sum(result.state == worker.FAILED for result in results)
        busy = sum(result.state == worker.BUSY for result in results)
        if not left:
            state = ledger.RunState.FINISHED
        elif stopped or (canary is not None and not failed and not busy):
            state = ledger.RunState.STOPPED
        else:
            state = ledger.RunState.FAILED
        ledger.close_run(session, run.id, state)
        session.commit()

    if results:
        _print_results(sorted(results, key=lambda result: result.slug))
    upgraded = len(results) - failed - busy
    busy_text = f", busy {busy}" if busy else ""
    click.echo(
        f"Upgraded {upgraded}, failed {failed}, up to date {up_to_date}{busy_text} "
        f"(head {head}; run {run.id} {state})."
    )
    if state == ledger.RunState.STOPPED and not stopped:
        click.echo(
            f"Canary: {len(results)} tenants migrated; look at them, then run "
            "'tenants migrate' to go on with the others."
        )
    if stopped == runner.FAIL_FAST:
        click.echo("Stopped at the first failure (--fail-fast).", err=True)
    elif stopped == runner.WORKER_DIED:
        click.echo(
            "A worker process ended mid-run (killed, or out of memory); the tenants it had "
            "are marked failed and the others were not started.",
            err=True,
        )
    if failed or busy:
        click.echo(
            "Fix the failed tenants and run 'tenants migrate' again.",
            err=True,
        )
        click.get_current_context().exit(1)


@tenants_cli.command("directory-rebuild")
@click.argument("slugs", nargs=-1, metavar="[SLUG]...")
@friendly_errors
def tenants_directory_rebuild(slugs: tuple[str, ...]) -> None:
    """Refill the workspace finder's directory from each tenant's members (all by default).

    Run once after upgrading to the release that added it, and whenever a member change
    could not reach the platform database (the tenant app logs those).
    """
    platform = _platform()
    query = select(Tenant).where(Tenant.status.in_(["active", "suspended"])).order_by(Tenant.slug)
    if slugs:
        query = query.where(Tenant.slug.in_(slugs))
    with Session(platform.engine) as session:
        tenants = session.execute(query).scalars().all()
    total = 0
    for tenant in tenants:
        count = platform.rebuild_directory(tenant)
        if count is None:
            click.echo(f"{tenant.slug}: skipped (no storage, or the app lists no members)")
            continue
        total += count
        click.echo(f"{tenant.slug}: {count} member(s)")
    click.echo(f"Directory rebuilt for {len(tenants)} tenant(s), {total} address(es).")


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
        unfinished = ledger.unfinished_run(session)
    behind = [row for row in rows if row.storage_revision != head]
    if unfinished is not None:
        click.echo(
            f"Run {unfinished.id} to {unfinished.target_revision} is {unfinished.state}: "
            "'tenants migrate' goes on with it."
        )
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
