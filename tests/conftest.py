"""Fixtures: a real platform on SQLite and on PostgreSQL.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server). The session
creates a throw-away database, migrates it once, and each test starts from an empty
registry with no tenant schemas. Without a server the PostgreSQL tests are skipped,
except in CI (``CI`` or ``REQUIRE_POSTGRES`` set), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from tenants import lifecycle
from tenants.kernel import Platform, install_platform
from tenants.settings import Settings
from tenants.storage import migrations

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TEST_SECRET = "test-secret-key-0123456789abcdef"
#: Fast hashing in tests; the production default (scrypt) is tested on its own.
FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = "correct-horse-battery"


def postgres_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("REQUIRE_POSTGRES"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, with the platform schema."""
    admin_url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"tenants_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {admin_url}: {error.orig}"
        if postgres_required():
            pytest.fail(message + " (CI requires it; start the server)")
        pytest.skip(message)
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def reset_postgres(url: str) -> None:
    """Empty the registry and drop every tenant schema: each test starts clean."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        schemas = connection.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
        ).scalars()
        for schema in schemas:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        connection.exec_driver_sql(
            "TRUNCATE audit_log, platform_admins, tenants RESTART IDENTITY CASCADE"
        )
        connection.exec_driver_sql("UPDATE registry_clock SET generation = 0")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'platform.db'}"


@pytest.fixture
def routing() -> str:
    """Override in a test module (or parametrize) for path routing."""
    return "subdomain"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, routing: str) -> Settings:
    return Settings(
        database_url=database_url,
        base_domain="example.com",
        secret_key=TEST_SECRET,
        tenant_routing=routing,
        instance_path=tmp_path,
        registry_poll_seconds=0.2,
        password_hash_method=FAST_HASH,
    )


@pytest.fixture
def make_platform(settings: Settings) -> Iterator[Callable[..., Platform]]:
    """Build platforms over the test database (several share it, like processes)."""
    built: list[Platform] = []

    def make(**changes: object) -> Platform:
        platform = Platform(settings.with_changes(**changes) if changes else settings)
        if not built and platform.settings.is_sqlite:
            with platform.engine.begin() as connection:
                migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
        built.append(platform)
        return platform

    yield make
    for platform in built:
        platform.close()


@pytest.fixture
def platform(make_platform: Callable[..., Platform]) -> Iterator[Platform]:
    platform = make_platform()
    previous = install_platform(platform)
    yield platform
    install_platform(previous)


@pytest.fixture
def client(platform: Platform) -> Client:
    return Client(platform)


@pytest.fixture
def create_tenant(platform: Platform) -> Callable[..., lifecycle.ProvisionedTenant]:
    def create(
        slug: str, name: str | None = None, email: str | None = None
    ) -> lifecycle.ProvisionedTenant:
        return lifecycle.provision_tenant(
            platform,
            lifecycle.NewTenant(
                slug=slug,
                display_name=name or slug.title(),
                owner_email=email or f"owner@{slug}.test",
                owner_password=PASSWORD,
            ),
        )

    return create


@pytest.fixture(scope="session")
def second_postgres_url(postgres_url: str) -> Iterator[str]:
    """Another empty PostgreSQL database, for tenants placed on a second server."""
    admin = sa.create_engine(
        os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG), isolation_level="AUTOCOMMIT"
    )
    name = f"{sa.engine.make_url(postgres_url).database}_second"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
