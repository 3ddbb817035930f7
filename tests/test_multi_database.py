"""Tenants on more than one PostgreSQL database: the registry says where each one lives."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from tenants import lifecycle
from tenants.registry.models import DEFAULT_DATABASE
from tenants.storage import migrations
from tests.conftest import PASSWORD
from tests.helpers import login

pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)]
)


def schemas_in(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        names = connection.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
        ).scalars()
        result = set(names)
    engine.dispose()
    return result


@pytest.fixture
def sharded(make_platform, second_postgres_url: str):
    for schema in schemas_in(second_postgres_url):
        engine = sa.create_engine(second_postgres_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()
    return make_platform(tenant_databases={"second": second_postgres_url})


def create(platform, slug: str):
    return lifecycle.provision_tenant(
        platform, lifecycle.NewTenant(slug, slug.title(), f"owner@{slug}.test", PASSWORD)
    )


def test_new_tenants_spread_over_the_databases(sharded, settings, second_postgres_url) -> None:
    tenants = [create(sharded, slug) for slug in ("acme", "globex", "initech", "umbrella")]
    placed = {t.slug: sharded.registry.get(t.slug).database for t in tenants}
    assert sorted(placed.values()) == ["default", "default", "second", "second"]
    for tenant in tenants:
        schema = f"tenant_{tenant.id}"
        in_second = schema in schemas_in(second_postgres_url)
        in_default = schema in schemas_in(settings.database_url)
        assert (in_second, in_default) == (
            (True, False) if placed[tenant.slug] == "second" else (False, True)
        )
    assert sharded.storage.existing_ids() == {t.id for t in tenants}


def test_tenants_on_either_database_are_served_and_isolated(sharded) -> None:
    for slug in ("acme", "globex"):
        create(sharded, slug)
    databases = {sharded.registry.get(s).database for s in ("acme", "globex")}
    assert databases == {DEFAULT_DATABASE, "second"}
    client = Client(sharded)
    for slug in ("acme", "globex"):
        assert login(client, f"{slug}.example.com", f"owner@{slug}.test").status_code == 302
        home = client.get("/", headers={"Host": f"{slug}.example.com"})
        assert home.status_code == 200 and home.headers["X-Tenant"] == slug
    assert login(Client(sharded), "globex.example.com", "owner@acme.test").status_code == 401


def test_one_pool_per_database_not_per_tenant(sharded) -> None:
    tenants = [create(sharded, f"shop{i}") for i in range(6)]
    pools = {sharded.storage.engine_for(t.id).pool for t in tenants}
    assert len(pools) == 2


def test_delete_and_migrate_reach_the_right_database(sharded, second_postgres_url) -> None:
    acme = create(sharded, "acme")
    globex = create(sharded, "globex")
    second = acme if sharded.registry.get("acme").database == "second" else globex
    assert sharded.storage.migrate(second.id) == migrations.head_revision(
        sharded.tenant_app.migrations
    )
    lifecycle.delete_tenant(sharded, second.slug)
    assert f"tenant_{second.id}" in schemas_in(second_postgres_url)  # kept through the grace
    lifecycle.purge_tenant(sharded, second.slug, confirm=second.slug)
    assert f"tenant_{second.id}" not in schemas_in(second_postgres_url)
    assert sharded.storage.existing_ids() == {acme.id, globex.id} - {second.id}


def test_a_database_the_process_does_not_know_is_a_clear_error(sharded, make_platform) -> None:
    from tenants.storage.backends import UnknownDatabase

    acme = create(sharded, "acme")
    globex = create(sharded, "globex")
    unaware = make_platform()  # configured without the second database
    second = next(t for t in (acme, globex) if sharded.registry.get(t.slug).database == "second")
    with pytest.raises(UnknownDatabase, match="TENANT_DATABASES"):
        unaware.storage.engine_for(second.id)


def test_tenants_list_shows_where_each_tenant_lives(sharded) -> None:
    create(sharded, "acme")
    create(sharded, "globex")
    result = sharded.console.test_cli_runner().invoke(args=["tenants", "list"])
    assert result.exit_code == 0
    assert "DATABASE" in result.output
    rows = {line.split()[0]: line.split()[3] for line in result.output.splitlines()[1:]}
    assert sorted(rows.values()) == ["default", "second"]
