"""Fixtures: a real platform on SQLite and on PostgreSQL, from the ``tenants.testing`` plugin.

The plugin (registered by the package's ``pytest11`` entry point) makes the platform,
its databases and the tenants; this file only gives its fixtures the short names our
tests use, and keeps what only our own tests need (a second PostgreSQL database, path
routing by module).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from tenants.kernel import Platform
from tenants.settings import Settings
from tenants.testing import (
    DEFAULT_POSTGRES_URL,
    FAST_HASH,
    PASSWORD,
    TEST_SECRET_KEY,
    postgres_required,
    reset_postgres,
)
from tests.dns_server import dns_server  # noqa: E402,F401 - fixture: a DNS server on loopback

DEFAULT_PG = DEFAULT_POSTGRES_URL
TEST_SECRET = TEST_SECRET_KEY

__all__ = ["FAST_HASH", "PASSWORD", "TEST_SECRET", "postgres_required", "reset_postgres"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Our tests' name for the backend; modules narrow it with parametrize("backend", ...)."""
    return request.param


@pytest.fixture
def tenants_backend(backend: str) -> str:
    return backend


@pytest.fixture(scope="session")
def postgres_url(tenants_postgres_url: str) -> str:
    return tenants_postgres_url


@pytest.fixture
def database_url(tenants_database_url: str) -> str:
    return tenants_database_url


@pytest.fixture
def routing() -> str:
    """Override in a test module (or parametrize) for path routing."""
    return "subdomain"


@pytest.fixture
def tenants_settings_overrides(routing: str) -> Mapping[str, Any]:
    return {"tenant_routing": routing}


@pytest.fixture
def settings(tenants_settings: Settings) -> Settings:
    return tenants_settings


@pytest.fixture
def make_platform(make_tenants_platform: Callable[..., Platform]) -> Callable[..., Platform]:
    return make_tenants_platform


@pytest.fixture
def platform(tenants_platform: Platform) -> Platform:
    return tenants_platform


@pytest.fixture
def client(platform: Platform) -> Client:
    return Client(platform)


@pytest.fixture(scope="session")
def second_postgres_url(tenants_postgres_url: str) -> Iterator[str]:
    """Another empty PostgreSQL database, for tenants placed on a second server."""
    admin = sa.create_engine(
        os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG), isolation_level="AUTOCOMMIT"
    )
    name = f"{sa.engine.make_url(tenants_postgres_url).database}_second"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield (
        sa.engine.make_url(tenants_postgres_url)
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests are ``e2e``; they and real-server tests are ``slow``.

    A ``pytestmark`` in a conftest marks nothing, so the browser tests get their marker here
    by where they live. CI runs the slow tests once, in their own pass (``.ci/run``).
    """
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("server") or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)
