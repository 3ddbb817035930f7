"""The platform's Flask CLI: ``flask --app tenants.wsgi db|tenants|admin ...``.

Bad input ends with one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenants import lifecycle
from tenants.admins import InvalidAdmin, create_admin
from tenants.registry.models import Tenant
from tenants.storage import migrations

if TYPE_CHECKING:
    from tenants.core import Platform

F = TypeVar("F", bound=Callable[..., Any])

db_cli = AppGroup("db", help="The platform database (tenant registry).")
admin_cli = AppGroup("admin", help="Platform admins (who manage tenants at /admin/).")
tenants_cli = AppGroup("tenants", help="Create, list, suspend, resume, delete and migrate tenants.")

#: Errors a person can act on: shown as one line, exit status 1.
USER_ERRORS: tuple[type[Exception], ...] = (
    lifecycle.InvalidSignup,
    lifecycle.InvalidTransition,
    lifecycle.SlugTaken,
    lifecycle.TenantNotFound,
    InvalidAdmin,
)


def _platform() -> Platform:
    return current_app.extensions["tenants_platform"]


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
                "'flask --app tenants.wsgi db upgrade' if it was never set up."
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


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the workspace.")
@click.option("--owner-email", required=True, help="Email of the owner account.")
@click.option("--owner-password", required=True, help="Password of the owner account.")
@click.option("--plan", default="free", show_default=True)
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
        click.echo("No tenants yet: 'flask --app tenants.wsgi tenants create SLUG ...' adds one.")
        return
    click.echo(f"{'SLUG':<24} {'STATUS':<13} {'PLAN':<10} {'REVISION':<24} URL")
    for tenant in tenants:
        click.echo(
            f"{tenant.slug:<24} {tenant.status:<13} {tenant.plan:<10} "
            f"{tenant.storage_revision or '-':<24} {platform.settings.url_for_tenant(tenant.slug)}"
        )


@tenants_cli.command("suspend")
@click.argument("slug")
@friendly_errors
def tenants_suspend(slug: str) -> None:
    """Suspend SLUG: its pages answer 403 in every process within a second."""
    tenant = lifecycle.suspend_tenant(_platform(), slug, actor="cli")
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
    admin = create_admin(_platform(), email, password)
    click.echo(f"Created admin {admin.email}: {_platform().settings.url_for_platform('/admin/')}")


def register_commands(app: Flask) -> None:
    app.cli.add_command(admin_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(tenants_cli)


def _elapsed(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"
