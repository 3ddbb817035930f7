"""A pytest plugin for tenant apps: a real platform in tests, tenants logged in, isolation checks.

Installing the package registers it (a ``pytest11`` entry point); without the install,
add ``pytest_plugins = ["tenants.testing"]`` to your top-level ``conftest.py``.

Fixtures (each test gets a fresh platform: an empty registry, no tenant storage):

- ``tenants_platform``: a :class:`~tenants.kernel.Platform` serving your ``TENANT_APP``
  (the ``tenants_app`` ini option, else the ``TENANT_APP`` environment variable, else
  the reference workspace), on a temporary SQLite file and on a PostgreSQL test database
  (``TEST_POSTGRES_URL``; each session creates and drops its own database): the tests
  that use it run once per backend (``tenants_backend``), PostgreSQL skipped when no
  server answers unless ``CI`` or ``REQUIRE_POSTGRES`` is set;
- ``create_tenant("acme")``: provisions a tenant as signup does (owner
  ``owner@acme.test`` / :data:`PASSWORD`);
- ``tenant_client("acme", role="owner")``: a test client of that tenant, logged in
  through the tenant app's own sign-in hand-over (``TenantApp.sign_in``, the path signup
  takes), never a forged cookie; ``client.get("/")`` goes to the tenant;
- ``assert_isolated(table, values)``: writes a row in one tenant's storage and asserts
  another tenant cannot see it.

Override ``tenants_settings_overrides`` (a dict of :class:`~tenants.settings.Settings`
fields, e.g. ``{"tenant_routing": "path"}``) or ``tenants_backend`` to narrow a module.

Example::

    def test_my_page(tenant_client):
        client = tenant_client("acme")
        assert "Acme" in client.get("/").get_data(as_text=True)

    def test_entries_are_isolated(assert_isolated):
        assert_isolated("entries", {"text": "acme's secret"})
"""

from __future__ import annotations

import html
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.test import Client, TestResponse

from tenants import lifecycle
from tenants.contract import NewUser, TenantApp, load_tenant_app
from tenants.kernel import Platform, install_platform
from tenants.registry.models import RegistryBase, RegistryClock
from tenants.settings import Settings
from tenants.storage import migrations

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"
#: Fast hashing in tests; production uses scrypt.
FAST_HASH = "pbkdf2:sha256:1000"
#: The password of every account the fixtures make.
PASSWORD = "correct-horse-battery"
BASE_DOMAIN = "example.com"
#: Signups the fixtures' platforms accept per address and overall.
TEST_SIGNUP_LIMIT = "100000 per hour"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "tenants_app",
        "TENANT_APP of the tenants_* fixtures (default: $TENANT_APP, else tenants.workspace:app)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server (TEST_POSTGRES_URL)")


def postgres_required() -> bool:
    """Whether this run requires the servers and tools (CI, ``scripts/test.sh``)."""
    return bool(os.environ.get("CI") or os.environ.get("REQUIRE_POSTGRES"))


def missing(message: str) -> NoReturn:
    """A server or tool a test needs is missing: skip, or fail where the run requires it."""
    if postgres_required():
        pytest.fail(f"{message} (this run requires it: scripts/test.sh installs the tools)")
    pytest.skip(message)


def reset_postgres(url: str) -> None:
    """Empty the registry and drop every tenant schema: each test starts clean."""
    engine = sa.create_engine(url)
    tables = ", ".join(
        table.name
        for table in RegistryBase.metadata.sorted_tables
        if table.name != RegistryClock.__tablename__
    )
    with engine.connect() as connection:
        schemas = (
            connection.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
            )
            .scalars()
            .all()
        )
    # One transaction per schema: a DROP ... CASCADE takes a lock per table and index, and
    # hundreds of schemas in one transaction exceed the server's lock table.
    for schema in schemas:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        connection.exec_driver_sql("UPDATE registry_clock SET generation = 0")
    engine.dispose()


