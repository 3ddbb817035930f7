"""What a tenant app may do with its own jobs: ``services.jobs`` (:class:`TenantJobs`).

Enqueue one of the app's jobs (the tenant is stamped from the services, never passed
by the caller), follow one (an export's progress, a mail on its way), list the recent
ones. Every method answers for the services' tenant only: a job id of another tenant is
as unknown as one that never existed. Failures show only their public text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tenants.jobs.catalog import JobDefinition
from tenants.jobs.identity import TenantStamp
from tenants.jobs.models import as_utc
from tenants.jobs.runtime import JobHandle, JobRuntime, NoTenantHere

if TYPE_CHECKING:
    from tenants.registry.record import TenantRecord

_ID_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class JobView:
    id: str
    name: str
    state: str
    attempts: int
    max_attempts: int
    progress_done: int | None
    progress_total: int | None
    #: Why it failed or was skipped, in words meant for the tenant's people.
    error: str | None
    result: Any
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state in {"succeeded", "failed", "skipped", "discarded"}

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return max(0, min(100, round(100 * (self.progress_done or 0) / self.progress_total)))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "progress": {"done": self.progress_done, "total": self.progress_total},
            "percent": self.percent,
            "error": self.error,
            "result": self.result,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def _view(row: Any) -> JobView:
    return JobView(
        id=row.id,
        name=row.name,
        state=row.state,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        error=row.public_error if row.state in {"failed", "skipped", "queued"} else None,
        result=row.result if row.state == "succeeded" else None,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at),
    )


class TenantJobs:
    """One tenant's background jobs, as its app sees them (``TenantServices.jobs``).

    The platform makes one per services object; the job runtime behind it is made on
    first use, so an app that never touches jobs never connects to the queue.
    """

    def __init__(self, tenant: TenantRecord, runtime: Callable[[], JobRuntime]) -> None:
        self.tenant = tenant
        self._runtime = runtime

    def enqueue(
        self,
        job: JobDefinition | str,
        /,
        *,
        delay: timedelta | float | None = None,
        unique_key: str | None = None,
        **arguments: Any,
    ) -> JobHandle:
        """Queue ``job`` (a definition of this app's, or its name) in this tenant.

        ``arguments`` are passed to the job (JSON values); ``delay`` (seconds or a
        timedelta) starts it later; a second enqueue with the same ``unique_key`` returns
        the first job instead of adding one.
        """
        runtime = self._runtime()
        definition = runtime.job(job.name if isinstance(job, JobDefinition) else job)
        if not definition.for_tenants:
            raise NoTenantHere(
                f"Job {definition.name} is a platform job; a tenant app queues only its "
                "tenant jobs (@tenant_job)."
            )
        return runtime.enqueue(
            definition, TenantStamp.of(self.tenant), arguments, delay=delay, unique_key=unique_key
        )

    def get(self, job_id: str) -> JobView | None:
        """This tenant's job ``job_id``, or None (unknown, malformed, or another tenant's)."""
        if len(job_id) != 32 or not set(job_id) <= _ID_CHARS:
            return None
        row = self._runtime().store.get(job_id)
        if row is None or row.tenant_id != self.tenant.id:
            return None
        return _view(row)

    def list_own(self, limit: int = 20, names: Sequence[str] = ()) -> list[JobView]:
        """This tenant's newest jobs (optionally only those named), newest first."""
        rows, _ = self._runtime().store.search(tenant_id=self.tenant.id, names=names, limit=limit)
        return [_view(row) for row in rows]

    def __repr__(self) -> str:
        return f"<TenantJobs of {self.tenant.slug}>"
