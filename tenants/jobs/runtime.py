"""The job runtime of one platform: enqueue, send, and run one delivery of a job.

Enqueuing records the job (the platform database is the truth) and sends a message
``(job id, token)`` through the broker. A worker that receives it starts the job only if
the token is still the job's, opens exactly the job's tenant (after checking in the
registry that it is active), runs the function in a fresh context, and records the end.

Which jobs a platform runs: its own (``tenants.jobs``), those its tenant app lists in
``TenantApp.jobs``, and those declared in the ``JOBS_IMPORTS`` modules. Any other job,
even one declared in this process, is unknown here: a job of another product never runs
in this platform's tenants.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import logging
import os
import socket
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.common import compute_backoff
from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import SQLAlchemyError

from tenants.jobs import catalog
from tenants.jobs.brokers import QUEUE, PlatformUnavailable, make_broker
from tenants.jobs.catalog import JobDefinition, UnknownJob
from tenants.jobs.context import JobContext, JobError
from tenants.jobs.identity import TenantStamp, current_services
from tenants.jobs.models import JobState, utcnow
from tenants.jobs.settings import JobSettings
from tenants.jobs.store import Claimed, Dispatch, JobStore, NewJob
from tenants.registry.record import RegistryUnavailable, TenantStatus

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from tenants.contract import TenantServices
    from tenants.kernel import Platform
    from tenants.registry.record import TenantRecord

log = logging.getLogger(__name__)

#: How often a job held back by its tenant's read-only mode looks again, at most.
HELD_JOB_RECHECK_SECONDS = 30

#: The one Dramatiq actor: every job travels as ``run(job_id, token)``.
ACTOR = "tenants_job"
#: The platform's own jobs (pruning, fan-out) are declared under this package.
SYSTEM_MODULE = "tenants.jobs"
#: Platform modules whose jobs every platform runs (the customer export's and the move's
#: are in ``tenants.exports`` and ``tenants.moves``, imported by the kernel).
SYSTEM_MODULES = (SYSTEM_MODULE, "tenants.exports", "tenants.moves")
#: Shown to a tenant's people when a job failed for a reason that is not theirs to read.
GENERIC_FAILURE = "The job failed; the platform's operators can see why."


class NoTenantHere(RuntimeError):
    """A tenant job was enqueued outside a tenant app without naming the tenant."""


class InvalidJobArguments(TypeError):
    """Job arguments must survive a JSON round trip (they are stored and sent as JSON)."""


@dataclass(frozen=True)
class JobHandle:
    """What enqueuing returns: the job's id (its idempotency key) and whether it is new."""

    id: str
    name: str
    tenant_id: int | None
    created: bool


