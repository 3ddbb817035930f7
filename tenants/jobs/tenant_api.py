"""What a tenant app may know about its own jobs (an export's progress, a mail on its way).

Every function answers for the tenant of the current app only: a job id of another
tenant is as unknown as one that never existed. Failures show only their public text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from tenants.jobs.identity import current_tenant_stamp
from tenants.jobs.models import as_utc
from tenants.jobs.runtime import NoTenantHere, runtime_of

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


def _tenant_id() -> int:
    stamp = current_tenant_stamp()
    if stamp is None:
        raise NoTenantHere("A tenant's jobs can be read only from that tenant's app.")
    return stamp.id


def job_view(job_id: str) -> JobView | None:
    """This tenant's job ``job_id``, or None (unknown, malformed, or another tenant's)."""
    tenant_id = _tenant_id()
    if len(job_id) != 32 or not set(job_id) <= _ID_CHARS:
        return None
    row = runtime_of(current_app.extensions["tenants_platform"]).store.get(job_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    return _view(row)


def recent_jobs(limit: int = 20, names: Sequence[str] = ()) -> list[JobView]:
    """This tenant's newest jobs (optionally only those named), newest first."""
    tenant_id = _tenant_id()
    store = runtime_of(current_app.extensions["tenants_platform"]).store
    rows, _ = store.search(tenant_id=tenant_id, names=names, limit=limit)
    return [_view(row) for row in rows]
