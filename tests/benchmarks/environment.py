"""Throw-away platforms for the benchmarks: databases, tenants, logged-in session cookies.

Each section gets its own SQLite directory or PostgreSQL database, created here and
removed afterwards, so figures do not disturb each other (or the test suite).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, session
from flask_wtf.csrf import generate_csrf

from tenants import lifecycle
from tenants.kernel import Platform
from tenants.settings import Settings
from tenants.storage import migrations

BASE_DOMAIN = "bench.test"
SECRET_KEY = "benchmark-secret-key-0123456789abcdef"
PASSWORD = "benchmark-password"
#: Every benchmark client says this, so Flask-Login's session identifier always matches.
USER_AGENT = "tenants-benchmark/1"
#: Quick hashing for tenants that are set-up, not measured (the signup figure uses the default).
FAST_HASH = "pbkdf2:sha256:1000"
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)


def host_of(slug: str | None) -> str:
    return BASE_DOMAIN if slug is None else f"{slug}.{BASE_DOMAIN}"


def make_settings(database_url: str, instance_path: Path, **changes: Any) -> Settings:
    settings = Settings(
        database_url=database_url,
        base_domain=BASE_DOMAIN,
        secret_key=SECRET_KEY,
        instance_path=instance_path,
        # In-process figures measure dispatch, not logging (figure 9 measures the log,
        # through gunicorn): no line per request on this script's stdout.
        request_log="off",
    )
    return settings.with_changes(**changes) if changes else settings


def server_environ(database_url: str, instance_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a gunicorn serving the platform over ``database_url``."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WORKSPACE_", "CONSOLE_", "TENANT_", "DATABASE_"))
    }
    environ.update(
        DATABASE_URL=database_url,
        BASE_DOMAIN=BASE_DOMAIN,
        SECRET_KEY=SECRET_KEY,
        INSTANCE_PATH=str(instance_path),
        FLASK_DEBUG="0",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        **extra,
    )
    return environ


def postgres_available() -> str | None:
    """None if the PostgreSQL server answers, else why not."""
    engine = sa.create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as error:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {str(error.orig).strip()}"
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A new PostgreSQL database with the platform tables; dropped afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"tenants_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    try:
        engine = sa.create_engine(rendered)
        with engine.begin() as connection:
            migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
        engine.dispose()
        yield rendered
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def sqlite_database(label: str) -> Iterator[str]:
    """A new SQLite platform database (tenant files beside it); removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"tenants-bench-{label}-") as directory:
        url = f"sqlite:///{Path(directory) / 'platform.db'}"
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
        engine.dispose()
        yield url


@contextlib.contextmanager
def database(backend: str, label: str) -> Iterator[str]:
    manager = postgres_database(label) if backend == "postgres" else sqlite_database(label)
    with manager as url:
        yield url


@contextlib.contextmanager
def open_platform(database_url: str, **changes: Any) -> Iterator[Platform]:
    with tempfile.TemporaryDirectory(prefix="tenants-bench-instance-") as instance:
        platform = Platform(make_settings(database_url, Path(instance), **changes))
        try:
            yield platform
        finally:
            platform.close()


def provision(
    platform: Platform, slug: str, name: str | None = None
) -> lifecycle.ProvisionedTenant:
    return lifecycle.provision_tenant(
        platform,
        lifecycle.NewTenant(
            slug=slug,
            display_name=name or slug.replace("-", " ").title(),
            owner_email=f"owner@{slug}.test",
            owner_password=PASSWORD,
        ),
        actor="benchmark",
    )


def request_context_kwargs(host: str) -> dict[str, Any]:
    return {
        "base_url": f"http://{host}/",
        "headers": {"User-Agent": USER_AGENT},
        "environ_base": {"REMOTE_ADDR": "127.0.0.1"},
    }


def signed_session_cookie(app: Flask, host: str, log_in: Callable[[], None]) -> str:
    """The session cookie ``app`` would set after ``log_in()`` and a page with a form.

    The real login code of the app runs (Flask-Login, the CSRF token), so the cookie is
    exactly what a browser would send back; no password hashing is involved.
    """
    with app.test_request_context("/", **request_context_kwargs(host)):
        log_in()
        generate_csrf()
        return app.session_interface.get_signing_serializer(app).dumps(dict(session))


def owner_session_cookie(app: Flask, host: str) -> str:
    """A logged-in session cookie of the workspace owner, made by the workspace's own code."""
    from tenants.accounts.auth import start_session
    from tenants.accounts.extensions import db
    from tenants.accounts.models import Role, User

    def log_in() -> None:
        owner = db.session.execute(sa.select(User).where(User.role == Role.OWNER)).scalar_one()
        start_session(owner)

    return signed_session_cookie(app, host, log_in)


def tenant_session_cookie(platform: Platform, slug: str) -> str:
    """A logged-in session cookie of ``slug``'s owner, made by the tenant app itself."""
    app = platform.tenant_app_for(slug)
    if app is None:
        raise RuntimeError(f"tenant {slug} is not active")
    return owner_session_cookie(app, host_of(slug))


def cookie_header(cookie: str, name: str = "session") -> str:
    return f"{name}={cookie}"


def wsgi_call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app as a server would; return status, headers and the body."""
    captured: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, headers]
        return lambda data: None

    result = app(dict(environ), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured[0], captured[1], body
