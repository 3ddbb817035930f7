"""Background jobs that know their tenant, on Dramatiq (Redis, or the embedded SQLite queue).

Declare a job with :func:`tenant_job` or :func:`platform_job` and list a tenant app's
jobs in its ``TenantApp(jobs=...)``; a tenant app queues them with
``services.jobs.enqueue(job, **kwargs)`` (the tenant is stamped from its services),
platform code with ``job.enqueue_for(tenant, platform=...)``; run workers with
``flask --app tenants.wsgi jobs worker``. The README's "Background jobs" section explains
the design.
"""

from tenants.jobs import builtin, mail, scheduler  # noqa: F401 - declare the system's own jobs
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
