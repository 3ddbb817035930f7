"""The registry in one process: bounded memory, the key index, loading, and starting over."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from werkzeug.test import Client

from tenants import lifecycle
from tenants.registry import feed
from tenants.registry.keyindex import KeyIndex
from tenants.registry.keys import slug_hash
from tenants.registry.lookup import MISS_CHECK_BURST
from tenants.registry.models import Tenant, TenantStatus
from tests.conftest import PASSWORD

POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]


def add_rows(platform, count: int, *, prefix: str = "bulk") -> list[str]:
    """Registry rows only (no storage), fast: what a big fleet looks like to the registry."""
    slugs = [f"{prefix}-{n:06d}" for n in range(count)]
    with platform.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (slug, display_name, status, plan, settings, database, "
                    "created_at, updated_at, version) "
                    "SELECT :prefix || '-' || lpad(n::text, 6, '0'), 'Bulk ' || n, 'active', "
                    "'free', '{}', 'default', now(), now(), 0 "
                    "FROM generate_series(0, :count - 1) AS n"
                ),
                {"prefix": prefix, "count": count},
            )
            return slugs
        now = datetime.now(UTC)
        rows = [
            {
                "slug": slug,
                "display_name": slug,
                "status": str(TenantStatus.ACTIVE),
                "plan": "free",
                "settings": {},
                "created_at": now,
                "updated_at": now,
                "version": 0,
            }
            for slug in slugs
        ]
        for start in range(0, count, 5000):
            connection.execute(sa.insert(Tenant.__table__), rows[start : start + 5000])
    return slugs


def count_queries(engine) -> list[str]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return statements


def test_a_process_with_100000_tenants_holds_at_most_the_configured_records(
    make_platform,
) -> None:
    writer = make_platform()
    slugs = add_rows(writer, 100_000)
    platform = make_platform(registry_cache_size=500, registry_poll_seconds=3600)
    registry = platform.registry
    for slug in slugs[::50]:  # 2,000 different tenants asked for
        record = registry.get(slug)
        assert record is not None and record.slug == slug
        assert len(registry) <= 500
    assert len(registry) == 500
    if platform.settings.is_postgres:  # the generated column computes what Python does
        with platform.engine.connect() as connection:
            pairs = connection.execute(sa.text("SELECT slug, key_hash FROM tenants")).all()
        assert all(hashed == slug_hash(slug) for slug, hashed in pairs)
    assert registry.wait_loaded()
    statistics = registry.statistics()
    assert statistics["index_keys"] == 100_000
    assert statistics["index_bytes"] < 100_000 * 8 + 64 * 1024
    # Recently used ones are still warm: no query.
    queries = count_queries(platform.engine)
    for slug in slugs[::50][-500:]:
        assert registry.get(slug) is not None
    assert queries == []


def test_unknown_names_against_a_loaded_index_make_no_query_per_lookup(make_platform) -> None:
    writer = make_platform()
    add_rows(writer, 5000)
    platform = make_platform(registry_poll_seconds=3600)
    registry = platform.registry
    assert registry.get("bulk-000001") is not None
    assert registry.wait_loaded()
    queries = count_queries(platform.engine)
    started = time.monotonic()
    for n in range(5000):
        assert registry.get(f"nobody-{n}") is None
    elapsed = time.monotonic() - started
    assert len(queries) <= MISS_CHECK_BURST + elapsed / registry.miss_check_seconds + 1
    assert all("registry_changes" in sql for sql in queries)  # feed polls, no point queries
    assert len(registry) == 1 and registry.statistics()["absent"] == 0


def test_while_the_index_loads_names_are_answered_right(
    make_platform, create_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow index load (held here) never turns into a wrong 404: point queries answer."""
    from tenants.registry import lookup

    create_tenant("acme")
    release = threading.Event()
    real_load = lookup.load_hashes

    def slow_load(connection):
        release.wait(30)
        return real_load(connection)

    monkeypatch.setattr(lookup, "load_hashes", slow_load)
    writer = make_platform()
    platform = make_platform(registry_poll_seconds=3600)
    client = Client(platform)
    try:
        assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
        assert not platform.registry.statistics()["index_loaded"]
        assert client.get("/login", headers={"Host": "nobody.example.com"}).status_code == 404
        lifecycle.provision_tenant(
            writer, lifecycle.NewTenant("globex", "Globex", "owner@globex.test", PASSWORD)
        )
        assert client.get("/login", headers={"Host": "globex.example.com"}).status_code == 200
        assert client.get("/login", headers={"Host": "nobody.example.com"}).status_code == 404
    finally:
        release.set()
    assert platform.registry.wait_loaded()
    for host, status in [("acme", 200), ("globex", 200), ("nobody", 404)]:
        assert client.get("/login", headers={"Host": f"{host}.example.com"}).status_code == status


def test_changes_reach_cached_records_and_the_index(make_platform, create_tenant) -> None:
    writer = make_platform()
    reader = make_platform(registry_poll_seconds=3600)
    create_tenant("acme")
    assert reader.registry.get("acme").plan == "free"
    assert reader.registry.wait_loaded()
    lifecycle.update_tenant(writer, "acme", actor="test", plan="pro")
    lifecycle.provision_tenant(
        writer, lifecycle.NewTenant("globex", "Globex", "owner@globex.test", PASSWORD)
    )
    reader.registry.refresh(force=True)
    queries = count_queries(reader.engine)
    assert reader.registry.get("acme").plan == "pro"  # updated in place: no query
    assert queries == []
    assert reader.registry.get("globex") is not None  # in the index now: one point query
    assert len(queries) == 1
    lifecycle.delete_tenant(writer, "globex")
    reader.registry.refresh(force=True)
    assert reader.registry.get("globex") is None


