"""What the job tests share: the queue under test (embedded or Redis), workers, polling.

Test modules import the fixtures they use from here. Redis comes from
``TEST_REDIS_URL`` (default the local server); each test uses its own key prefix, so
runs side by side never see each other's messages. Without a server the Redis cases
are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select, text

from tenants.jobs.runtime import JobRuntime, close_runtime, install_runtime
from tenants.jobs.settings import JobSettings
from tenants.jobs.worker import JobWorker
from tenants.kernel import Platform
from tenants.notes.models import Note
from tenants.settings import Settings
from tenants.testing import TEST_SECRET_KEY as TEST_SECRET
from tenants.testing import postgres_required

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        message = f"Redis is not reachable at {url}: {error}"
        if postgres_required():
            pytest.fail(message + " (CI requires it; start the server)")
        pytest.skip(message)
    return url


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def queue_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def make_job_settings(kind: str, tmp_path: Path, **changes: Any) -> JobSettings:
    url = redis_url() if kind == "redis" else f"sqlite:///{tmp_path / 'jobs.db'}"
    base = JobSettings(
        url=url,
        namespace=f"tenants-test-{uuid.uuid4().hex[:12]}",
        redeliver_seconds=2.0,
        poll_ms=20,
        shutdown_seconds=10.0,
        imports=("tests.job_samples",),
        redis_maintenance_per_million=1_000_000,
    )
    return base.with_changes(**changes)


def forget_redis_keys(settings: JobSettings) -> None:
    if not settings.is_redis:
        return
    client = redis.Redis.from_url(settings.url)
    keys = list(client.scan_iter(f"{settings.namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def job_settings(queue_kind: str, tmp_path: Path) -> Iterator[JobSettings]:
    settings = make_job_settings(queue_kind, tmp_path)
    yield settings
    forget_redis_keys(settings)


@pytest.fixture
def jobs(platform: Platform, job_settings: JobSettings) -> Iterator[JobRuntime]:
    """The platform's job runtime on the queue under test (no worker yet)."""
    with platform.engine.begin() as connection:
        connection.execute(text("DELETE FROM job_schedules"))
    runtime = install_runtime(platform, job_settings)
    yield runtime
    close_runtime(platform)


@contextmanager
def running_worker(
    runtime: JobRuntime, threads: int = 1, *, ticker: bool = False
) -> Iterator[JobWorker]:
    worker = JobWorker(runtime, threads=threads, ticker=ticker)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10)


def wait_for(
    check: Callable[[], Any], timeout: float = 20.0, message: str = "", interval: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"still not true after {timeout} s: {check}")
        time.sleep(interval)


def job_state(runtime: JobRuntime, job_id: str) -> str | None:
    row = runtime.store.get(job_id)
    return None if row is None else row.state


def finished(runtime: JobRuntime, job_id: str) -> Any:
    row = runtime.store.get(job_id)
    if row is not None and row.state in {"succeeded", "failed", "skipped", "discarded"}:
        return row
    return None


def note_titles(platform: Platform, tenant_id: int) -> list[str]:
    """A tenant's notes, read from its storage directly (no app, no job code)."""
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(select(Note.title)).scalars())
    finally:
        platform.storage.release(engine)


# -- worker processes -------------------------------------------------------------------


def worker_environment(
    settings: Settings, job_settings: JobSettings, **extra: str
) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("JOBS_", "DATABASE_", "FLASK_", "WORKSPACE_", "CONSOLE_"))
    }
    env.update(
        DATABASE_URL=settings.database_url,
        SECRET_KEY=TEST_SECRET,
        BASE_DOMAIN=settings.base_domain,
        INSTANCE_PATH=str(settings.instance_path),
        REGISTRY_POLL_SECONDS=str(settings.registry_poll_seconds),
        PASSWORD_HASH_METHOD=settings.password_hash_method,
        JOBS_URL=job_settings.url,
        JOBS_NAMESPACE=job_settings.namespace,
        JOBS_REDELIVER_SECONDS=str(job_settings.redeliver_seconds),
        JOBS_POLL_MS=str(job_settings.poll_ms),
        JOBS_IMPORTS=",".join(job_settings.imports),
        JOBS_REDIS_MAINTENANCE_PER_MILLION=str(job_settings.redis_maintenance_per_million),
        JOBS_TENANT_CONCURRENCY=str(job_settings.tenant_concurrency),
        JOBS_FAN_OUT_BATCH=str(job_settings.fan_out_batch),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """``flask --app tenants.wsgi jobs worker`` in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self._out = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "tenants.wsgi", "jobs", "worker", *args],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, timeout: float = 30.0) -> None:
        wait_for(
            lambda: "Job worker started" in self.output() or self.process.poll() is not None,
            timeout,
            f"worker did not start:\n{self.output()}",
        )
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.output()}")

    def kill(self) -> None:
        """kill -9 the whole process group: no handler runs, nothing is handed back."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._out.close()


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(job_settings: JobSettings, *args: str, **env: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(worker_environment(settings, job_settings, **env), log, *args)
        started.append(worker)
        worker.wait_started()
        return worker

    yield start
    for worker in started:
        worker.close()