@pytest.fixture(scope="session")
def tenants_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, with the platform schema."""
    admin_url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tenants_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tenants_database_url(
    tenants_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> str:
    if tenants_backend == "postgres":
        url = request.getfixturevalue("tenants_postgres_url")
        reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'platform.db'}"


@pytest.fixture
def tenants_app_spec(pytestconfig: pytest.Config) -> str:
    """Which TENANT_APP the fixtures serve ("package.module:attribute")."""
    return pytestconfig.getini("tenants_app") or os.environ.get("TENANT_APP") or Settings.tenant_app


@pytest.fixture
def tenants_app(tenants_app_spec: str) -> TenantApp:
    return load_tenant_app(tenants_app_spec)


@pytest.fixture
def tenants_settings_overrides() -> Mapping[str, Any]:
    """Settings fields to change for these tests (override this fixture)."""
    return {}


@pytest.fixture
def tenants_settings(
    tenants_database_url: str,
    tmp_path: Path,
    tenants_app_spec: str,
    tenants_settings_overrides: Mapping[str, Any],
) -> Settings:
    settings = Settings(
        database_url=tenants_database_url,
        base_domain=BASE_DOMAIN,
        secret_key=TEST_SECRET_KEY,
        instance_path=tmp_path,
        registry_poll_seconds=0.2,
        password_hash_method=FAST_HASH,
        tenant_app=tenants_app_spec,
        # Tests sign up many tenants from one address; tests of the limit lower it.
        signup_limit_per_address=TEST_SIGNUP_LIMIT,
        signup_limit_total=TEST_SIGNUP_LIMIT,
    )
    return settings.with_changes(**tenants_settings_overrides)


@pytest.fixture
def make_tenants_platform(
    tenants_settings: Settings, tenants_app: TenantApp
) -> Iterator[Callable[..., Platform]]:
    """Build platforms over the test database (several share it, like processes)."""
    built: list[Platform] = []

    def make(**changes: object) -> Platform:
        settings = tenants_settings.with_changes(**changes) if changes else tenants_settings
        # The fixture's tenant app, unless these changes name another TENANT_APP.
        same_app = settings.tenant_app == tenants_settings.tenant_app
        platform = Platform(settings, tenants_app if same_app else None)
        if not built and platform.settings.is_sqlite:
            with platform.engine.begin() as connection:
                migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
        built.append(platform)
        return platform

    yield make
    for platform in built:
        platform.close()


@pytest.fixture
def tenants_platform(make_tenants_platform: Callable[..., Platform]) -> Iterator[Platform]:
    """The platform of this test, installed as the process's (``tenants.create_app``)."""
    platform = make_tenants_platform()
    previous = install_platform(platform)
    yield platform
    install_platform(previous)


@pytest.fixture
def tenants_owner_ids() -> dict[str, int]:
    """The owner id of each tenant the fixtures made (by slug)."""
    return {}


@pytest.fixture
def create_tenant(
    tenants_platform: Platform, tenants_owner_ids: dict[str, int]
) -> Callable[..., lifecycle.ProvisionedTenant]:
    """``create_tenant("acme", name=None, email=None)``: provision as signup does."""

    def create(
        slug: str, name: str | None = None, email: str | None = None
    ) -> lifecycle.ProvisionedTenant:
        made = lifecycle.provision_tenant(
            tenants_platform,
            lifecycle.NewTenant(
                slug=slug,
                display_name=name or slug.title(),
                owner_email=email or f"owner@{slug}.test",
                owner_password=PASSWORD,
            ),
        )
        tenants_owner_ids[made.slug] = made.owner_id
        return made

    return create