@dataclass(frozen=True)
class _Outcome:
    state: JobState
    result: Any = None
    error: str | None = None
    public_error: str | None = None
    retry_at: datetime | None = None
    #: False when the job was held back before it could do anything: no attempt spent.
    spent: bool = True


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRuntime:
    """Jobs of one platform: its job table, its broker, and how a delivery runs."""

    def __init__(self, platform: Platform, settings: JobSettings) -> None:
        self.platform = platform
        self.settings = settings
        self.broker = make_broker(settings)
        self.store = JobStore(
            platform.engine,
            tenant_concurrency=settings.tenant_concurrency,
            sender=self._send_one,
        )
        self.actor = dramatiq.Actor(
            self._deliver,
            broker=self.broker,
            actor_name=ACTOR,
            queue_name=QUEUE,
            priority=0,
            options={},
        )
        self.fan_out_batch = settings.fan_out_batch
        for module in settings.imports:
            importlib.import_module(module)

    # -- which jobs this platform runs ----------------------------------------------------

    def runs(self, definition: JobDefinition) -> bool:
        """Whether this platform runs ``definition`` (see the module docstring)."""
        if definition in self.platform.tenant_app.jobs:
            return True
        module = definition.function.__module__
        return any(
            module == name or module.startswith(name + ".")
            for name in (*SYSTEM_MODULES, *self.settings.imports)
        )

    def job(self, name: str) -> JobDefinition:
        """The definition of job ``name``, if this platform runs it; else :class:`UnknownJob`."""
        definition = catalog.get(name)
        if not self.runs(definition):
            raise UnknownJob(name, app=self.platform.tenant_app.name)
        return definition

    def periodic_jobs(self) -> list[JobDefinition]:
        """The periodic jobs this platform fires, by name."""
        return [job for job in catalog.periodic_jobs() if self.runs(job)]

    # -- enqueue ------------------------------------------------------------------------

    def enqueue(
        self,
        definition: JobDefinition,
        stamp: TenantStamp | None,
        args: dict[str, Any],
        *,
        delay: timedelta | float | None = None,
        unique_key: str | None = None,
    ) -> JobHandle:
        if not self.runs(definition):
            raise UnknownJob(definition.name, app=self.platform.tenant_app.name)
        if definition.for_tenants and stamp is None:
            raise NoTenantHere(f"Job {definition.name} runs in a tenant; name the tenant.")
        if not definition.for_tenants and stamp is not None:
            raise NoTenantHere(f"Job {definition.name} is a platform job; it takes no tenant.")
        try:
            stored_args = json.loads(json.dumps(args))
        except (TypeError, ValueError) as error:
            raise InvalidJobArguments(
                f"Arguments of job {definition.name} must be JSON values (str, int, float, "
                f"bool, None, lists and dicts of them): {error}"
            ) from None
        if isinstance(delay, int | float):
            delay = timedelta(seconds=delay)
        run_at = utcnow() + delay if delay else None
        owner = "platform" if stamp is None else str(stamp.id)
        job_id, dispatches, created = self.store.add(
            NewJob(
                name=definition.name,
                args=stored_args,
                max_attempts=definition.max_attempts,
                tenant_id=stamp.id if stamp else None,
                tenant_slug=stamp.slug if stamp else None,
                tenant_version=stamp.version if stamp else None,
                run_at=run_at,
                unique_key=f"{owner}:{unique_key}" if unique_key is not None else None,
            )
        )
        self.send(dispatches)
        return JobHandle(job_id, definition.name, stamp.id if stamp else None, created)

    def _send_one(self, dispatch: Dispatch) -> None:
        message = dramatiq.Message(
            queue_name=QUEUE,
            actor_name=ACTOR,
            args=(dispatch.job_id, dispatch.token),
            kwargs={},
            options={},
            message_id=dispatch.token,
        )
        self.broker.enqueue(message, delay=dispatch.delay_ms() or None)

    def send(self, dispatches: Iterable[Dispatch]) -> None:
        """Send jobs recorded by a committed transaction; confirm each send.

        A failure leaves the job unconfirmed, for the sweeper to send again.
        """
        for dispatch in dispatches:
            if dispatch.sent:
                continue
            try:
                self._send_one(dispatch)
            except Exception:
                log.warning(
                    "Could not send job %s to the queue; a worker will send it again.",
                    dispatch.job_id,
                    exc_info=True,
                )
                continue
            try:
                self.store.confirm(dispatch)
            except SQLAlchemyError:
                # Sent but unconfirmed: the sweeper resends it under a new token and the
                # message sent here becomes stale. Nothing runs twice.
                log.warning("Could not confirm the send of job %s.", dispatch.job_id)

    # -- one delivery -------------------------------------------------------------------

    def _deliver(self, job_id: str, token: str) -> None:
        """The Dramatiq actor: run the job this message stands for, if it still should."""
        try:
            claimed = self.store.claim(job_id, token, worker_name())
        except SQLAlchemyError as error:
            raise PlatformUnavailable(f"cannot start job {job_id}: {error}") from error
        if claimed is None:
            log.debug("Dropping a stale delivery of job %s.", job_id)
            return
        try:
            outcome = self.run(claimed)
        except PlatformUnavailable:
            # The job did not start: hand it back, so that the broker's retry of this
            # delivery is not counted as an attempt (nor taken for a dead worker's).
            try:
                self.store.hand_back(claimed)
            except SQLAlchemyError:
                log.warning("Could not hand job %s back; its next delivery counts.", claimed.id)
            raise
        except Exception as error:  # never leave a started job without an end
            log.exception("The job runtime failed around job %s.", claimed.id)
            outcome = self._failure(claimed, None, _describe(error), None)
        try:
            if outcome.retry_at is not None:
                dispatches = self.store.retry_later(
                    claimed,
                    outcome.retry_at,
                    error=outcome.error or "",
                    public_error=outcome.public_error,
                    spent=outcome.spent,
                )
            else:
                dispatches = self.store.finish(
                    claimed,
                    outcome.state,
                    result=outcome.result,
                    error=outcome.error,
                    public_error=outcome.public_error,
                )
        except SQLAlchemyError as error:
            raise PlatformUnavailable(f"cannot record the end of job {job_id}: {error}") from error
        log.info(
            "Job %s %s (tenant %s, attempt %s): %s",
            claimed.name,
            claimed.id,
            claimed.tenant_slug or "-",
            claimed.attempts,
            "retry later" if outcome.retry_at else outcome.state,
        )
        self.send(dispatches)

    def run(self, claimed: Claimed) -> _Outcome:
        """Run one attempt; every failure becomes an outcome, nothing escapes."""
        if claimed.attempts > claimed.max_attempts:
            return _Outcome(
                JobState.FAILED,
                error=(
                    f"Gave up after {claimed.max_attempts} attempts: its worker stopped "
                    "while running it each time (killed, or the machine went away)."
                ),
                public_error=GENERIC_FAILURE,
            )
        try:
            definition = self.job(claimed.name)
        except UnknownJob as error:
            return self._failure(claimed, None, str(error), None)
        if definition.for_tenants != (claimed.tenant_id is not None):
            return _Outcome(
                JobState.FAILED,
                error=f"Job {claimed.name} is a {definition.scope} job, but the record "
                + ("names a tenant." if claimed.tenant_id is not None else "names no tenant."),
                public_error=GENERIC_FAILURE,
            )
        tenant: TenantRecord | None = None
        services: TenantServices | None = None
        app: WSGIApplication | None
        if definition.for_tenants:
            try:
                tenant, app, services, reason = self._open_tenant(claimed)
            except (SQLAlchemyError, RegistryUnavailable) as error:
                raise PlatformUnavailable(f"cannot check tenant {claimed.tenant_id}") from error
            except Exception as error:  # e.g. the tenant's app cannot be built
                return self._failure(
                    claimed, definition, f"Cannot open the tenant: {_describe(error)}", None
                )
            if reason is not None:
                return _Outcome(JobState.SKIPPED, error=reason, public_error=reason)
            wait = tenant.refuses_writes() if tenant is not None else None
            if definition.writes and wait is not None:
                # An admin's read-only has no end time: look again every so often.
                return _held_back(
                    min(wait, HELD_JOB_RECHECK_SECONDS),
                    f"Waits: tenant “{tenant.slug}” is read-only for now.",  # type: ignore[union-attr]
                )
        else:
            app = self.platform.console
        context = JobContext(
            job_id=claimed.id,
            attempt=claimed.attempts,
            max_attempts=claimed.max_attempts,
            platform=self.platform,
            tenant=tenant,
            services=services,
            _store=self.store,
            _token=claimed.token,
        )
        try:
            # A fresh context: nothing a previous job set (app context, context variables)
            # is visible, and nothing this job sets outlives it.
            result = contextvars.Context().run(_call, definition, context, app, claimed.args)
        except JobError as error:
            return self._failure(claimed, definition, _describe(error), str(error))
        except Exception as error:
            if services is not None and _moved_under(error, services):
                # Its transaction failed whole on the old copy; the next delivery opens
                # the new one (the registry was re-read). Not the job's fault: no attempt.
                return _held_back(1, "Waits: its tenant moved to another database as it ran.")
            return self._failure(claimed, definition, _describe(error), None)
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            log.warning("Job %s returned a value that is not JSON; not kept.", claimed.name)
            result = None
        return _Outcome(JobState.SUCCEEDED, result=result)

    def _failure(
        self,
        claimed: Claimed,
        definition: JobDefinition | None,
        error: str,
        public_error: str | None,
    ) -> _Outcome:
        public = public_error or GENERIC_FAILURE
        if claimed.attempts >= claimed.max_attempts:
            return _Outcome(JobState.FAILED, error=error, public_error=public)
        low = definition.min_backoff if definition else timedelta(seconds=5)
        high = definition.max_backoff if definition else timedelta(hours=1)
        _, backoff_ms = compute_backoff(
            claimed.attempts - 1,
            factor=max(1, int(low.total_seconds() * 1000)),
            max_backoff=max(1, int(high.total_seconds() * 1000)),
        )
        return _Outcome(
            JobState.QUEUED,
            error=error,
            public_error=public,
            retry_at=utcnow() + timedelta(milliseconds=backoff_ms),
        )

    def _open_tenant(
        self, claimed: Claimed
    ) -> tuple[TenantRecord | None, WSGIApplication | None, TenantServices | None, str | None]:
        """The job's tenant, its app and services, or why the job must not run (fail closed)."""
        tenant_id = claimed.tenant_id
        if tenant_id is None:
            return None, None, None, "The job names no tenant."
        row = claimed.tenant_row
        if row is None:
            return None, None, None, f"Tenant {tenant_id} does not exist."
        slug, status, version = row
        if status != TenantStatus.ACTIVE:
            return None, None, None, f"Tenant “{slug}” is {status}."
        registry = self.platform.registry
        record = registry.get(slug.lower())
        if record is None or record.version < max(version, claimed.tenant_version or 0):
            registry.refresh(force=True)
            record = registry.get(slug.lower())
        if record is None or record.id != tenant_id or not record.is_active:
            return None, None, None, f"Tenant “{slug}” is not active in the registry."
        for _ in range(2):
            app = self.platform.tenant_app_for(record.slug.lower())
            if app is None:
                return None, None, None, f"Tenant “{slug}” has no app to run in."
            services = self.platform.services_of(app)
            if services is not None:
                break
        else:  # evicted between the two calls, twice: not the tenant's fault, so retry
            raise RuntimeError(f"The app of tenant “{slug}” left the cache as the job opened it.")
        if services.tenant.id != tenant_id:
            return None, None, None, f"Tenant “{slug}” has no app to run in."
        return record, app, services, None

    def close(self) -> None:
        self.broker.close()