def test_a_reader_left_behind_by_pruning_starts_over(make_platform, create_tenant) -> None:
    writer = make_platform()
    reader = make_platform(registry_poll_seconds=3600)
    create_tenant("acme")
    create_tenant("globex")
    assert reader.registry.get("acme") is not None
    assert reader.registry.get("globex") is not None
    lifecycle.suspend_tenant(writer, "acme")
    lifecycle.delete_tenant(writer, "globex")
    with sa.orm.Session(writer.engine) as session:
        # Everything older than tomorrow: the reader's position is gone.
        assert feed.prune(session, older_than=datetime(2999, 1, 1, tzinfo=UTC)) > 0
        session.commit()
    reader.registry.refresh(force=True)
    assert reader.registry.get("acme").status == "suspended"
    assert reader.registry.get("globex") is None
    client = Client(reader)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 403


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_miss_waiting_for_the_registry_never_delays_another_tenants_hit(
    make_platform, create_tenant, postgres_url: str
) -> None:
    """A poll blocked in the database (its table locked) holds up only the miss behind it."""
    create_tenant("acme")
    platform = make_platform(registry_poll_seconds=3600)
    client = Client(platform)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    locker = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    answered: list[int] = []
    with locker.connect() as connection:
        connection.exec_driver_sql("LOCK TABLE registry_changes IN ACCESS EXCLUSIVE MODE")
        miss = threading.Thread(
            target=lambda: answered.append(
                Client(platform).get("/", headers={"Host": "nobody.example.com"}).status_code
            )
        )
        miss.start()
        deadline = time.monotonic() + 10
        while not platform.registry._poll_lock.locked():  # the miss is polling, blocked
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for _ in range(20):
            assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
        assert answered == [] and miss.is_alive()
        connection.rollback()
    miss.join(10)
    locker.dispose()
    assert answered == [404]


def test_key_index_answers_no_only_for_keys_it_never_saw() -> None:
    from array import array

    index = KeyIndex()
    assert index.might_hold(42) is None  # not loaded: unknown
    index.begin_build()
    index.add(7)  # reported by the feed while the base loads
    index.finish_build(array("q", [-5, 3, 42]))
    assert [index.might_hold(h) for h in (-5, 3, 42, 7, 8)] == [True, True, True, True, False]
    index.add(8)
    assert index.might_hold(8) is True
    assert len(index) == 5


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_poll_stuck_in_the_database_turns_into_503_not_stale_answers(
    make_platform, create_tenant, postgres_url: str
) -> None:
    """Other requests answer from memory while a poll is in progress, but not for ever."""
    create_tenant("acme")
    platform = make_platform(registry_poll_seconds=0.2)
    platform.registry.stale_after = 1.0
    client = Client(platform)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    locker = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    statuses: list[int] = []
    with locker.connect() as connection:
        connection.exec_driver_sql("LOCK TABLE registry_changes IN ACCESS EXCLUSIVE MODE")
        time.sleep(0.25)  # a poll is due: the next request starts it, and it blocks
        stuck = threading.Thread(
            target=lambda: statuses.append(
                Client(platform).get("/login", headers={"Host": "acme.example.com"}).status_code
            )
        )
        stuck.start()
        deadline = time.monotonic() + 10
        while not platform.registry._poll_lock.locked():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
        while client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200:
            assert time.monotonic() < deadline, "answered from memory for too long"
            time.sleep(0.05)
        response = client.get("/login", headers={"Host": "acme.example.com"})
        assert response.status_code == 503 and "X-Tenant" not in response.headers
        connection.rollback()
    stuck.join(10)
    locker.dispose()
    assert statuses == [200]
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200


def record(tenant_id: int, slug: str, status: str = "active", plan: str = "free"):
    from types import MappingProxyType

    from tenants.registry.record import TenantRecord

    return TenantRecord(tenant_id, slug, slug, status, plan, MappingProxyType({}), 1, None)


def test_record_cache_is_bounded_and_never_keeps_an_answer_older_than_a_change() -> None:
    from tenants.registry.recordcache import RecordCache

    cache = RecordCache(2)
    for n in range(3):
        cache.keep(cache.generation, ("slug", f"t{n}"), record(n, f"t{n}"), [("slug", f"t{n}")])
    assert len(cache) == 2 and cache.get(("slug", "t0")) is None  # least recently used out

    # A point query began, then a change was applied: its (older) answer is dropped.
    began = cache.generation
    with cache.changing():
        cache.update(record(1, "t1", plan="pro"), [("slug", "t1")], holding=True)
    assert cache.get(("slug", "t1")).plan == "pro"  # a cached tenant follows its change
    cache.keep(began, ("slug", "t1"), record(1, "t1"), [("slug", "t1")])
    assert cache.get(("slug", "t1")).plan == "pro"

    # A name found unheld stops being so when a tenant takes it.
    cache.keep(cache.generation, ("slug", "new"), None, [])
    assert cache.known_absent(("slug", "new"))
    with cache.changing():
        cache.update(record(9, "new"), [("slug", "new")], holding=True)
    assert not cache.known_absent(("slug", "new")) and cache.get(("slug", "new")) is None

    # A deleted tenant leaves; the slug's next holder replaces it.
    with cache.changing():
        cache.update(record(2, "t2", status="deleted"), [("slug", "t2")], holding=False)
    assert cache.get(("slug", "t2")) is None
