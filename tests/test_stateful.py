"""A stateful test: tenants created, suspended, resumed, deleted and recreated, with
requests through two platforms (two "processes") sharing one database.

Invariants: a response comes only from the active tenant the request names; a slug
deleted and created again never shows the old tenant's data nor accepts its sessions.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants import lifecycle
from tenants.kernel import Platform
from tenants.notes.models import Note
from tenants.settings import Settings
from tenants.storage import migrations
from tests.conftest import PASSWORD, reset_postgres
from tests.helpers import login

SLUGS = st.sampled_from(["acme", "globex", "initech"])


def run_machine(base: Settings, postgres_url: str | None) -> Counter[str]:
    """Run the state machine; return how often each rule ran (so a test can see it ran)."""
    ran: Counter[str] = Counter()

    class TenantLifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tmp = tempfile.TemporaryDirectory()
            if postgres_url:
                reset_postgres(postgres_url)
                url = postgres_url
            else:
                url = f"sqlite:///{Path(self.tmp.name) / 'platform.db'}"
            settings = base.with_changes(
                database_url=url, instance_path=Path(self.tmp.name), registry_poll_seconds=0
            )
            self.platforms = [Platform(settings), Platform(settings)]
            if not postgres_url:
                with self.platforms[0].engine.begin() as connection:
                    migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
            self.status: dict[str, str] = {}  # slug -> active | suspended
            self.generation: dict[str, int] = {}  # slug -> how many times it was created
            self.old_cookies: dict[str, list[str]] = {}  # slug -> cookies of earlier lives

        def teardown(self) -> None:
            for platform in self.platforms:
                platform.close()
            self.tmp.cleanup()

        @rule(slug=SLUGS, via=st.integers(0, 1))
        def create(self, slug: str, via: int) -> None:
            ran["create"] += 1
            platform = self.platforms[via]
            try:
                tenant = lifecycle.provision_tenant(
                    platform,
                    lifecycle.NewTenant(slug, slug.title(), f"owner@{slug}.test", PASSWORD),
                )
            except lifecycle.SlugTaken:
                assert slug in self.status
                return
            assert slug not in self.status
            self.status[slug] = "active"
            self.generation[slug] = self.generation.get(slug, 0) + 1
            engine = platform.storage.engine_for(tenant.id)
            with Session(engine) as session:
                session.add(Note(title=f"{slug} life {self.generation[slug]}", body=""))
                session.commit()
            platform.storage.release(engine)
            client = Client(platform)
            assert login(client, f"{slug}.example.com", f"owner@{slug}.test").status_code == 302
            cookie = client.get_cookie("session", domain=f"{slug}.example.com")
            self.old_cookies.setdefault(slug, []).append(cookie.value)

        @precondition(lambda self: any(s == "active" for s in self.status.values()))
        @rule(data=st.data(), via=st.integers(0, 1))
        def suspend(self, data: st.DataObject, via: int) -> None:
            ran["suspend"] += 1
            slug = data.draw(
                st.sampled_from(sorted(s for s, v in self.status.items() if v == "active"))
            )
            lifecycle.suspend_tenant(self.platforms[via], slug)
            self.status[slug] = "suspended"

        @precondition(lambda self: any(s == "suspended" for s in self.status.values()))
        @rule(data=st.data(), via=st.integers(0, 1))
        def resume(self, data: st.DataObject, via: int) -> None:
            ran["resume"] += 1
            slug = data.draw(
                st.sampled_from(sorted(s for s, v in self.status.items() if v == "suspended"))
            )
            lifecycle.resume_tenant(self.platforms[via], slug)
            self.status[slug] = "active"

        @precondition(lambda self: bool(self.status))
        @rule(data=st.data(), via=st.integers(0, 1))
        def delete(self, data: st.DataObject, via: int) -> None:
            ran["delete"] += 1
            slug = data.draw(st.sampled_from(sorted(self.status)))
            lifecycle.delete_tenant(self.platforms[via], slug)
            # Purged at once (its grace period over): the slug is free for a new life.
            lifecycle.purge_tenant(self.platforms[via], slug, confirm=slug)
            del self.status[slug]

        @rule(slug=SLUGS, via=st.integers(0, 1))
        def request(self, slug: str, via: int) -> None:
            ran["request"] += 1
            response = Client(self.platforms[via]).get(
                "/login", headers={"Host": f"{slug}.example.com"}
            )
            expected = {"active": 200, "suspended": 403}.get(self.status.get(slug, ""), 404)
            assert response.status_code == expected
            assert response.headers.get("X-Tenant") == (slug if expected == 200 else None)

        @invariant()
        def new_lives_never_see_old_data_or_sessions(self) -> None:
            for slug, status in self.status.items():
                if status != "active" or self.generation[slug] < 2:
                    continue
                platform = self.platforms[0]
                tenant = platform.registry.get(slug)
                engine = platform.storage.engine_for(tenant.id)
                with Session(engine) as session:
                    titles = session.execute(select(Note.title)).scalars().all()
                platform.storage.release(engine)
                assert titles == [f"{slug} life {self.generation[slug]}"]
                for old in self.old_cookies[slug][:-1]:
                    client = Client(self.platforms[1])
                    client.set_cookie("session", old, domain=f"{slug}.example.com")
                    response = client.get("/", headers={"Host": f"{slug}.example.com"})
                    assert response.status_code == 302, "an old session was accepted"

    run_state_machine_as_test(
        TenantLifecycle,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
    return ran


def test_tenant_lifecycle_state_machine(settings: Settings, backend: str, request) -> None:
    postgres_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    ran = run_machine(settings, postgres_url)
    # The invariants are checked inside the machine; here, that it really exercised them.
    assert ran["create"] > 0 and ran["request"] > 0
    assert ran["suspend"] + ran["resume"] + ran["delete"] > 0
