"""Tenants are isolated: storage, rows, sessions, accounts and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants.accounts.models import User
from tenants.keys import derive_tenant_secret
from tenants.notes.models import Note
from tests.helpers import login


def test_rows_written_in_one_tenant_are_invisible_in_another(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    globex = create_tenant("globex")
    acme_engine = platform.storage.engine_for(acme.id)
    globex_engine = platform.storage.engine_for(globex.id)
    try:
        with Session(acme_engine) as session:
            session.add(Note(title="acme secret plan", body="", author_id=acme.owner_id))
            session.commit()
        with Session(globex_engine) as session:
            assert session.execute(select(Note)).scalars().all() == []
            emails = session.execute(select(User.email)).scalars().all()
            assert emails == ["owner@globex.test"]
        with Session(acme_engine) as session:
            assert [n.title for n in session.execute(select(Note)).scalars()] == [
                "acme secret plan"
            ]
    finally:
        platform.storage.release(acme_engine)
        platform.storage.release(globex_engine)


def test_each_tenant_has_its_own_file_or_schema(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    globex = create_tenant("globex")
    locations = {platform.storage.location(acme.id), platform.storage.location(globex.id)}
    assert len(locations) == 2
    assert platform.storage.exists(acme.id) and platform.storage.exists(globex.id)
    assert platform.storage.existing_ids() == {acme.id, globex.id}
    if platform.storage.kind == "sqlite":
        platform_file = Path(platform.engine.url.database)
        for location in locations:
            assert Path(location).parent == platform_file.parent
    else:
        assert locations == {f"tenant_{acme.id}", f"tenant_{globex.id}"}


def test_postgres_tenants_share_one_pool(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    globex = create_tenant("globex")
    acme_engine = platform.storage.engine_for(acme.id)
    globex_engine = platform.storage.engine_for(globex.id)
    if platform.storage.kind == "postgresql":
        assert acme_engine.pool is globex_engine.pool is platform.engine.pool
    else:
        assert acme_engine.pool is not globex_engine.pool  # SQLite: a file each
    platform.storage.release(acme_engine)
    platform.storage.release(globex_engine)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_postgres_connections_carry_no_search_path(platform, create_tenant) -> None:
    """Serving a tenant never leaves a search_path on a pooled connection.

    PostgreSQL only (a search_path is a PostgreSQL thing): on SQLite there is nothing to
    check, so the test does not run there rather than pass without checking.
    """
    assert platform.storage.kind == "postgresql"
    create_tenant("acme")
    client = Client(platform)
    login(client, "acme.example.com", "owner@acme.test")
    client.get("/", headers={"Host": "acme.example.com"})
    with platform.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW search_path").scalar() == '"$user", public'


def test_session_cookie_of_one_tenant_is_anonymous_on_another(platform, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    acme_client = Client(platform)
    login(acme_client, "acme.example.com", "owner@acme.test")
    cookie = acme_client.get_cookie("session", domain="acme.example.com")
    assert cookie is not None
    assert cookie.domain == "acme.example.com" and not cookie.domain.startswith(".")

    replay = Client(platform)
    replay.set_cookie("session", cookie.value, domain="globex.example.com")
    response = replay.get("/", headers={"Host": "globex.example.com"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_member_of_one_tenant_cannot_log_in_on_another(client: Client, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    response = login(client, "globex.example.com", "owner@acme.test")
    assert response.status_code == 401


def test_secret_keys_differ_per_tenant_and_per_platform_secret() -> None:
    assert derive_tenant_secret("s1", 1) != derive_tenant_secret("s1", 2)
    assert derive_tenant_secret("s1", 1) != derive_tenant_secret("s2", 1)
    assert derive_tenant_secret("s1", 1) == derive_tenant_secret("s1", 1)
