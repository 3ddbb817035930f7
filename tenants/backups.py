"""Backups, restores and clones of one tenant, for the operator (``tenants backup|restore|clone``).

A backup is complete (every table, every column: password hashes included; it is the
operator's, kept like a database dump) and consistent: it is read in one transaction,
a snapshot on both backends (PostgreSQL: REPEATABLE READ, READ ONLY; SQLite: one read
transaction in WAL mode), while the tenant keeps working. The ZIP is written under a
temporary name and renamed into place, so a failed backup leaves no file.

A restore always makes a *new* tenant (a new id, storage and slug): it never overwrites
a live one. The archive is read through and checked (manifest, checksums) before
anything changes; then, like a signup, the slug is claimed, the storage is built at the
archive's revision, loaded, read back and compared with the manifest, and migrated to
the head, all in the storage's one creating transaction. Any failure drops the storage
and marks the claimed row failed (its slug is free again), so nothing is left behind.
Archives move between backends: a SQLite tenant restores onto PostgreSQL and back.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from tenants import lifecycle
from tenants.registry import service
from tenants.registry.models import DEFAULT_DATABASE, Tenant, TenantStatus
from tenants.registry.slugs import InvalidSlug, validate_slug
from tenants.storage import migrations
from tenants.storage.archive import (
    KIND_BACKUP,
    Archive,
    ArchiveError,
    Manifest,
    load_archive,
    now_text,
    open_archive,
    write_archive,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from tenants.kernel import Platform

log = logging.getLogger(__name__)

__all__ = ["ArchiveError", "BackupMade", "backup_tenant", "clone_tenant", "restore_tenant"]


@dataclass(frozen=True)
class BackupMade:
    path: Path
    manifest: Manifest


def _tenant(platform: Platform, slug: str) -> Tenant:
    """The tenant to back up: live, or deleted within its grace period (data still there)."""
    with Session(platform.engine, expire_on_commit=False) as session:
        tenant = service.get_live(session, slug, deleted=True)
    if tenant.status == TenantStatus.PROVISIONING:
        raise lifecycle.InvalidTransition(
            f"Tenant “{tenant.slug}” is still being provisioned; back it up once it is active."
        )
    return tenant


@contextmanager
def snapshot(platform: Platform, tenant_id: int) -> Iterator[tuple[Connection, str | None]]:
    """A read-only connection to the tenant's storage in one consistent transaction."""
    engine = platform.storage.engine_for(tenant_id)
    postgres = platform.storage.kind == "postgresql"
    schema = platform.storage.location(tenant_id) if postgres else None
    try:
        with engine.connect() as connection:
            if postgres:
                connection = connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with connection.begin():
                yield connection, schema
    finally:
        platform.storage.release(engine)


def write_tenant_archive(
    platform: Platform,
    tenant: Tenant,
    target: Path,
    *,
    kind: str,
    include: Mapping[str, Iterable[str]] | None = None,
    with_csv: bool = False,
) -> Manifest:
    """Write ``tenant``'s storage to ``target`` (a new file: temporary name, then renamed)."""
    if target.exists():
        raise ArchiveError(f"{target} exists already; choose another file name.")
    if not target.parent.is_dir():
        raise ArchiveError(f"{target.parent} is not a directory.")
    partial = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        with snapshot(platform, tenant.id) as (connection, schema):
            manifest = Manifest(
                kind=kind,
                tenant={
                    "id": tenant.id,
                    "slug": tenant.slug,
                    "display_name": tenant.display_name,
                    "plan": tenant.plan,
                    "settings": dict(tenant.settings or {}),
                },
                tenant_app=platform.tenant_app.name,
                schema_revision=migrations.current_revision(connection, schema),
                created_at=now_text(),
                backend=platform.storage.kind,
            )
            write_archive(connection, schema, partial, manifest, include=include, with_csv=with_csv)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest


