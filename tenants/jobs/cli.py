"""``flask --app tenants.wsgi jobs ...``: run a worker, look at jobs, retry or discard one."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from tenants.jobs import catalog
from tenants.jobs.runtime import runtime_here
from tenants.jobs.store import JobNotFound, JobStateConflict
from tenants.jobs.worker import JobWorker
from tenants.registry.record import TenantStatus
from tenants.settings import SettingsError

jobs_cli = AppGroup("jobs", help="Background jobs: run a worker, list, retry and discard jobs.")


def _runtime() -> Any:
    try:
        return runtime_here()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@jobs_cli.command("worker")
@click.option("--threads", type=int, default=None, help="Jobs run at once (JOBS_WORKER_THREADS).")
@click.option(
    "--shutdown-timeout",
    type=float,
    default=None,
    help="Seconds running jobs get to finish on SIGTERM (JOBS_SHUTDOWN_SECONDS).",
)
@click.option("--no-ticker", is_flag=True, help="Do not fire periodic jobs or sweep here.")
@click.option(
    "--alive-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Touched every second while the worker is healthy (for container health checks).",
)
def worker(
    threads: int | None, shutdown_timeout: float | None, no_ticker: bool, alive_file: Path | None
) -> None:
    """Run jobs until SIGTERM or Ctrl-C; running jobs finish, queued ones stay queued."""
    if threads is not None and threads < 1:
        raise click.ClickException("--threads is at least 1.")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = _runtime()
    job_worker = JobWorker(runtime, threads=threads, ticker=not no_ticker)
    if job_worker.ticker is not None:
        job_worker.ticker.alive_file = alive_file
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        click.echo(f"Stopping: {signal.Signals(signum).name}; running jobs finish first.", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    job_worker.start()
    while not stop.wait(1):
        pass
    job_worker.stop(timeout=shutdown_timeout)
    runtime.close()


@jobs_cli.command("list")
@click.option("--tenant", "slug", default=None, help="Only this tenant's jobs.")
@click.option("--state", "states", multiple=True, help="queued, running, failed, ... (repeat).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def list_jobs(slug: str | None, states: tuple[str, ...], limit: int) -> None:
    """List jobs, newest first."""
    runtime = _runtime()
    tenant_id = _tenant_id(slug) if slug else None
    rows, total = runtime.store.search(states=states, tenant_id=tenant_id, limit=limit)
    if not rows:
        click.echo("No jobs match.")
        return
    click.echo(f"{'ID':<32}  {'TENANT':<20}  {'NAME':<36}  {'STATE':<10}  TRIES  CREATED")
    for row in rows:
        click.echo(
            f"{row.id:<32}  {row.tenant_slug or '(platform)':<20}  {row.name:<36}  "
            f"{row.state:<10}  {row.attempts}/{row.max_attempts:<3}  "
            f"{row.created_at:%Y-%m-%d %H:%M:%S}"
        )
    if total > len(rows):
        click.echo(f"… {total - len(rows)} more; narrow with --tenant or --state.")


@jobs_cli.command("retry")
@click.argument("job_id")
def retry(job_id: str) -> None:
    """Run a failed, skipped or discarded job again."""
    runtime = _runtime()
    try:
        row, dispatches = runtime.store.retry(job_id)
    except (JobNotFound, JobStateConflict) as error:
        raise click.ClickException(str(error)) from None
    runtime.send(dispatches)
    _audit(runtime, "job.retry", row)
    click.echo(f"Job {job_id} ({row.name}) is queued again.")


@jobs_cli.command("discard")
@click.argument("job_id")
def discard(job_id: str) -> None:
    """Never run a queued or failed job."""
    runtime = _runtime()
    try:
        row, dispatches = runtime.store.discard(job_id)
    except (JobNotFound, JobStateConflict) as error:
        raise click.ClickException(str(error)) from None
    runtime.send(dispatches)
    _audit(runtime, "job.discard", row)
    click.echo(f"Job {job_id} ({row.name}) is discarded.")


@jobs_cli.command("run")
@click.argument("name")
@click.option("--tenant", "slug", default=None, help="The tenant (tenant jobs only).")
def run(name: str, slug: str | None) -> None:
    """Queue job NAME now (for a tenant job, for --tenant SLUG)."""
    runtime = _runtime()
    try:
        definition = runtime.job(name)
    except catalog.UnknownJob as error:
        raise click.ClickException(str(error)) from None
    if definition.for_tenants:
        if not slug:
            raise click.ClickException(f"{name} runs in a tenant; add --tenant SLUG.")
        tenant = runtime.platform.registry.get(slug.strip().lower())
        if tenant is None or tenant.status != TenantStatus.ACTIVE:
            raise click.ClickException(f"No active tenant “{slug}”; 'tenants list' shows them.")
        handle = definition.enqueue_for(tenant, platform=runtime.platform)
    else:
        if slug:
            raise click.ClickException(f"{name} is a platform job; it takes no --tenant.")
        handle = definition.enqueue(platform=runtime.platform)
    click.echo(f"Queued {name}: job {handle.id}.")


def _tenant_id(slug: str) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from tenants.registry.models import Tenant

    with Session(_runtime().platform.engine) as session:
        tenant_id = session.execute(
            select(Tenant.id)
            .where(func.lower(Tenant.slug) == slug.strip().lower())
            .order_by(Tenant.id.desc())
        ).scalar()
    if tenant_id is None:
        raise click.ClickException(f"No tenant “{slug}”; 'tenants list --all' shows them.")
    return tenant_id


def _audit(runtime: Any, action: str, row: Any) -> None:
    from sqlalchemy.orm import Session

    from tenants.registry.models import AuditEntry

    with Session(runtime.platform.engine) as session:
        session.add(
            AuditEntry(
                tenant_id=row.tenant_id,
                actor="cli",
                action=action,
                detail={"job": row.id, "name": row.name},
            )
        )
        session.commit()