class TenantClient(Client):
    """A test client bound to one tenant: paths are the tenant app's own ("/", "/notes/")."""

    def __init__(self, platform: Platform, slug: str) -> None:
        super().__init__(platform)
        self.slug = slug
        base = urlsplit(platform.settings.url_for_tenant(slug, "/"))
        self.host = base.netloc
        self.prefix = base.path.rstrip("/")

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        if args and isinstance(args[0], str):
            args = (self.prefix + args[0], *args[1:])
        elif "path" in kwargs:
            kwargs["path"] = self.prefix + kwargs["path"]
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Host", self.host)
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def tenant_client(
    tenants_platform: Platform,
    create_tenant: Callable[..., lifecycle.ProvisionedTenant],
    tenants_owner_ids: dict[str, int],
) -> Callable[..., TenantClient]:
    """``tenant_client("acme", role="owner")``: a client of tenant acme, logged in.

    Creates the tenant if needed. ``role="owner"`` signs in its owner; another role adds
    an account with that role first (``TenantApp.add_user``). Signs in through the tenant
    app's own hand-over (``TenantApp.sign_in``), exactly as after a signup.
    """
    platform = tenants_platform

    def make(slug: str, role: str = "owner") -> TenantClient:
        if slug not in tenants_owner_ids:
            if platform.registry.get(slug) is not None:
                raise ValueError(
                    f"Tenant {slug!r} was not made by these fixtures, so its owner is "
                    "unknown; make it with create_tenant or tenant_client."
                )
            create_tenant(slug)
        platform.registry.refresh(force=True)
        tenant = platform.registry.get(slug)
        if tenant is None:
            raise LookupError(f"Tenant {slug!r} is not routable.")
        user_id = tenants_owner_ids[slug]
        if role != "owner":
            user_id = _add_user(platform, tenant.id, role, f"{role}-{secrets.token_hex(3)}")
        handoff = platform.tenant_app.sign_in(platform.services_for(tenant), user_id)
        client = TenantClient(platform, slug)
        target = urlsplit(handoff.url)
        response = Client.open(
            client,
            target.path,
            method="POST",
            headers={"Host": target.netloc},
            data=dict(handoff.fields),
        )
        if response.status_code >= 400:
            raise AssertionError(
                f"Signing in to {slug} answered {response.status_code}: "
                f"{response.get_data(as_text=True)[:300]}"
            )
        return client

    return make


def _add_user(platform: Platform, tenant_id: int, role: str, name: str) -> int:
    add_user = platform.tenant_app.add_user
    if add_user is None:
        raise ValueError(
            f"{platform.tenant_app.name} has no add_user in its TenantApp, so tenant_client "
            "can only sign in the owner (role='owner')."
        )
    engine = platform.storage.engine_for(tenant_id)
    try:
        with sa.orm.Session(engine) as session, session.begin():
            return add_user(
                session,
                NewUser(f"{name}@tenant.test", platform.settings.hash_password(PASSWORD), role),
            )
    finally:
        platform.storage.release(engine)


@pytest.fixture
def assert_isolated(
    tenants_platform: Platform,
    create_tenant: Callable[..., lifecycle.ProvisionedTenant],
) -> Callable[..., None]:
    """``assert_isolated(table, values, owner="acme", other="globex")``.

    Writes a row with ``values`` into ``table`` of ``owner``'s storage (creating both
    tenants when needed), then asserts ``owner`` reads it and ``other`` has no row with
    those values. ``table`` is a table name of the tenant app's metadata.
    """
    platform = tenants_platform

    def check(
        table: str, values: Mapping[str, Any], *, owner: str = "acme", other: str = "globex"
    ) -> None:
        ids = {}
        for slug in (owner, other):
            if platform.registry.get(slug) is None:
                create_tenant(slug)
                platform.registry.refresh(force=True)
            ids[slug] = platform.registry.get(slug).id  # type: ignore[union-attr]
        target = platform.tenant_app.metadata.tables[table]
        matching = sa.select(sa.func.count()).select_from(target)
        for column, value in values.items():
            matching = matching.where(target.c[column] == value)
        engine = platform.storage.engine_for(ids[owner])
        try:
            with engine.begin() as connection:
                connection.execute(target.insert().values(**values))
            with engine.connect() as connection:
                seen_by_owner = connection.execute(matching).scalar_one()
        finally:
            platform.storage.release(engine)
        engine = platform.storage.engine_for(ids[other])
        try:
            with engine.connect() as connection:
                seen_by_other = connection.execute(matching).scalar_one()
        finally:
            platform.storage.release(engine)
        if seen_by_owner < 1:
            raise AssertionError(f"{owner} cannot read the row it wrote to {table}")
        if seen_by_other:
            raise AssertionError(f"{other} sees {owner}'s row in {table}: {dict(values)}")

    return check


_HANDOFF_FORM = re.compile(
    r'<form method="post" action="([^"]+)" data-auto-submit>(.*?)</form>', re.S
)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def handoff_of(signup_page: TestResponse) -> tuple[str, dict[str, str]]:
    """The URL and fields that signup's hand-over page posts to the new tenant."""
    match = _HANDOFF_FORM.search(signup_page.get_data(as_text=True))
    if match is None:
        raise AssertionError("no hand-over form on the page")
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(match.group(2))}
    return html.unescape(match.group(1)), fields
