"""Login throttling: failed logins counted per (tenant, account) and per (tenant, address)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from werkzeug.test import Client, TestResponse

from tenants.accounts.throttle import limiter
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

ACME = "acme.example.com"
GLOBEX = "globex.example.com"
REDIS_URL = "redis://127.0.0.1:6379/0"
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 30


def attempt(
    client: Client, email: str, password: str, host: str = ACME, address: str = "127.0.0.1"
) -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", headers={"Host": host}, environ_base=environ)
    return client.post(
        "/login",
        headers={"Host": host},
        environ_base=environ,
        data={"email": email, "password": password, "csrf_token": csrf_token(page)},
    )


def fail(client: Client, email: str, times: int, host: str = ACME, address: str = "127.0.0.1"):
    for number in range(times):
        response = attempt(client, email, "wrong-password", host, address)
        assert response.status_code == 401, f"attempt {number + 1}"


def test_after_five_failures_the_account_gets_429_with_when_to_retry(
    platform, create_tenant
) -> None:
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", ACCOUNT_LIMIT)

    blocked = attempt(client, "owner@acme.test", "wrong-password")
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    page = blocked.get_data(as_text=True)
    assert "Too many failed log-in attempts for this account." in page
    assert f"Try again in {retry_after} second" in page
    assert "<title>Too many attempts · Acme</title>" in page
    # Even the right password waits: the throttle answers before the password is checked.
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429
    # The email is matched as the login matches it (case and spaces do not matter).
    assert attempt(client, "  OWNER@acme.TEST ", PASSWORD).status_code == 429


def test_another_account_of_the_tenant_is_not_affected(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", ACCOUNT_LIMIT)
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429
    # Same address, another account: its own allowance.
    assert attempt(client, "ann@acme.test", "wrong-password").status_code == 401


def test_the_same_account_on_another_tenant_is_not_affected(platform, create_tenant) -> None:
    create_tenant("acme", email="boss@shared.test")
    create_tenant("globex", email="boss@shared.test")
    client = Client(platform)
    fail(client, "boss@shared.test", ACCOUNT_LIMIT, host=ACME)
    assert attempt(client, "boss@shared.test", PASSWORD, host=ACME).status_code == 429
    assert attempt(client, "boss@shared.test", PASSWORD, host=GLOBEX).status_code == 302


def test_building_another_tenants_app_keeps_the_counters(platform, create_tenant) -> None:
    """Flask-Limiter's init_app makes a new storage per app; ours must not lose counts."""
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", ACCOUNT_LIMIT)
    create_tenant("globex")
    assert client.get("/login", headers={"Host": GLOBEX}).status_code == 200  # a new app
    assert platform.tenant_app_for("globex") is not platform.tenant_app_for("acme")
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429


def test_successful_logins_do_not_count(platform, create_tenant) -> None:
    create_tenant("acme")
    for _ in range(ACCOUNT_LIMIT * 2):
        assert attempt(Client(platform), "owner@acme.test", PASSWORD).status_code == 302
    client = Client(platform)
    fail(client, "owner@acme.test", ACCOUNT_LIMIT - 1)
    assert attempt(Client(platform), "owner@acme.test", PASSWORD).status_code == 302


def test_invalid_forms_do_not_count(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    for _ in range(ACCOUNT_LIMIT * 2):
        assert attempt(client, "owner@acme.test", "").status_code == 422
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 302


def test_one_address_is_limited_across_accounts(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    for number in range(ADDRESS_LIMIT):
        email = f"guess{number % 10}@acme.test"  # three tries each: under the account limit
        assert attempt(client, email, "wrong-password", address="203.0.113.7").status_code == 401
    blocked = attempt(client, "owner@acme.test", PASSWORD, address="203.0.113.7")
    assert blocked.status_code == 429
    assert "from your network" in blocked.get_data(as_text=True)
    assert attempt(client, "owner@acme.test", PASSWORD, address="198.51.100.2").status_code == 302


def test_limits_come_from_the_app_config(platform, create_tenant) -> None:
    create_tenant("acme")
    platform.tenant_app_for("acme").config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    client = Client(platform)
    fail(client, "owner@acme.test", 2)
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def redis_platforms(make_platform, platform) -> Iterator[tuple[object, object]]:
    """Two platforms (like two processes) counting in one Redis."""
    if not _redis_reachable():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    import redis

    first = make_platform(ratelimit_storage_url=REDIS_URL)
    second = make_platform(ratelimit_storage_url=REDIS_URL)
    server = redis.Redis.from_url(REDIS_URL)

    def clean() -> None:
        # Tenant ids start again in every test: drop this test's keys before and after.
        for key in server.scan_iter(match="LIMITS:LIMITER/tenant:*"):
            server.delete(key)

    clean()
    yield first, second
    clean()
    server.close()


def test_redis_counters_are_shared_between_processes(redis_platforms, create_tenant) -> None:
    first, second = redis_platforms
    create_tenant("acme")
    fail(Client(first), "owner@acme.test", ACCOUNT_LIMIT)
    assert attempt(Client(second), "owner@acme.test", PASSWORD).status_code == 429
    with first.tenant_app_for("acme").test_request_context():
        assert type(limiter.storage).__name__ == "RedisStorage"


def test_an_unreachable_limit_storage_lets_logins_through(
    make_platform, platform, create_tenant, caplog
) -> None:
    """Fail open, logged: a Redis outage must not turn every login into a 500."""
    create_tenant("acme")
    closed_port = make_platform(ratelimit_storage_url="redis://127.0.0.1:1/0")
    client = Client(closed_port)
    for _ in range(ACCOUNT_LIMIT + 1):
        assert attempt(client, "owner@acme.test", "wrong-password").status_code == 401
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 302
    assert any("rate limit" in record.getMessage().lower() for record in caplog.records)


def test_switching_the_limiter_off_for_one_app_leaves_the_others_on(
    platform, create_tenant, monkeypatch
) -> None:
    create_tenant("acme")
    create_tenant("globex")
    monkeypatch.setenv("WORKSPACE_RATELIMIT_ENABLED", "false")
    assert platform.tenant_app_for("acme").config["RATELIMIT_ENABLED"] is False
    monkeypatch.delenv("WORKSPACE_RATELIMIT_ENABLED")
    assert platform.tenant_app_for("globex").config.get("RATELIMIT_ENABLED", True) is True

    client = Client(platform)
    fail(client, "owner@acme.test", ACCOUNT_LIMIT + 2)
    fail(client, "owner@globex.test", ACCOUNT_LIMIT, host=GLOBEX)
    assert attempt(client, "owner@globex.test", PASSWORD, host=GLOBEX).status_code == 429
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 302