def _held_back(seconds: int, reason: str) -> _Outcome:
    """Queued again after ``seconds``, the attempt not counted: the job did nothing yet."""
    return _Outcome(
        JobState.QUEUED,
        error=reason,
        public_error=reason,
        retry_at=utcnow() + timedelta(seconds=seconds),
        spent=False,
    )


def _moved_under(error: BaseException, services: TenantServices) -> bool:
    """Did a database error come from the tenant's storage moving while the job ran?"""
    if not isinstance(error, SQLAlchemyError):
        return False
    try:
        return services.storage_moved()
    except Exception:  # the registry cannot be read now: an ordinary failure, retried
        return False


def _call(definition: JobDefinition, context: JobContext, app: object, args: dict[str, Any]) -> Any:
    # A Flask tenant app (or the platform's app) gives the job its app context, so
    # ``db.session`` is the tenant's; any other WSGI app's jobs use ``ctx.services``.
    if isinstance(app, Flask):
        with app.app_context():
            return definition.function(context, **args)
    return definition.function(context, **args)


def _describe(error: BaseException) -> str:
    lines = traceback.format_exception_only(type(error), error)
    return "".join(lines).strip()


# -- one runtime per platform --------------------------------------------------------------

#: ``extensions`` key, on the platform's console app, of its :class:`RuntimeSlot`.
_RUNTIME_KEY = "tenants.jobs.runtime"


