"""Background jobs that know their tenant, on Dramatiq (Redis, or the embedded SQLite queue).

Declare a job with :func:`tenant_job` or :func:`platform_job`; enqueue it with
``job.enqueue(**kwargs)`` from a tenant app (the tenant is stamped automatically) or
``job.enqueue_for(tenant, ...)``; run workers with ``flask --app tenants.wsgi jobs worker``.
The README's "Background jobs" section explains the design.
"""

from tenants.jobs import builtin, scheduler  # noqa: F401 - declare the system's own jobs
from tenants.jobs.catalog import JobDefinition, platform_job, tenant_job
from tenants.jobs.context import JobContext, JobError
from tenants.jobs.runtime import JobHandle, NoTenantHere, runtime_of

__all__ = [
    "JobContext",
    "JobDefinition",
    "JobError",
    "JobHandle",
    "NoTenantHere",
    "platform_job",
    "runtime_of",
    "tenant_job",
]
