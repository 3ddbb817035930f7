"""The job system's own periodic work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tenants.jobs.catalog import platform_job
from tenants.jobs.context import JobContext
from tenants.jobs.models import utcnow


@platform_job("jobs.prune_records", every=timedelta(hours=1), max_attempts=3)
def prune_records(ctx: JobContext) -> dict[str, Any]:
    """Delete job records that finished more than JOBS_RETENTION_DAYS ago (in batches)."""
    from tenants.jobs.runtime import runtime_of

    runtime = runtime_of(ctx.platform)
    before = utcnow() - timedelta(days=runtime.settings.retention_days)
    return {"deleted": runtime.store.prune(before)}


@platform_job("platform.sweep_provisioning", every=timedelta(minutes=1), max_attempts=3)
def sweep_provisioning(ctx: JobContext) -> dict[str, Any]:
    """Fail provisionings whose process died (past their lease) and drop what they left.

    A name held by a dead signup is taken over by the next signup for it; this frees the
    names nobody asks for again, and removes their half-built files or schemas, within
    ``PROVISIONING_LEASE_SECONDS`` plus a minute (``tenants.cleanup``).
    """
    from tenants.cleanup import sweep

    report = sweep(ctx.platform, actor="cleanup-job")
    return {"failed": len(report.failed), "dropped": len(report.dropped), "errors": report.errors}


@platform_job("platform.purge_deleted", every=timedelta(hours=1), max_attempts=3)
def purge_deleted(ctx: JobContext) -> dict[str, Any]:
    """Purge tenants deleted more than TENANT_DELETE_GRACE_DAYS ago (``tenants.cleanup``).

    Hourly: a tenant is purged within an hour after its grace period ends.
    """
    from tenants.cleanup import purge_due

    return {"purged": purge_due(ctx.platform, actor="purge-job")}


@platform_job("platform.check_domains", every=timedelta(minutes=1), max_attempts=1)
def check_domains(ctx: JobContext) -> dict[str, Any]:
    """Verify pending custom domains and re-check verified ones (``DOMAIN_CHECK_MINUTES``).

    A domain whose TXT record is gone is failing, and disabled after ``DOMAIN_GRACE_HOURS``
    (``tenants.domains.manager``). Disabled domains wait for their owner's "Check now".
    """
    return dict(ctx.platform.domains.check_due())
