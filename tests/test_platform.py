"""The whole platform on each backend: a tenant host reaches its own app, and only that."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from werkzeug.test import Client

from tenants import lifecycle
from tests.helpers import login


def test_tenant_login_page_shows_display_name(client: Client, create_tenant) -> None:
    create_tenant("acme", name="Acme Corporation")
    response = client.get("/login", headers={"Host": "acme.example.com"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Acme Corporation" in page
    assert 'name="email"' in page and 'name="password"' in page
    assert response.headers["X-Tenant"] == "acme"


def test_anonymous_root_redirects_to_login(client: Client, create_tenant) -> None:
    create_tenant("acme")
    response = client.get("/", headers={"Host": "acme.example.com"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_owner_logs_in_and_sees_the_workspace(client: Client, create_tenant) -> None:
    create_tenant("acme", name="Acme Corporation")
    response = login(client, "acme.example.com", "owner@acme.test")
    assert response.status_code == 302
    home = client.get("/", headers={"Host": "acme.example.com"})
    assert home.status_code == 200
    assert "owner@acme.test" in home.get_data(as_text=True)


def test_wrong_password_is_refused(client: Client, create_tenant) -> None:
    create_tenant("acme")
    response = login(client, "acme.example.com", "owner@acme.test", password="wrong-password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/", "/signup", "/healthz", "/readyz"])
def test_platform_routes_are_not_reachable_on_a_tenant_host(
    client: Client, create_tenant, path: str
) -> None:
    create_tenant("acme")
    response = client.get(path, headers={"Host": "acme.example.com"})
    assert response.status_code == 404
    assert response.headers["X-Tenant"] == "acme"


def test_platform_pages_at_bare_domain(client: Client) -> None:
    assert client.get("/", headers={"Host": "example.com"}).status_code == 200
    assert client.get("/signup", headers={"Host": "example.com"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "example.com"}).json == {"status": "ok"}
    assert client.get("/readyz", headers={"Host": "example.com"}).json == {"status": "ready"}


def test_status_decides_the_answer(platform, client: Client, create_tenant) -> None:
    create_tenant("acme")
    lifecycle.suspend_tenant(platform, "acme")
    response = client.get("/login", headers={"Host": "acme.example.com"})
    assert response.status_code == 403
    assert "suspended" in response.get_data(as_text=True)

    lifecycle.resume_tenant(platform, "acme")
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200

    lifecycle.delete_tenant(platform, "acme")
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 404


def test_provisioning_tenant_is_not_routable(platform, client: Client) -> None:
    from sqlalchemy.orm import Session

    from tenants.registry import service

    with Session(platform.engine) as session:
        service.claim_slug(session, "halfway", display_name="Half way")
    platform.registry.invalidate()
    assert platform.registry.get("halfway").status == "provisioning"
    assert client.get("/login", headers={"Host": "halfway.example.com"}).status_code == 404


PLATFORM_HOSTS = [
    ("tenant", "acme.example.com", 200),
    ("tenant-canonicalized", "ACME.example.com.:8000", 200),
    ("other-tenant", "globex.example.com", 200),
    ("unknown", "initech.example.com", 404),
    ("no-label-boundary", "acmeexample.com", 404),
    ("nested", "x.acme.example.com", 404),
    ("malformed", "acme.example.com:80@evil.test", 400),
]


@pytest.mark.parametrize(
    ("host", "status"), [h[1:] for h in PLATFORM_HOSTS], ids=[h[0] for h in PLATFORM_HOSTS]
)
def test_hosts_through_the_real_platform(
    client: Client, create_tenant, host: str, status: int
) -> None:
    create_tenant("acme")
    create_tenant("globex")
    assert client.get("/login", headers={"Host": host}).status_code == status


def test_unknown_hosts_do_not_grow_memory(platform, client: Client, create_tenant) -> None:
    create_tenant("acme")
    client.get("/login", headers={"Host": "acme.example.com"})
    apps_before, registry_before = len(platform.apps), len(platform.registry)
    for i in range(3000):
        assert client.get("/", headers={"Host": f"random{i}.example.com"}).status_code == 404
    assert (len(platform.apps), len(platform.registry)) == (apps_before, registry_before)


def test_registry_lookups_do_no_query_once_warm(platform, create_tenant) -> None:
    import time

    from sqlalchemy import event

    from tenants.registry.lookup import MISS_CHECK_BURST

    create_tenant("acme")
    platform.registry.poll_seconds = 60
    platform.registry.refresh(force=True)
    assert platform.registry.wait_loaded()
    assert platform.registry.get("acme") is not None
    statements: list[str] = []
    event.listen(platform.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for _ in range(1000):
        assert platform.registry.get("acme") is not None
    assert statements == []
    # An unknown name is checked for freshness, but never once per lookup: a burst, then
    # at most one check per interval.
    started = time.monotonic()
    for _ in range(1000):
        assert platform.registry.get("nope") is None
    elapsed = time.monotonic() - started
    bound = MISS_CHECK_BURST + elapsed / platform.registry.miss_check_seconds + 1
    queries = [sql for sql in statements if not sql.startswith("BEGIN")]  # SQLite's BEGIN
    assert 0 < len(queries) <= bound, (len(queries), bound)


def test_get_user_functions_work_outside_app_context(platform, create_tenant) -> None:
    from flask import has_app_context

    from tenants import get_user_for_prefix, get_user_for_subdomain

    create_tenant("acme", name="Acme Corporation")
    assert not has_app_context()
    tenant = get_user_for_subdomain("acme")
    assert tenant is not None and tenant.display_name == "Acme Corporation"
    assert get_user_for_prefix("acme") == tenant
    assert get_user_for_subdomain("ACME") == tenant
    assert get_user_for_subdomain("nope") is None


def test_tenant_for_functions_and_create_app_use_the_installed_platform(
    platform, create_tenant
) -> None:
    import tenants
    from tenants.kernel import current_platform

    create_tenant("acme", name="Acme Corporation")
    assert current_platform() is platform
    tenant = tenants.tenant_for_subdomain("ACME")
    assert tenant is not None and tenants.tenant_for_prefix("acme") == tenant
    assert tenants.get_user_for_subdomain is tenants.tenant_for_subdomain
    app = tenants.create_app(tenant, {"MAX_CONTENT_LENGTH": 77})
    assert app.config["TENANT_SLUG"] == "acme" and app.config["MAX_CONTENT_LENGTH"] == 77
    platform.release_app(app)


def test_registry_unreachable_answers_503_not_another_app(
    platform, client: Client, create_tenant
) -> None:
    create_tenant("acme")
    client.get("/login", headers={"Host": "acme.example.com"})
    broken = platform.registry.engine
    from sqlalchemy import create_engine

    platform.registry.engine = create_engine("sqlite:////nonexistent-dir/registry.db")
    platform.registry.invalidate()
    try:
        response = client.get("/login", headers={"Host": "acme.example.com"})
        assert response.status_code == 503
        assert "X-Tenant" not in response.headers
    finally:
        platform.registry.engine.dispose()
        platform.registry.engine = broken


def test_database_has_case_insensitive_unique_live_slugs(platform) -> None:
    from sqlalchemy.orm import Session

    from tenants.registry import service

    with Session(platform.engine) as session:
        service.claim_slug(session, "acme", display_name="Acme")
        with pytest.raises(service.SlugTaken):
            # Bypass validation: the database itself must refuse.
            service.claim_slug(session, "ACME", display_name="Shadow")
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tenants")).scalar() == 1


def test_a_warm_tenant_is_served_while_another_tenant_builds(platform, create_tenant) -> None:
    """No lock is shared across tenants: a cold build held open delays nobody else."""
    import threading

    create_tenant("warm")
    create_tenant("cold")
    client = Client(platform)
    assert client.get("/login", headers={"Host": "warm.example.com"}).status_code == 200
    building, release = threading.Event(), threading.Event()
    original = platform.build_tenant_app

    def slow_build(tenant):
        if tenant.slug == "cold":
            building.set()
            release.wait(10)
        return original(tenant)

    platform.build_tenant_app = slow_build
    platform.resolve.build = slow_build
    cold_status: list[int] = []
    cold = threading.Thread(
        target=lambda: cold_status.append(
            Client(platform).get("/login", headers={"Host": "cold.example.com"}).status_code
        )
    )
    cold.start()
    try:
        assert building.wait(5)
        warm_done = threading.Event()
        threading.Thread(
            target=lambda: (
                client.get("/login", headers={"Host": "warm.example.com"}),
                warm_done.set(),
            )
        ).start()
        assert warm_done.wait(3), "a warm tenant waited for another tenant's build"
        assert cold.is_alive()  # the cold build is still held open
    finally:
        release.set()
        cold.join(10)
    assert cold_status == [200]


def test_app_cache_is_bounded_and_evicted_apps_release_their_engines(make_platform) -> None:
    from tenants import lifecycle
    from tests.conftest import PASSWORD

    platform = make_platform(app_cache_size=2)
    for slug in ("one", "two", "three"):
        lifecycle.provision_tenant(
            platform, lifecycle.NewTenant(slug, slug, f"o@{slug}.test", PASSWORD)
        )
    released = []
    original = platform.storage.release
    platform.storage.release = lambda engine: (released.append(engine), original(engine))
    client = Client(platform)
    for slug in ("one", "two", "three"):
        assert client.get("/login", headers={"Host": f"{slug}.example.com"}).status_code == 200
    assert len(platform.apps) == 2
    assert len(released) == 1


def test_readyz_says_to_migrate_an_empty_database(tmp_path) -> None:
    from tenants.kernel import Platform
    from tenants.settings import Settings

    platform = Platform(
        Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", base_domain="example.com")
    )
    try:
        client = Client(platform)
        response = client.get("/readyz", headers={"Host": "example.com"})
        assert response.status_code == 503
        assert "db upgrade" in response.json["reason"]
        # Tenant hosts cannot be placed without a registry: 503, not a guess.
        assert client.get("/", headers={"Host": "acme.example.com"}).status_code == 503
        assert client.get("/healthz", headers={"Host": "example.com"}).status_code == 200
    finally:
        platform.close()