class RuntimeSlot:
    """Where a platform keeps its job runtime: made on first use, replaced by tests and tools.

    Attached to the platform's console app, so the CLI and the admin pages reach the
    runtime from ``current_app`` (:func:`runtime_here`).
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._runtime: JobRuntime | None = None
        self._lock = threading.Lock()

    def get(self, settings: JobSettings | None = None) -> JobRuntime:
        runtime = self._runtime
        if runtime is None:
            with self._lock:
                runtime = self._runtime
                if runtime is None:
                    runtime = JobRuntime(
                        self.platform,
                        settings or JobSettings.from_environ(self.platform.settings),
                    )
                    self._runtime = runtime
        return runtime

    def replace(self, settings: JobSettings) -> JobRuntime:
        with self._lock:
            previous, self._runtime = self._runtime, None
            if previous is not None:
                previous.close()
            runtime = self._runtime = JobRuntime(self.platform, settings)
        return runtime

    def close(self) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.close()

    def forget(self) -> None:
        """In a forked child: make a new runtime on next use, never the parent's connections."""
        self._lock = threading.Lock()
        self._runtime = None


def attach_runtime(app: Flask, platform: Platform) -> None:
    """Give ``platform`` (whose console app is ``app``) its lazily made job runtime."""
    app.extensions[_RUNTIME_KEY] = RuntimeSlot(platform)


