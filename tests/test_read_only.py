"""Read-only mode per tenant: pages work, every write gets a clear 503, in every process."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from werkzeug.test import Client

from tenants import lifecycle
from tenants.registry.record import READ_ONLY_RETRY_SECONDS, TenantRecord
from tests.test_admin_auth import HOST as ADMIN_HOST
from tests.test_admin_tenants import admin_client, post_action  # noqa: F401 - a fixture

ACME = {"Host": "acme.example.com"}


def write(client: Client, *, json: bool = False):
    """A write as a person's form post, or as a script's JSON request."""
    if json:
        return client.post("/login", headers={**ACME, "Accept": "application/json"}, json={})
    return client.post("/login", headers=ACME, data={"email": "x@y.test", "password": "nope"})


def refused(response) -> bool:
    return response.status_code == 503 and "Retry-After" in response.headers


def test_read_only_serves_pages_and_refuses_writes_clearly(platform, client, create_tenant):
    create_tenant("acme")
    assert not refused(write(client))

    tenant = lifecycle.set_read_only(platform, "acme", True, actor="test")

    assert tenant.read_only
    assert client.get("/login", headers=ACME).status_code == 200
    assert client.head("/login", headers=ACME).status_code == 200
    page = write(client)
    assert refused(page) and page.headers["Retry-After"] == str(READ_ONLY_RETRY_SECONDS)
    assert page.mimetype == "text/html" and "Read-only for maintenance" in page.text
    api = write(client, json=True)
    assert refused(api) and api.mimetype == "application/json"
    assert api.json["error"] == "read_only" and api.json["retry_after"] == READ_ONLY_RETRY_SECONDS
    for method in ("put", "patch", "delete"):
        assert refused(getattr(client, method)("/notes/1", headers=ACME)), method

    lifecycle.set_read_only(platform, "acme", False, actor="test")
    assert not refused(write(client)) and not refused(write(client, json=True))


def test_every_process_refuses_writes_within_a_second(platform, make_platform, create_tenant):
    create_tenant("acme")
    other = Client(make_platform())  # another process's platform on the same databases
    assert not refused(write(other))

    for read_only in (True, False):
        started = time.monotonic()
        lifecycle.set_read_only(platform, "acme", read_only, actor="test")
        while refused(write(other)) != read_only:
            assert time.monotonic() - started < 1.0, "the other process never saw the change"
            time.sleep(0.02)
        assert other.get("/login", headers=ACME).status_code == 200


def test_a_write_lease_ends_by_itself(platform, client, create_tenant):
    create_tenant("acme")
    lifecycle.lock_writes(platform, "acme", seconds=1.5, actor="test", reason="test")
    response = write(client)
    assert refused(response) and 1 <= int(response.headers["Retry-After"]) <= 2
    time.sleep(1.6)
    # No registry change: every process compares the lease with its clock.
    assert not refused(write(client))


def test_a_lease_is_ended_early_and_counts_down() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = TenantRecord(1, "a", "A", "active", "free", {}, 1, None)
    assert record.refuses_writes(now) is None
    leased = TenantRecord(
        1, "a", "A", "active", "free", {}, 1, None, write_lock_until=now + timedelta(seconds=9.2)
    )
    assert leased.refuses_writes(now) == 10
    assert leased.refuses_writes(now + timedelta(seconds=10)) is None
    naive = TenantRecord(
        1, "a", "A", "active", "free", {}, 1, None, write_lock_until=datetime(2026, 1, 1, 0, 0, 3)
    )
    assert naive.refuses_writes(now) == 3  # SQLite's naive datetimes are UTC


def test_unlock_writes_ends_the_lease_now(platform, client, create_tenant):
    tenant = create_tenant("acme")
    lifecycle.lock_writes(platform, "acme", seconds=60, actor="test", reason="test")
    assert refused(write(client))
    lifecycle.unlock_writes(platform, tenant.id, actor="test")
    lifecycle.unlock_writes(platform, tenant.id, actor="test")  # idempotent
    assert not refused(write(client))


def test_admin_and_cli_switch_read_only(platform, admin_client, create_tenant):  # noqa: F811
    client = admin_client
    tenant = create_tenant("acme")
    assert post_action(client, tenant.id, "read-only", on="1").status_code == 303
    page = client.get(f"/admin/tenants/{tenant.id}", headers=ADMIN_HOST).text
    assert "read-only" in page and "Make writable" in page
    assert refused(write(client))
    assert post_action(client, tenant.id, "read-only", on="0").status_code == 303
    assert not refused(write(client))

    runner = platform.console.test_cli_runner()
    result = runner.invoke(args=["tenants", "read-only", "acme"])
    assert result.exit_code == 0 and "is read-only" in result.output
    assert refused(write(client))
    result = runner.invoke(args=["tenants", "read-only", "acme", "--off"])
    assert result.exit_code == 0 and "writable again" in result.output
    assert not refused(write(client))
    unknown = runner.invoke(args=["tenants", "read-only", "ghost"])
    assert unknown.exit_code == 1 and "No tenant" in unknown.output
