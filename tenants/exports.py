"""The customer's "Download all data": a background job builds a ZIP, a signed link serves it.

An owner asks from the tenant app (``services.exports.request``); the platform job
``platform.export_tenant`` reads the tenant's storage in one snapshot and writes, under
``INSTANCE_PATH/exports/tenant-N/``, a ZIP with one JSON Lines and one CSV file per
table and a manifest (tenant, schema revision, created at, row counts and SHA-256 per
table). Only what the tenant app's contract lists (``TenantApp.export``) is included:
the workspace leaves out password hashes, session tokens and spent login tokens.

The download link is signed with the platform's secret (itsdangerous) and expires after
``EXPORT_LINK_HOURS``; it names the tenant and the file, so it cannot be bent to another
tenant's file, and it stops working once the tenant is deleted. Requests, finished
exports and downloads are audited. Expired files are removed by the hourly
``platform.prune_exports`` job.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from tenants.backups import write_tenant_archive
from tenants.contract import ExportLink
from tenants.jobs.catalog import platform_job
from tenants.jobs.context import JobContext
from tenants.registry import service
from tenants.registry.models import Tenant, TenantStatus
from tenants.registry.record import TenantRecord
from tenants.storage.archive import KIND_EXPORT, exports_directory

if TYPE_CHECKING:
    from tenants.kernel import Platform

log = logging.getLogger(__name__)

_SALT = "tenants.export-link"
_PENDING = ".pending-"
#: A job that has not finished after this long is not waited for on the owner's page.
PENDING_AT_MOST = timedelta(hours=1)


class ExportNotAvailable(LookupError):
    """The link is unknown or bent (404), or expired, or its tenant or file is gone (410)."""

    def __init__(self, message: str, status: int = 410) -> None:
        super().__init__(message)
        self.status = status


def link_lifetime(platform: Platform) -> timedelta:
    return timedelta(hours=platform.settings.export_link_hours)


def _serializer(platform: Platform) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(platform.settings.secret_key, salt=_SALT)


def signed_url(platform: Platform, tenant_id: int, name: str) -> str:
    token = _serializer(platform).dumps({"t": tenant_id, "f": name})
    return platform.settings.url_for_platform(f"/exports/{token}")


def build_export(platform: Platform, tenant_id: int, requested_by: str) -> Path:
    """Write the tenant's export ZIP (the contract's tables and columns); audited."""
    with Session(platform.engine, expire_on_commit=False) as session:
        tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        raise ExportNotAvailable(f"Tenant {tenant_id} is gone; nothing to export.")
    directory = exports_directory(platform.settings.instance_path, tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = directory / f"{tenant.slug}-export-{stamp}-{secrets.token_hex(4)}.zip"
    include = platform.tenant_app.export
    if include is None:
        raise ExportNotAvailable(
            f"Tenant app {platform.tenant_app.name} declares no export (TenantApp.export)."
        )
    manifest = write_tenant_archive(
        platform, tenant, target, kind=KIND_EXPORT, include=include, with_csv=True
    )

    def record(session: Session) -> None:
        row = session.get_one(Tenant, tenant_id)
        service.audit(
            session,
            requested_by,
            "tenant.export",
            row,
            file=target.name,
            rows=manifest.total_rows,
            omitted=sorted(manifest.omitted),
        )

    service.write(platform.engine, record)
    return target


def open_download(platform: Platform, token: str) -> tuple[Path, str]:
    """The file a download link names (and the tenant's slug); audited.

    Raises ExportNotAvailable with a message for a person when it cannot be served.
    """
    lifetime = link_lifetime(platform)
    try:
        claims = _serializer(platform).loads(token, max_age=int(lifetime.total_seconds()))
    except SignatureExpired:
        raise ExportNotAvailable(
            "This download link has expired. Ask for a new export from the workspace's settings."
        ) from None
    except BadSignature:
        raise ExportNotAvailable("This download link is not valid.", 404) from None
    if not isinstance(claims, dict) or not isinstance(claims.get("t"), int):
        raise ExportNotAvailable("This download link is not valid.", 404)
    name = str(claims.get("f", ""))
    if "/" in name or "\\" in name or name.startswith("."):
        raise ExportNotAvailable("This download link is not valid.", 404)
    tenant_id = claims["t"]
    with Session(platform.engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
            raise ExportNotAvailable("This workspace no longer exists.")
        path = exports_directory(platform.settings.instance_path, tenant_id) / name
        if not path.is_file():
            raise ExportNotAvailable(
                "This export is no longer kept. Ask for a new one from the workspace's settings."
            )
        service.audit(session, "download-link", "tenant.export_download", tenant, file=name)
        session.commit()
        return path, tenant.slug


def prune_exports(platform: Platform, *, now: float | None = None) -> int:
    """Remove export files whose links have expired; return how many."""
    root = Path(platform.settings.instance_path) / "exports"
    if not root.is_dir():
        return 0
    cutoff = (now or time.time()) - link_lifetime(platform).total_seconds()
    removed = 0
    for path in root.glob("tenant-*/*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class PlatformExports:
    """``services.exports`` for one tenant (``tenants.contract.TenantExports``)."""

    def __init__(self, platform: Platform, tenant: TenantRecord) -> None:
        self.platform = platform
        self.tenant = tenant
        self.directory = exports_directory(platform.settings.instance_path, tenant.id)

    def request(self, requested_by: str) -> str:
        """Queue the export job (one at a time per tenant); return its id."""
        for marker in self._markers():
            job_id = marker.name.removeprefix(_PENDING)
            if self._unfinished(job_id, marker):
                return job_id
        handle = export_tenant.enqueue(
            platform=self.platform, tenant_id=self.tenant.id, requested_by=requested_by
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{_PENDING}{handle.id}").touch()

        def record(session: Session) -> None:
            row = session.get_one(Tenant, self.tenant.id)
            service.audit(session, requested_by, "tenant.export_requested", row, job=handle.id)

        service.write(self.platform.engine, record)
        return handle.id

    def pending(self) -> bool:
        return any(
            self._unfinished(marker.name.removeprefix(_PENDING), marker)
            for marker in self._markers()
        )

    def ready(self) -> list[ExportLink]:
        if not self.directory.is_dir():
            return []
        lifetime = link_lifetime(self.platform)
        links = []
        for path in sorted(self.directory.glob("*.zip"), reverse=True):
            try:
                status = path.stat()
            except FileNotFoundError:  # pruned meanwhile
                continue
            made = datetime.fromtimestamp(status.st_mtime, UTC)
            expires = made + lifetime
            if expires <= datetime.now(UTC):
                continue
            links.append(
                ExportLink(
                    name=path.name,
                    url=signed_url(self.platform, self.tenant.id, path.name),
                    created_at=made,
                    expires_at=expires,
                    size=status.st_size,
                )
            )
        return links

    def _markers(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{_PENDING}*"))

    def _unfinished(self, job_id: str, marker: Path) -> bool:
        """Whether the marked job may still finish; a marker that is done is removed."""
        from tenants.jobs.runtime import runtime_of

        try:
            age = time.time() - marker.stat().st_mtime
        except FileNotFoundError:  # the job finished meanwhile and removed it
            return False
        row = runtime_of(self.platform).store.get(job_id)
        if (
            row is None
            or row.state in {"succeeded", "failed", "discarded", "skipped"}
            or (age > PENDING_AT_MOST.total_seconds())
        ):
            marker.unlink(missing_ok=True)
            return False
        return True


@platform_job("platform.export_tenant", max_attempts=3, min_backoff=10.0)
def export_tenant(ctx: JobContext, tenant_id: int, requested_by: str) -> dict[str, Any]:
    """Build one tenant's customer export (``tenants.exports``)."""
    try:
        path = build_export(ctx.platform, tenant_id, requested_by)
    finally:
        marker = exports_directory(ctx.platform.settings.instance_path, tenant_id) / (
            f"{_PENDING}{ctx.job_id}"
        )
        marker.unlink(missing_ok=True)
    return {"file": path.name, "bytes": os.path.getsize(path)}


@platform_job("platform.prune_exports", every=timedelta(hours=1), max_attempts=3)
def prune_exports_job(ctx: JobContext) -> dict[str, Any]:
    """Remove customer exports whose download links have expired."""
    return {"removed": prune_exports(ctx.platform)}