def _slot(app: Flask) -> RuntimeSlot:
    slot = app.extensions.get(_RUNTIME_KEY)
    if not isinstance(slot, RuntimeSlot):
        raise RuntimeError(
            f"{app!r} is not a platform's console app, so it has no job runtime; "
            "pass the platform (runtime_of(platform), enqueue(..., platform=platform))."
        )
    return slot


def runtime_of(platform: Platform, settings: JobSettings | None = None) -> JobRuntime:
    """The platform's job runtime, made on first use (from the environment by default)."""
    return _slot(platform.console).get(settings)


def runtime_here() -> JobRuntime:
    """The job runtime of the platform whose console app is the current app (CLI, pages)."""
    if not has_app_context():
        raise RuntimeError(
            "No platform app is active here; pass the platform (enqueue(..., platform=...))."
        )
    return _slot(current_app._get_current_object()).get()  # type: ignore[attr-defined]


def install_runtime(platform: Platform, settings: JobSettings) -> JobRuntime:
    """Make (replacing any) the platform's job runtime with these settings (tools, tests)."""
    return _slot(platform.console).replace(settings)


def close_runtime(platform: Platform) -> None:
    _slot(platform.console).close()


def forget_runtime_after_fork(platform: Platform) -> None:
    _slot(platform.console).forget()


def enqueue(
    definition: JobDefinition,
    *,
    tenant: TenantRecord | None = None,
    platform: Platform | None = None,
    delay: timedelta | float | None = None,
    unique_key: str | None = None,
    **kwargs: Any,
) -> JobHandle:
    """Queue ``definition``: a tenant job in the current tenant app's tenant (or ``tenant``).

    From a tenant app this is ``services.jobs.enqueue``; from platform code name the
    tenant (``tenant=``) and, outside the platform's own app, the platform.
    """
    if definition.for_tenants and tenant is None:
        services = current_services()
        if services is None:
            raise NoTenantHere(
                f"Job {definition.name} runs in a tenant, and this code runs in none: "
                "enqueue it from the tenant's app, or with enqueue_for(tenant)."
            )
        return services.jobs.enqueue(definition, delay=delay, unique_key=unique_key, **kwargs)
    if not definition.for_tenants and tenant is not None:
        raise NoTenantHere(f"Job {definition.name} is a platform job; it takes no tenant.")
    runtime = runtime_of(platform) if platform is not None else runtime_here()
    stamp = TenantStamp.of(tenant) if tenant is not None else None
    return runtime.enqueue(definition, stamp, kwargs, delay=delay, unique_key=unique_key)


catalog.use_enqueue(enqueue)