def backup_tenant(platform: Platform, slug: str, target: Path, *, actor: str = "cli") -> BackupMade:
    """Write a complete, consistent backup of tenant ``slug`` to ``target``; audited."""
    tenant = _tenant(platform, slug)
    manifest = write_tenant_archive(platform, tenant, target, kind=KIND_BACKUP)

    def record(session: Session) -> None:
        row = session.get_one(Tenant, tenant.id)
        service.audit(
            session, actor, "tenant.backup", row, file=target.name, rows=manifest.total_rows
        )

    service.write(platform.engine, record)
    return BackupMade(target, manifest)


def check_archive(platform: Platform, path: Path) -> Archive:
    """Open and verify a backup for this platform, or raise ArchiveError saying why not."""
    archive = open_archive(path)
    manifest = archive.manifest
    if manifest.tenant_app != platform.tenant_app.name:
        raise ArchiveError(
            f"{path} is a backup of tenant app “{manifest.tenant_app}”; this platform serves "
            f"“{platform.tenant_app.name}”."
        )
    revision = manifest.schema_revision
    if not revision:
        raise ArchiveError(f"{path} records no schema revision; it cannot be restored.")
    if not migrations.knows_revision(platform.tenant_app.migrations, revision):
        head = migrations.head_revision(platform.tenant_app.migrations)
        raise ArchiveError(
            f"{path} is at schema revision {revision}, which this platform does not know "
            f"(its newest is {head}): it was made by a newer version. Upgrade the platform, "
            "then restore it."
        )
    return archive


def restore_tenant(
    platform: Platform,
    path: Path,
    slug: str,
    *,
    actor: str = "cli",
    action: str = "tenant.restore",
) -> Tenant:
    """Restore the backup at ``path`` into a new tenant ``slug``; all of it, or nothing."""
    archive = check_archive(platform, path)
    try:
        slug = validate_slug(slug)
    except InvalidSlug as error:
        raise lifecycle.InvalidSignup("slug", str(error)) from None
    source = archive.manifest.tenant

    def claim(session: Session) -> int:
        database = DEFAULT_DATABASE
        if platform.settings.tenant_databases:
            names = [DEFAULT_DATABASE, *platform.settings.tenant_databases]
            database = service.least_used_database(session, names)
        return service.claim_slug(
            session,
            slug,
            display_name=str(source.get("display_name") or slug),
            plan=str(source.get("plan") or "free"),
            settings=dict(source.get("settings") or {}),
            database=database,
        ).id

    tenant_id = service.write(platform.engine, claim)
    schema = platform.storage.location(tenant_id) if platform.storage.kind == "postgresql" else None
    try:
        revision = platform.storage.restore(
            tenant_id,
            str(archive.manifest.schema_revision),
            lambda connection: load_archive(archive, connection, schema),
        )

        def activate(session: Session) -> Tenant:
            row = session.get_one(Tenant, tenant_id, with_for_update=True)
            if row.status != TenantStatus.PROVISIONING:
                raise lifecycle.ProvisioningAbandoned(row.slug)
            row.storage_revision = revision
            service.set_status(session, row, TenantStatus.ACTIVE)
            service.audit(
                session,
                actor,
                action,
                row,
                slug=row.slug,
                source=str(source.get("slug")),
                file=path.name,
                rows=archive.manifest.total_rows,
                from_revision=archive.manifest.schema_revision,
            )
            return row

        tenant = service.write(platform.engine, activate)
    except BaseException:
        lifecycle.abandon_provisioning(platform, tenant_id)
        raise
    finally:
        platform.registry.invalidate()
    return tenant


def clone_tenant(platform: Platform, slug: str, new_slug: str, *, actor: str = "cli") -> Tenant:
    """Copy tenant ``slug`` into a new tenant ``new_slug`` (a backup restored at once)."""
    with tempfile.TemporaryDirectory(prefix="tenants-clone-") as directory:
        target = Path(directory) / f"{slug}.zip"
        backup_tenant(platform, slug, target, actor=actor)
        return restore_tenant(platform, target, new_slug, actor=actor, action="tenant.clone")
