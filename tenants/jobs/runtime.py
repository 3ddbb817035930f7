"""The job runtime of one platform: enqueue, send, and run one delivery of a job.

Enqueuing records the job (the platform database is the truth) and sends a message
``(job id, token)`` through the broker. A worker that receives it starts the job only if
the token is still the job's, opens exactly the job's tenant (after checking in the
registry that it is active), runs the function in a fresh context, and records the end.
"""

from __future__ import annotations

import contextvars
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
from tenants.jobs.identity import TenantStamp, current_tenant_stamp
from tenants.jobs.models import JobState, utcnow
from tenants.jobs.settings import JobSettings
from tenants.jobs.store import Claimed, Dispatch, JobStore, NewJob
from tenants.registry.record import RegistryUnavailable, TenantStatus

if TYPE_CHECKING:
    from tenants.kernel import Platform
    from tenants.registry.record import TenantRecord

log = logging.getLogger(__name__)

#: The one Dramatiq actor: every job travels as ``run(job_id, token)``.
ACTOR = "tenants_job"
#: Modules whose import declares the tenant app's jobs (the reference workspace's).
APP_MODULES = ("tenants.workspace.factory",)
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
        for module in (*APP_MODULES, *settings.imports):
            __import__(module)

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
            definition = catalog.get(claimed.name)
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
        if definition.for_tenants:
            try:
                tenant, app, reason = self._open_tenant(claimed)
            except (SQLAlchemyError, RegistryUnavailable) as error:
                raise PlatformUnavailable(f"cannot check tenant {claimed.tenant_id}") from error
            except Exception as error:  # e.g. the tenant's app cannot be built
                return self._failure(
                    claimed, definition, f"Cannot open the tenant: {_describe(error)}", None
                )
            if reason is not None:
                return _Outcome(JobState.SKIPPED, error=reason, public_error=reason)
        else:
            app = self.platform.console
        context = JobContext(
            job_id=claimed.id,
            attempt=claimed.attempts,
            max_attempts=claimed.max_attempts,
            platform=self.platform,
            tenant=tenant,
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
    ) -> tuple[TenantRecord | None, Flask | None, str | None]:
        """The job's tenant and its app, or the reason the job must not run (fail closed)."""
        tenant_id = claimed.tenant_id
        if tenant_id is None:
            return None, None, "The job names no tenant."
        row = claimed.tenant_row
        if row is None:
            return None, None, f"Tenant {tenant_id} does not exist."
        slug, status, version = row
        if status != TenantStatus.ACTIVE:
            return None, None, f"Tenant “{slug}” is {status}."
        registry = self.platform.registry
        record = registry.get(slug.lower())
        if record is None or record.version < max(version, claimed.tenant_version or 0):
            registry.refresh(force=True)
            record = registry.get(slug.lower())
        if record is None or record.id != tenant_id or not record.is_active:
            return None, None, f"Tenant “{slug}” is not active in the registry."
        app = self.platform.tenant_app(record.slug.lower())
        if app is None or app.config.get("TENANT_ID") != tenant_id:
            return None, None, f"Tenant “{slug}” has no app to run in."
        return record, app, None

    def close(self) -> None:
        self.broker.close()


def _call(definition: JobDefinition, context: JobContext, app: Flask, args: dict[str, Any]) -> Any:
    with app.app_context():
        return definition.function(context, **args)


def _describe(error: BaseException) -> str:
    lines = traceback.format_exception_only(type(error), error)
    return "".join(lines).strip()


# -- one runtime per platform --------------------------------------------------------------

_RUNTIME_KEY = "tenants.jobs.runtime"
_runtime_lock = threading.Lock()


def runtime_of(platform: Platform, settings: JobSettings | None = None) -> JobRuntime:
    """The platform's job runtime, made on first use (from the environment by default)."""
    extensions = platform.console.extensions
    runtime = extensions.get(_RUNTIME_KEY)
    if runtime is None:
        with _runtime_lock:
            runtime = extensions.get(_RUNTIME_KEY)
            if runtime is None:
                runtime = JobRuntime(
                    platform, settings or JobSettings.from_environ(platform.settings)
                )
                extensions[_RUNTIME_KEY] = runtime
    return runtime


def install_runtime(platform: Platform, settings: JobSettings) -> JobRuntime:
    """Make (replacing any) the platform's job runtime with these settings (tools, tests)."""
    with _runtime_lock:
        previous = platform.console.extensions.pop(_RUNTIME_KEY, None)
        if previous is not None:
            previous.close()
        runtime = JobRuntime(platform, settings)
        platform.console.extensions[_RUNTIME_KEY] = runtime
    return runtime


def close_runtime(platform: Platform) -> None:
    with _runtime_lock:
        runtime = platform.console.extensions.pop(_RUNTIME_KEY, None)
    if runtime is not None:
        runtime.close()


def _platform_here(platform: Platform | None) -> Platform:
    if platform is not None:
        return platform
    if has_app_context() and "tenants_platform" in current_app.extensions:
        return current_app.extensions["tenants_platform"]
    from tenants.kernel import current_platform

    return current_platform()


def enqueue(
    definition: JobDefinition,
    *,
    tenant: TenantRecord | None = None,
    platform: Platform | None = None,
    delay: timedelta | float | None = None,
    unique_key: str | None = None,
    **kwargs: Any,
) -> JobHandle:
    """Queue ``definition``: a tenant job in the current tenant app's tenant (or ``tenant``)."""
    stamp: TenantStamp | None = None
    if definition.for_tenants:
        if tenant is not None:
            stamp = TenantStamp(tenant.id, tenant.slug, tenant.version)
        else:
            stamp = current_tenant_stamp()
            if stamp is None:
                raise NoTenantHere(
                    f"Job {definition.name} runs in a tenant, and this code runs in none: "
                    "enqueue it from the tenant's app, or with enqueue_for(tenant)."
                )
    elif tenant is not None:
        raise NoTenantHere(f"Job {definition.name} is a platform job; it takes no tenant.")
    runtime = runtime_of(_platform_here(platform))
    return runtime.enqueue(definition, stamp, kwargs, delay=delay, unique_key=unique_key)
