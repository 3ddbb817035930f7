"""Registry writes: one lock order, retried conflicts, and a change feed no poller misses."""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants.registry import service
from tenants.registry.feed import ChangeFeed
from tenants.registry.models import RegistryChange, Tenant
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

ROOT = {"Host": "example.com"}
POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]


def race_for_one_name(platforms, slug: str, racers: int) -> list[int]:
    """``racers`` signups for ``slug`` at once, spread over ``platforms``; their statuses."""
    statuses: list[int] = []
    barrier = threading.Barrier(racers)

    def attempt(index: int) -> None:
        client = Client(platforms[index % len(platforms)])
        page = client.get("/signup", headers=ROOT)
        barrier.wait(30)
        response = client.post(
            "/signup",
            headers=ROOT,
            data={
                "name": f"Racer {index}",
                "subdomain": slug,
                "email": f"racer{index}@x.test",
                "password": PASSWORD,
                "csrf_token": csrf_token(page),
            },
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


@pytest.mark.parametrize("backend", POSTGRES)
def test_concurrent_signups_for_one_name_never_deadlock(make_platform) -> None:
    """Issue 10.2: 12 signups for one free name, round after round: one winner, eleven 409."""
    platforms = [make_platform(), make_platform(), make_platform()]
    for round_number in range(8):
        slug = f"contested-{round_number}"
        statuses = race_for_one_name(platforms, slug, 12)
        assert sorted(statuses) == [200] + [409] * 11, (round_number, sorted(statuses))
        platforms[0].registry.refresh(force=True)
        assert platforms[0].registry.get(slug).status == "active"
    assert len(platforms[0].storage.existing_ids()) == 8


# -- the change feed: no change missed, none read twice ------------------------------------

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def change_plan(session: Session, slug: str, plan: str) -> int:
    """Change a tenant in ``session``'s open transaction; return the change id it drew."""
    tenant = service.get_live(session, slug, for_update=True)
    tenant.plan = plan
    service.touch(session, tenant)
    return tenant.version


def committed_change_ids(engine) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(select(RegistryChange.id)).scalars())


@pytest.mark.parametrize("backend", POSTGRES)
def test_two_transactions_committing_out_of_order_are_both_read(platform, create_tenant) -> None:
    create_tenant("alpha")
    create_tenant("beta")
    engine = platform.engine
    reader = ChangeFeed(postgres=True)
    with engine.connect() as connection:
        reader.start(connection)
    first, second = Session(engine), Session(engine)
    try:
        early = change_plan(first, "alpha", "pro")  # draws its id first ...
        late = change_plan(second, "beta", "pro")  # ... this one a later id
        assert early < late
        second.commit()  # ... but this one commits first
        with engine.connect() as connection:
            seen = [row.change_id for row in reader.poll(connection)]
        assert seen == [late]
        # A reader that only asked for ids above the largest it saw would now miss `early`.
        first.commit()
        with engine.connect() as connection:
            naive = connection.execute(
                select(RegistryChange.id).where(RegistryChange.id > late)
            ).all()
            assert naive == []
            caught_up = reader.poll(connection)
            assert [(row.change_id, row.slug, row.plan) for row in caught_up] == [
                (early, "alpha", "pro")
            ]
            assert reader.poll(connection) == []
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("backend", BOTH)
def test_concurrent_writers_committing_in_any_order_every_change_is_read_once(
    platform, create_tenant
) -> None:
    """Writers hold their transactions open for random times, some roll back; a reader
    polls all along. It reads every committed change exactly once, none that rolled back."""
    slugs = [f"writer-{n}" for n in range(6)]
    for slug in slugs:
        create_tenant(slug)
    engine = platform.engine
    postgres = platform.settings.is_postgres
    reader = ChangeFeed(postgres=postgres)
    with engine.connect() as connection:
        reader.start(connection)
    start_high = reader.high
    read: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def poll_all_along() -> None:
        try:
            while not done.is_set():
                with engine.connect() as connection:
                    read.extend(row.change_id for row in reader.poll(connection))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def write(slug: str, seed: int) -> None:
        chance = random.Random(seed)
        try:
            for n in range(25 if postgres else 10):
                with Session(engine) as session:
                    change_plan(session, slug, ("free", "pro", "enterprise")[n % 3])
                    time.sleep(chance.uniform(0, 0.01))
                    if chance.random() < 0.2:
                        session.rollback()  # a drawn id that never commits: a gap
                    else:
                        session.commit()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    poller = threading.Thread(target=poll_all_along)
    poller.start()
    writers = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(slugs)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    poller.join(30)
    with engine.connect() as connection:
        read.extend(row.change_id for row in reader.poll(connection))
    assert not errors, errors
    committed = {change for change in committed_change_ids(engine) if change > start_high}
    assert len(read) == len(set(read)), "a change was read twice"
    assert set(read) == committed
    assert len(committed) > 20


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_real_deadlock_is_retried_not_shown(platform, create_tenant, postgres_url: str) -> None:
    """A write that deadlocks with another transaction is run again, and succeeds.

    The write locks beta then alpha; another transaction holds alpha and then asks for
    beta. PostgreSQL aborts the write (it waited first, so it checks first); the retry
    waits for the other transaction to finish, then commits.
    """
    create_tenant("alpha")
    create_tenant("beta")
    attempts: list[int] = []
    results: list[object] = []

    def work(session: Session) -> int:
        attempts.append(len(attempts) + 1)
        for slug in ("beta", "alpha"):
            tenant = service.get_live(session, slug, for_update=True)
            tenant.plan = "pro"
            service.touch(session, tenant)
        return len(attempts)

    other = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    with other.connect() as blocker:
        blocker.execute(sa.text("SELECT id FROM tenants WHERE slug = 'alpha' FOR UPDATE"))
        writer = threading.Thread(
            target=lambda: results.append(service.write(platform.engine, work))
        )
        writer.start()
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'tenants-platform' AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 10
        with other.connect() as watcher:
            while watcher.execute(waiting).scalar_one() == 0:
                assert time.monotonic() < deadline, "the write never waited for alpha"
                time.sleep(0.02)
        # Now the cycle: this transaction asks for beta, which the write holds.
        blocker.execute(sa.text("SELECT id FROM tenants WHERE slug = 'beta' FOR UPDATE"))
        blocker.commit()
    writer.join(30)
    other.dispose()
    assert results == [2] and attempts == [1, 2]
    with Session(platform.engine) as session:
        assert {t.plan for t in session.scalars(select(Tenant))} == {"pro"}
