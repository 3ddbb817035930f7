"""Figure 9, background jobs: enqueue-to-start latency, throughput with 2 worker processes,
and fairness (another tenant's job while one tenant has 10,000 queued), on the embedded
queue (SQLite platform database) and on Redis (PostgreSQL platform database).

Workers are real ``flask --app tenants.wsgi jobs worker`` processes (4 threads each, no
ticker). Times come from the job records (``created_at`` → ``started_at`` → ``finished_at``),
written by the runtime itself. Each job opens its tenant's app and runs one query.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, insert, select

from tenants.jobs.models import JobRecord, as_utc, utcnow
from tenants.jobs.runtime import JobRuntime, install_runtime
from tenants.jobs.settings import JobSettings
from tenants.jobs.store import new_id
from tests.benchmarks.environment import database, open_platform, provision, server_environ
from tests.benchmarks.harness import Context, die_with_parent, percentile

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get(
    "BENCH_REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
)
WORKERS = 2
THREADS = 4
JOB = "bench.count_notes"


def jobs(ctx: Context) -> None:
    for kind, backend in (("embedded", "sqlite"), ("redis", "postgres")):
        if backend == "postgres" and ctx.postgres_missing:
            _skip(ctx, kind, f"skipped: {ctx.postgres_missing}")
            continue
        if kind == "redis":
            try:
                redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
            except redis.RedisError as error:
                _skip(ctx, kind, f"skipped: Redis not reachable at {REDIS_URL}: {error}")
                continue
        ctx.log(f"  jobs on the {kind} queue ...")
        _measure(ctx, kind, backend)


def _skip(ctx: Context, kind: str, note: str) -> None:
    for key in (
        f"latency_p50_{kind}",
        f"latency_p95_{kind}",
        f"throughput_{kind}",
        f"fairness_{kind}",
    ):
        ctx.figures[f"jobs.{key}"].note = note


def _measure(ctx: Context, kind: str, backend: str) -> None:
    with (
        database(backend, f"jobs_{kind}") as url,
        open_platform(url, password_hash_method="pbkdf2:sha256:1000") as platform,
        tempfile.TemporaryDirectory(prefix="tenants-bench-jobs-") as directory,
    ):
        settings = JobSettings(
            url=REDIS_URL if kind == "redis" else f"sqlite:///{Path(directory) / 'jobs.db'}",
            namespace=f"tenants-bench-{uuid.uuid4().hex[:10]}",
            imports=("tests.benchmarks.job_samples",),
        )
        runtime = install_runtime(platform, settings)
        tenants = [provision(platform, f"t{i:02}") for i in range(ctx.pick(8, 20))]
        flood, other = provision(platform, "flood"), provision(platform, "other")
        try:
            with _workers(url, Path(directory), settings):
                _latency(ctx, kind, runtime, tenants)
                _throughput(ctx, kind, runtime, tenants)
                _fairness(ctx, kind, runtime, flood, other)
        finally:
            runtime.close()
            if settings.is_redis:
                client = redis.Redis.from_url(REDIS_URL)
                keys = list(client.scan_iter(f"{settings.namespace}:*", count=1000))
                if keys:
                    client.delete(*keys)


@contextlib.contextmanager
def _workers(url: str, instance: Path, settings: JobSettings) -> Iterator[None]:
    env = server_environ(
        url,
        instance,
        JOBS_URL=settings.url,
        JOBS_NAMESPACE=settings.namespace,
        JOBS_IMPORTS=",".join(settings.imports),
        JOBS_WORKER_THREADS=str(THREADS),
    )
    logs = [instance / f"worker-{n}.log" for n in range(WORKERS)]
    processes = []
    for log in logs:
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "flask",
                        "--app",
                        "tenants.wsgi",
                        "jobs",
                        "worker",
                        "--no-ticker",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - kill the workers with the run
                )
            )
    deadline = time.monotonic() + 60
    while not all("Job worker started" in log.read_text() for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError("job workers did not start:\n" + logs[0].read_text()[-2000:])
        time.sleep(0.1)
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _row(runtime: JobRuntime, job_id: str) -> Any:
    return runtime.store.get(job_id)


def _wait_finished(runtime: JobRuntime, job_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _row(runtime, job_id)
        if row is not None and row.finished_at is not None:
            return row
        time.sleep(0.005)
    raise RuntimeError(f"job {job_id} did not finish in {timeout} s")


def _latency(ctx: Context, kind: str, runtime: JobRuntime, tenants: list[Any]) -> None:
    from tenants.jobs import catalog

    definition = catalog.get(JOB)
    samples = []
    for n in range(ctx.pick(10, 200)):
        tenant = runtime.platform.registry.get(tenants[n % len(tenants)].slug)
        handle = definition.enqueue_for(tenant, platform=runtime.platform)
        row = _wait_finished(runtime, handle.id)
        samples.append((as_utc(row.started_at) - as_utc(row.created_at)).total_seconds() * 1000)
        time.sleep(random.uniform(0, 0.05))  # idle gaps fall anywhere in the workers' polling
    ctx.figures[f"jobs.latency_p50_{kind}"].value = percentile(samples, 0.5)
    ctx.figures[f"jobs.latency_p95_{kind}"].value = percentile(samples, 0.95)
    ctx.figures[f"jobs.latency_p95_{kind}"].detail = {"samples": len(samples)}


def _bulk_queue(runtime: JobRuntime, tenant: Any, count: int) -> None:
    """Record ``count`` held jobs of one tenant at once (set-up, not measured), then release."""
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant.id,
            "tenant_slug": tenant.slug,
            "tenant_version": 0,
            "name": JOB,
            "args": {},
            "state": "queued",
            "attempts": 0,
            "max_attempts": 1,
            "run_at": now,
            "created_at": now + timedelta(microseconds=n),
            "updated_at": now,
        }
        for n in range(count)
    ]
    with runtime.platform.engine.begin() as connection:
        for start in range(0, count, 1000):
            connection.execute(insert(JobRecord.__table__), rows[start : start + 1000])
    runtime.send(runtime.store.release(tenant.id))


def _unfinished(runtime: JobRuntime) -> int:
    with runtime.platform.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(JobRecord).where(JobRecord.finished_at.is_(None))
        ).scalar_one()


def _throughput(ctx: Context, kind: str, runtime: JobRuntime, tenants: list[Any]) -> None:
    total = ctx.pick(240, 4000)
    for tenant in tenants:
        _bulk_queue(runtime, tenant, total // len(tenants))
    deadline = time.monotonic() + 300
    while _unfinished(runtime) and time.monotonic() < deadline:
        time.sleep(0.1)
    with runtime.platform.engine.connect() as connection:
        first, last, done = connection.execute(
            select(
                func.min(JobRecord.started_at), func.max(JobRecord.finished_at), func.count()
            ).where(JobRecord.name == JOB, JobRecord.state == "succeeded")
        ).one()
    ran = (as_utc(last) - as_utc(first)).total_seconds()
    figure = ctx.figures[f"jobs.throughput_{kind}"]
    figure.value = total / ran
    figure.detail = {"jobs": total, "tenants": len(tenants), "seconds": round(ran, 2), "done": done}


def _fairness(ctx: Context, kind: str, runtime: JobRuntime, flood: Any, other: Any) -> None:
    from tenants.jobs import catalog

    size = ctx.pick(1000, 10_000)
    _bulk_queue(runtime, flood, size)
    # Let the flood run for a moment: the other tenant arrives at a busy system.
    deadline = time.monotonic() + 60
    while size - _unfinished(runtime) < ctx.pick(50, 200) and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting = _unfinished(runtime)
    handle = catalog.get(JOB).enqueue_for(
        runtime.platform.registry.get(other.slug), platform=runtime.platform
    )
    row = _wait_finished(runtime, handle.id)
    figure = ctx.figures[f"jobs.fairness_{kind}"]
    figure.value = (as_utc(row.started_at) - as_utc(row.created_at)).total_seconds()
    figure.detail = {"flood": size, "flood_jobs_waiting_when_enqueued": waiting}
    figure.note = f"{waiting:,} of the flood's jobs were waiting"
