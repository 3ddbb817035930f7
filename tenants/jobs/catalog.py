"""Declaring jobs: ``@tenant_job`` and ``@platform_job`` put a function in the catalog.

A job is a plain function ``fn(ctx, **kwargs)`` with a unique name. The name, not the
function, is what a job record stores, so renaming a job function is harmless while
renaming the job is a migration (old records name the old job). Declarations carry
the retry policy and, for periodic jobs, the period.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenants.jobs.context import JobContext
    from tenants.jobs.runtime import JobHandle
    from tenants.kernel import Platform
    from tenants.registry.record import TenantRecord

JobFunction = Callable[..., Any]

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class JobDeclarationError(ValueError):
    """A job declaration is malformed or its name is taken; the message says how to fix it."""


class UnknownJob(LookupError):
    """No job by this name is declared in this process's code, or this platform does not run it."""

    def __init__(self, name: str, *, app: str | None = None) -> None:
        if app is None:
            message = (
                f"No job named “{name}” is declared in this version of the code; deploy the "
                "code that declares it (list it in the tenant app's TenantApp(jobs=...), or its "
                "module in JOBS_IMPORTS), or discard the job."
            )
        else:
            message = (
                f"Job “{name}” is not one of the jobs of tenant app “{app}”: add it to its "
                "TenantApp(jobs=...) (or its module to JOBS_IMPORTS), or discard the job."
            )
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Periodic:
    """Fire once per ``every``, at ``offset`` into each period (UTC, from the epoch)."""

    every: timedelta
    offset: timedelta = timedelta(0)

    def period_at(self, epoch_seconds: float) -> int:
        """The number of the period that contains ``epoch_seconds``."""
        return int((epoch_seconds - self.offset.total_seconds()) // self.every.total_seconds())


@dataclass(frozen=True)
class JobDefinition:
    name: str
    function: JobFunction
    #: "tenant": runs inside one tenant's app; "platform": runs in the platform app.
    scope: str
    max_attempts: int = 5
    #: Backoff before retry n (1, 2, ...): min_backoff * 2**(n-1), with jitter, at most max_backoff.
    min_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(hours=1)
    periodic: Periodic | None = None
    #: Whether the job writes its tenant's storage. While the tenant refuses writes
    #: (read-only, or a move's lease) such a job waits, its attempt not spent; a job that
    #: only reads or sends mail declares ``writes=False`` and runs on.
    writes: bool = True

    @property
    def for_tenants(self) -> bool:
        return self.scope == "tenant"

    # -- enqueuing: the runtime does the work; these read the way callers think ------

    def enqueue(self, **kwargs: Any) -> JobHandle:
        """Queue this job. A tenant job takes the current tenant app's tenant (its services).

        Keyword options (not passed to the job): ``delay`` (seconds or timedelta) and
        ``unique_key`` (a second enqueue with the same key returns the first job).
        """
        return _queue(self, **kwargs)

    def enqueue_for(
        self, tenant: TenantRecord, *, platform: Platform | None = None, **kwargs: Any
    ) -> JobHandle:
        """Queue this tenant job for ``tenant`` explicitly (from outside its app)."""
        return _queue(self, tenant=tenant, platform=platform, **kwargs)

    def __call__(self, ctx: JobContext, **kwargs: Any) -> Any:
        return self.function(ctx, **kwargs)


_catalog: dict[str, JobDefinition] = {}
_lock = threading.Lock()
#: How definitions are queued: ``tenants.jobs.runtime.enqueue``, registered by that module
#: when it is imported (it depends on this one, so this one must not import it).
_enqueue: Callable[..., JobHandle] | None = None


def use_enqueue(function: Callable[..., JobHandle]) -> None:
    global _enqueue
    _enqueue = function


def _queue(definition: JobDefinition, **kwargs: Any) -> JobHandle:
    if _enqueue is None:
        raise RuntimeError("Import tenants.jobs (the job runtime) before queuing jobs.")
    return _enqueue(definition, **kwargs)


def _declare(
    scope: str,
    name: str,
    *,
    max_attempts: int,
    min_backoff: timedelta | float,
    max_backoff: timedelta | float,
    every: timedelta | None,
    offset: timedelta,
    writes: bool = True,
) -> Callable[[JobFunction], JobDefinition]:
    if not _NAME.match(name) or len(name) > 120:
        raise JobDeclarationError(
            f"Job name {name!r} must be dotted lower-case words, e.g. 'workspace.cleanup'."
        )
    if max_attempts < 1:
        raise JobDeclarationError(f"Job {name}: max_attempts is at least 1.")
    low = min_backoff if isinstance(min_backoff, timedelta) else timedelta(seconds=min_backoff)
    high = max_backoff if isinstance(max_backoff, timedelta) else timedelta(seconds=max_backoff)
    if every is not None and every < timedelta(seconds=1):
        raise JobDeclarationError(f"Job {name}: a period is at least one second.")

    def register(function: JobFunction) -> JobDefinition:
        definition = JobDefinition(
            name=name,
            function=function,
            scope=scope,
            max_attempts=max_attempts,
            min_backoff=low,
            max_backoff=high,
            periodic=Periodic(every, offset) if every is not None else None,
            writes=writes,
        )
        with _lock:
            existing = _catalog.get(name)
            if existing is not None and existing.function is not function:
                # Reloading the same module (tests, the reloader) redeclares the same job.
                same_place = (existing.function.__module__, existing.function.__qualname__) == (
                    function.__module__,
                    function.__qualname__,
                )
                if not same_place:
                    raise JobDeclarationError(
                        f"Job name “{name}” is taken by {existing.function.__module__}."
                        f"{existing.function.__qualname__}; choose another name."
                    )
            _catalog[name] = definition
        return definition

    return register


def tenant_job(
    name: str,
    *,
    max_attempts: int = 5,
    min_backoff: timedelta | float = 5.0,
    max_backoff: timedelta | float = 3600.0,
    every: timedelta | None = None,
    offset: timedelta = timedelta(0),
    writes: bool = True,
) -> Callable[[JobFunction], JobDefinition]:
    """Declare a job that runs inside one tenant's app (``db.session`` is that tenant's).

    With ``every``, it is also periodic: once per period, one job per active tenant.
    ``writes=False`` says it only reads the tenant's storage (or sends mail): it runs
    while the tenant is read-only, where a writing job waits until it is writable.
    """
    return _declare(
        "tenant",
        name,
        max_attempts=max_attempts,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        every=every,
        offset=offset,
        writes=writes,
    )


def platform_job(
    name: str,
    *,
    max_attempts: int = 5,
    min_backoff: timedelta | float = 5.0,
    max_backoff: timedelta | float = 3600.0,
    every: timedelta | None = None,
    offset: timedelta = timedelta(0),
) -> Callable[[JobFunction], JobDefinition]:
    """Declare a job that belongs to no tenant (it runs in the platform app)."""
    return _declare(
        "platform",
        name,
        max_attempts=max_attempts,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        every=every,
        offset=offset,
    )


def get(name: str) -> JobDefinition:
    try:
        return _catalog[name]
    except KeyError:
        raise UnknownJob(name) from None


def all_jobs() -> Mapping[str, JobDefinition]:
    with _lock:
        return dict(_catalog)


def forget(name: str) -> None:
    """Remove a declaration (tests that declare jobs of their own clean up with it)."""
    with _lock:
        _catalog.pop(name, None)


def periodic_jobs() -> list[JobDefinition]:
    return sorted(
        (job for job in all_jobs().values() if job.periodic is not None), key=lambda j: j.name
    )
