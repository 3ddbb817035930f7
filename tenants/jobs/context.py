"""What a running job gets as its first argument, and the error it raises for its users."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenants.contract import TenantServices
    from tenants.jobs.store import JobStore
    from tenants.kernel import Platform
    from tenants.registry.record import TenantRecord


class JobError(Exception):
    """A failure whose message the tenant's own people may read (e.g. on an export's page).

    Any other exception is shown to them only as "failed"; its text is for operators.
    Raising it still retries the job while it has attempts left.
    """


@dataclass
class JobContext:
    """One attempt of one job."""

    #: Stable across attempts: the key to make an effect happen once (idempotency key).
    job_id: str
    #: 1 for the first attempt; a job that runs again after its worker died sees 2, 3, ...
    attempt: int
    max_attempts: int
    platform: Platform
    #: The tenant the job runs in; None for a platform job.
    tenant: TenantRecord | None
    #: The tenant app's services (storage engine, links, ``jobs``...); None for a platform
    #: job. A Flask tenant app's job also runs in its app context (``db.session`` works).
    services: TenantServices | None
    _store: JobStore = field(repr=False)
    _token: str = field(repr=False)
    _last_progress: float = field(default=0.0, repr=False)

    def idempotency_key(self, *parts: object) -> str:
        """A key unique to this job (and ``parts``), the same on every attempt."""
        return ":".join([self.job_id, *(str(part) for part in parts)])

    def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Record how far the job is (shown to the tenant); written at most twice a second."""
        now = time.monotonic()
        if not force and total is not None and done < total and now - self._last_progress < 0.5:
            return
        self._last_progress = now
        self._store.progress(self.job_id, self._token, done, total)
