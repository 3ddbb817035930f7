"""Custom domains with the subdomains' guarantees: fresh across processes, bounded under a flood.

Both backends, the real registry and change feed, a real DNS server on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import event
from werkzeug.test import Client

from tenants import lifecycle
from tenants.registry.lookup import MISS_CHECK_BURST
from tests.conftest import TEST_SECRET


@pytest.fixture
def tenants_settings_overrides(dns_server):
    return {"dns_resolver": dns_server.address}


def verified(platform, dns_server, tenant_id: int, domain: str, *, primary: bool = True):
    view = platform.domains.add(tenant_id, domain, actor="o")
    dns_server.zone.publish_txt(view.challenge_name, view.token)
    assert platform.domains.check(tenant_id, view.id, actor="o").status == "verified"
    if primary:
        platform.domains.set_primary(tenant_id, view.id, actor="o")
    return view


def test_a_domain_verified_by_another_process_is_served_at_once(
    make_platform, create_tenant, dns_server
) -> None:
    writer = make_platform()
    reader = make_platform(registry_poll_seconds=3600)  # only freshness checks, no polls
    client = Client(reader)
    acme = create_tenant("acme")
    assert client.get("/login", headers={"Host": "notes.acme.org"}).status_code == 404
    verified(writer, dns_server, acme.id, "notes.acme.org")
    assert client.get("/login", headers={"Host": "notes.acme.org"}).status_code == 200


def test_a_flood_of_unknown_custom_hosts_is_bounded(make_platform, create_tenant, dns_server):
    platform = make_platform(registry_poll_seconds=3600, registry_cache_size=100)
    acme = create_tenant("acme")
    verified(platform, dns_server, acme.id, "notes.acme.org")
    client = Client(platform)
    assert client.get("/login", headers={"Host": "notes.acme.org"}).status_code == 200
    assert platform.registry.wait_loaded()
    queries: list[str] = []

    def count(_c, _cur, sql, *_a) -> None:  # noqa: ANN001
        if not sql.startswith("BEGIN"):
            queries.append(sql)

    event.listen(platform.engine, "before_cursor_execute", count)
    requests = 3000
    started = time.monotonic()
    try:
        for index in range(requests):
            response = client.get("/", headers={"Host": f"nobody-{index}.flood.example.org"})
            assert response.status_code == 404
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)
    elapsed = time.monotonic() - started
    bound = MISS_CHECK_BURST + elapsed / platform.registry.miss_check_seconds + 1
    assert len(queries) <= bound, (len(queries), bound)
    assert len(queries) < requests / 5
    assert all("registry_changes" in sql for sql in queries)  # feed polls only
    stats = platform.registry.statistics()
    assert stats["records"] <= 100 and stats["absent"] <= 100
    assert len(platform.resolve._moves) <= 1
    # The real domain is still served, from memory.
    assert client.get("/login", headers={"Host": "notes.acme.org"}).status_code == 200


WATCHER = r"""
import sys, time
from werkzeug.test import Client
from tenants.kernel import Platform
from tenants.settings import Settings

platform = Platform(Settings.from_environ())
client = Client(platform)
last = None
deadline = time.time() + 30
while time.time() < deadline:
    status = client.get("/login", headers={"Host": "notes.acme.org"}).status_code
    if status != last:
        print(f"{time.time():.3f} {status}", flush=True)
        last = status
    time.sleep(0.01)
"""


@pytest.mark.slow
def test_domain_changes_reach_another_process_within_a_second(
    platform, create_tenant, settings, tmp_path, dns_server
) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        DATABASE_POOLER=settings.database_pooler,
        SECRET_KEY=TEST_SECRET,
        BASE_DOMAIN="example.com",
        INSTANCE_PATH=str(tmp_path),
    )
    env.pop("REGISTRY_POLL_SECONDS", None)  # the default interval, as deployed
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER], env=env, stdout=subprocess.PIPE, text=True
    )

    def next_status(expected: int, committed_at: float) -> None:
        """The watcher's next answer is ``expected``, within a second of the commit."""
        seen_at, status = watcher.stdout.readline().split()
        assert int(status) == expected
        assert float(seen_at) - committed_at < 1.0

    try:
        assert watcher.stdout.readline().split()[1] == "404"  # pending: not routed
        dns_server.zone.publish_txt(view.challenge_name, view.token)
        platform.domains.check(acme.id, view.id, actor="o")
        next_status(301, time.time())  # verified; the subdomain is still primary
        platform.domains.set_primary(acme.id, view.id, actor="o")
        next_status(200, time.time())
        lifecycle.suspend_tenant(platform, "acme")
        next_status(403, time.time())
        platform.domains.remove(acme.id, view.id, actor="o")
        next_status(404, time.time())
    finally:
        watcher.kill()
        watcher.wait()
        watcher.stdout.close()


def test_a_new_process_indexes_routable_domains_only(make_platform, create_tenant, dns_server):
    from tenants.registry.keys import domain_hash

    writer = make_platform()
    acme = create_tenant("acme")
    verified(writer, dns_server, acme.id, "notes.acme.org", primary=False)
    writer.domains.add(create_tenant("globex").id, "pending.globex.org", actor="g")
    reader = make_platform(registry_poll_seconds=3600)
    reader.registry.refresh(force=True)
    assert reader.registry.wait_loaded()
    index = reader.registry._index
    assert index.might_hold(domain_hash("notes.acme.org")) is True
    assert index.might_hold(domain_hash("pending.globex.org")) is False
    assert reader.registry.for_domain("notes.acme.org").slug == "acme"
    assert reader.registry.for_domain("pending.globex.org") is None
