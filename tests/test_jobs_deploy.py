"""How workers are deployed: the compose service, its health check, settings, pinned deps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tenants.jobs.settings import JobSettings, default_url
from tenants.settings import Settings, SettingsError
from tests.jobs_support import (  # noqa: F401 - fixtures
    WorkerProcess,
    make_job_settings,
    start_worker,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_workers_from_the_app_image_on_the_redis_queue(
    compose: dict[str, Any],
) -> None:
    app, worker = compose["services"]["app"], compose["services"]["worker"]
    assert worker["build"] == app["build"] == "."
    assert worker["command"][:5] == ["flask", "--app", "tenants.wsgi", "jobs", "worker"]
    assert app["environment"]["JOBS_URL"] == worker["environment"]["JOBS_URL"]
    assert worker["environment"]["JOBS_URL"].startswith("redis://redis:6379/")
    # Not the rate limits' database: a FLUSHDB of one never empties the other.
    assert worker["environment"]["JOBS_URL"] != app["environment"]["RATELIMIT_STORAGE_URL"]
    for name in ("DATABASE_URL", "SECRET_KEY", "BASE_DOMAIN", "PUBLIC_SCHEME", "PUBLIC_PORT"):
        assert worker["environment"][name] == app["environment"][name]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["app"]["condition"] == "service_healthy"
    assert worker["environment"]["MIGRATE_ON_START"] == "0"
    assert "ports" not in worker and "container_name" not in worker
    assert int(worker["stop_grace_period"].rstrip("s")) > JobSettings("x").shutdown_seconds


def test_the_workers_health_check_passes_while_it_runs_and_fails_without_it(
    settings: Settings,
    platform: object,
    start_worker,  # noqa: F811
    tmp_path: Path,
    compose: dict[str, Any],
) -> None:
    alive = tmp_path / "alive"
    command = compose["services"]["worker"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    check = command[3].replace("/tmp/jobs-worker.alive", str(alive))

    def healthy() -> bool:
        return subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0

    assert not healthy()
    worker: WorkerProcess = start_worker(
        make_job_settings("embedded", tmp_path), "--alive-file", str(alive)
    )
    wait_for(healthy, 10, worker.output())
    assert worker.terminate() == 0


def test_job_settings_default_to_the_embedded_queue_and_refuse_nonsense(tmp_path: Path) -> None:
    platform_settings = Settings(database_url=f"sqlite:///{tmp_path / 'platform.db'}")
    settings = JobSettings.from_environ(platform_settings, {})
    assert settings.url == f"sqlite:///{tmp_path / 'jobs.db'}" == default_url(platform_settings)
    assert not settings.is_redis and settings.tenant_concurrency == 8
    postgres = Settings(
        database_url="postgresql+psycopg://db/platform", instance_path=tmp_path / "instance"
    )
    assert (
        JobSettings.from_environ(postgres, {}).url == f"sqlite:///{tmp_path / 'instance'}/jobs.db"
    )
    redis = JobSettings.from_environ(
        platform_settings,
        {
            "JOBS_URL": "redis://cache:6379/1",
            "JOBS_TENANT_CONCURRENCY": "2",
            "JOBS_IMPORTS": "a, b",
        },
    )
    assert redis.is_redis and redis.tenant_concurrency == 2 and redis.imports == ("a", "b")
    for environ, message in [
        ({"JOBS_URL": "amqp://rabbit"}, "JOBS_URL='amqp://rabbit' is not a queue"),
        ({"JOBS_TENANT_CONCURRENCY": "0"}, "is below 1"),
        ({"JOBS_REDELIVER_SECONDS": "soon"}, "is not a number"),
        ({"JOBS_WORKER_THREADS": "2.5"}, "is not a whole number"),
    ]:
        with pytest.raises(SettingsError, match=message):
            JobSettings.from_environ(platform_settings, environ)


def test_the_worker_command_says_what_is_wrong_with_its_settings(
    settings: Settings, platform: object, tmp_path: Path
) -> None:
    from tests.jobs_support import worker_environment

    env = worker_environment(settings, make_job_settings("embedded", tmp_path))
    env["JOBS_URL"] = "amqp://rabbit"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tenants.wsgi", "jobs", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Error: JOBS_URL='amqp://rabbit' is not a queue this platform runs on" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_job_tables_match_their_migration(platform: object) -> None:
    """The models of ``jobs`` and ``job_schedules`` and revision 0004 agree, on both backends."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SAWarning

    from tenants.jobs.models import JobRecord, JobSchedule
    from tenants.registry.models import RegistryBase

    with platform.engine.begin() as connection:  # type: ignore[attr-defined]
        context = MigrationContext.configure(connection)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
            diff = compare_metadata(context, RegistryBase.metadata)
    ours = {JobRecord.__tablename__, JobSchedule.__tablename__}
    about_ours = [d for d in diff if ours & {getattr(x, "name", None) for x in _tables_of(d)}]
    assert about_ours == []


def _tables_of(change: Any) -> list[Any]:
    """The table objects a compare_metadata change refers to (they come nested, or in tuples)."""
    found: list[Any] = []
    items = change if isinstance(change, list) else [change]
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            table = getattr(part, "table", None)
            if table is not None:
                found.append(table)
            elif hasattr(part, "columns") and hasattr(part, "name"):
                found.append(part)
    return found
