"""Login throttling of tenant apps (issue 10, items 4, 6, 7): guessing is capped, and no
attacker can lock a member out.

Failures count per (tenant, account, address) tightly, per (tenant, address), and per
(tenant, account) up to a ceiling past which new devices trickle and known devices pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator

import pytest
from werkzeug.test import Client, TestResponse

from tenants.testing import missing
from tenants.web.throttle import Counters
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

ACME = "acme.example.com"
GLOBEX = "globex.example.com"
#: A database number of this run's own (parallel runs on one Redis must not share counters).
REDIS_URL = f"redis://127.0.0.1:6379/{os.getpid() % 15 + 1}"
PAIR_LIMIT = 5
ADDRESS_LIMIT = 30
ACCOUNT_CEILING = 50
ATTACKER = "203.0.113.66"
MEMBER = "198.51.100.2"


def attempt(
    client: Client,
    email: str,
    password: str,
    host: str = ACME,
    address: str = "127.0.0.1",
    how: str = "form",
) -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", headers={"Host": host}, environ_base=environ)
    token = csrf_token(page)
    fields = {"email": email, "password": password}
    if how == "json":
        return client.post(
            "/login",
            headers={"Host": host, "X-CSRFToken": token},
            environ_base=environ,
            data=json.dumps(fields),
            content_type="application/json",
        )
    if how == "multipart":
        return client.post(
            "/login",
            headers={"Host": host},
            environ_base=environ,
            data={**fields, "csrf_token": token},
            content_type="multipart/form-data",
        )
    return client.post(
        "/login",
        headers={"Host": host},
        environ_base=environ,
        data={**fields, "csrf_token": token},
    )


def fail(client: Client, email: str, times: int, host: str = ACME, address: str = "127.0.0.1"):
    for number in range(times):
        response = attempt(client, email, "wrong-password", host, address)
        assert response.status_code == 401, f"attempt {number + 1}"


def test_five_failures_from_one_address_get_429_with_when_to_retry(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", PAIR_LIMIT)

    blocked = attempt(client, "owner@acme.test", "wrong-password")
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    page = blocked.get_data(as_text=True)
    assert "Too many failed log-ins for this account from your network." in page
    assert f"Try again in {retry_after} second" in page
    assert "<title>Too many attempts · Acme</title>" in page
    # From that address even the right password waits: it is where the guessing comes from.
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429
    # The email is matched as the login matches it (case and spaces do not matter).
    assert attempt(client, "  OWNER@acme.TEST ", PASSWORD).status_code == 429


def test_an_attacker_at_one_address_cannot_lock_out_the_member_at_another(
    platform, create_tenant
) -> None:
    create_tenant("acme")
    attacker = Client(platform)
    fail(attacker, "owner@acme.test", PAIR_LIMIT, address=ATTACKER)
    assert attempt(attacker, "owner@acme.test", "guess", address=ATTACKER).status_code == 429
    member = Client(platform)
    assert attempt(member, "owner@acme.test", PASSWORD, address=MEMBER).status_code == 302


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_every_way_of_posting_meets_the_same_limits(platform, create_tenant, how) -> None:
    """Item 6: a JSON (or multipart) login once got past a lockout the form had reached."""
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", PAIR_LIMIT - 2)
    for _ in range(2):
        assert attempt(client, "owner@acme.test", "nope", how=how).status_code == 401
    assert attempt(client, "owner@acme.test", PASSWORD, how=how).status_code == 429
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429


def test_json_failures_count_for_the_form_too(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    for _ in range(PAIR_LIMIT):
        assert attempt(client, "owner@acme.test", "nope", how="json").status_code == 401
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429


def guess_from_many_addresses(client: Client, email: str, count: int) -> list[int]:
    statuses = []
    for number in range(count):
        address = f"203.0.{number // 200}.{number % 200 + 1}"
        statuses.append(attempt(client, email, f"guess-{number}", address=address).status_code)
    return statuses


def test_guessing_from_many_addresses_is_capped_past_the_ceiling(platform, create_tenant) -> None:
    create_tenant("acme")
    attacker = Client(platform)
    statuses = guess_from_many_addresses(attacker, "owner@acme.test", ACCOUNT_CEILING + 30)
    assert statuses[:ACCOUNT_CEILING] == [401] * ACCOUNT_CEILING
    past = statuses[ACCOUNT_CEILING:]
    # Past the ceiling new devices trickle: a few guesses a minute for all of them together.
    assert past.count(401) <= 3 and past.count(429) >= 27
    refused = attempt(attacker, "owner@acme.test", "again", address="192.0.2.99")
    assert refused.status_code == 429
    assert "slowed down" in refused.get_data(as_text=True)


def test_past_the_ceiling_a_known_device_logs_in_as_usual(platform, create_tenant) -> None:
    create_tenant("acme")
    member = Client(platform)
    assert attempt(member, "owner@acme.test", PASSWORD, address=MEMBER).status_code == 302
    member.post(
        "/logout",
        headers={"Host": ACME},
        data={"csrf_token": csrf_token(member.get("/account/", headers={"Host": ACME}))},
    )
    guess_from_many_addresses(Client(platform), "owner@acme.test", ACCOUNT_CEILING + 10)
    # The member's browser carries the signed known-device cookie of that account.
    assert attempt(member, "owner@acme.test", PASSWORD, address=MEMBER).status_code == 302
    # A browser that never logged in to it waits its turn (it may get one of the trickle).
    stranger = [
        attempt(Client(platform), "owner@acme.test", PASSWORD, address=MEMBER).status_code
        for _ in range(5)
    ]
    assert 429 in stranger


def test_a_known_device_cookie_of_another_tenant_is_worthless(platform, create_tenant) -> None:
    create_tenant("acme", email="boss@shared.test")
    create_tenant("globex", email="boss@shared.test")
    member = Client(platform)
    assert attempt(member, "boss@shared.test", PASSWORD, host=GLOBEX).status_code == 302
    cookie = member.get_cookie("known_device", domain=GLOBEX)
    assert cookie is not None
    guess_from_many_addresses(Client(platform), "boss@shared.test", ACCOUNT_CEILING + 10)
    stranger = Client(platform)
    stranger.set_cookie("known_device", cookie.value, domain=ACME)
    statuses = [
        attempt(stranger, "boss@shared.test", PASSWORD, address=MEMBER).status_code
        for _ in range(5)
    ]
    assert 429 in statuses


def test_another_account_of_the_tenant_is_not_affected(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", PAIR_LIMIT)
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429
    # Same address, another account: its own allowance.
    assert attempt(client, "ann@acme.test", "wrong-password").status_code == 401


def test_the_same_account_on_another_tenant_is_not_affected(platform, create_tenant) -> None:
    create_tenant("acme", email="boss@shared.test")
    create_tenant("globex", email="boss@shared.test")
    client = Client(platform)
    fail(client, "boss@shared.test", PAIR_LIMIT, host=ACME)
    assert attempt(client, "boss@shared.test", PASSWORD, host=ACME).status_code == 429
    assert attempt(client, "boss@shared.test", PASSWORD, host=GLOBEX).status_code == 302


def test_building_another_tenants_app_keeps_the_counters(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    fail(client, "owner@acme.test", PAIR_LIMIT)
    create_tenant("globex")
    assert client.get("/login", headers={"Host": GLOBEX}).status_code == 200  # a new app
    assert platform.tenant_app_for("globex") is not platform.tenant_app_for("acme")
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429


def test_successful_logins_do_not_count(platform, create_tenant) -> None:
    create_tenant("acme")
    for _ in range(PAIR_LIMIT * 2):
        assert attempt(Client(platform), "owner@acme.test", PASSWORD).status_code == 302
    client = Client(platform)
    fail(client, "owner@acme.test", PAIR_LIMIT - 1)
    assert attempt(Client(platform), "owner@acme.test", PASSWORD).status_code == 302


def test_invalid_forms_do_not_count(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    for _ in range(PAIR_LIMIT * 2):
        assert attempt(client, "owner@acme.test", "").status_code == 422
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 302


def test_one_address_is_limited_across_accounts(platform, create_tenant) -> None:
    create_tenant("acme")
    client = Client(platform)
    for number in range(ADDRESS_LIMIT):
        email = f"guess{number % 10}@acme.test"  # three tries each: under the pair limit
        assert attempt(client, email, "wrong-password", address="203.0.113.7").status_code == 401
    blocked = attempt(client, "owner@acme.test", PASSWORD, address="203.0.113.7")
    assert blocked.status_code == 429
    assert "from your network" in blocked.get_data(as_text=True)
    assert attempt(client, "owner@acme.test", PASSWORD, address=MEMBER).status_code == 302


def test_limits_come_from_the_app_config(platform, create_tenant) -> None:
    create_tenant("acme")
    platform.tenant_app_for("acme").config["LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS"] = "2 per minute"
    client = Client(platform)
    fail(client, "owner@acme.test", 2)
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 429


class CountingHash:
    """Instruments the hash function itself: every PBKDF2 run and its iterations."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.original = hashlib.pbkdf2_hmac

    def __call__(self, name, password, salt, iterations, dklen=None):  # noqa: ANN001
        self.runs.append((name, iterations))
        return self.original(name, password, salt, iterations, dklen)


def test_an_unknown_email_does_the_same_hash_work_as_a_wrong_password(
    platform, create_tenant, monkeypatch
) -> None:
    """Item 4: timing must not tell members from strangers; the work is the same."""
    create_tenant("acme")
    client = Client(platform)
    attempt(client, "nobody@acme.test", "warm-up-guess", address="192.0.2.1")  # stand-in made
    counting = CountingHash()
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)

    assert (
        attempt(client, "owner@acme.test", "wrong-password", address="192.0.2.2").status_code == 401
    )
    member_work = list(counting.runs)
    counting.runs.clear()
    assert (
        attempt(client, "nobody@acme.test", "wrong-password", address="192.0.2.3").status_code
        == 401
    )
    stranger_work = list(counting.runs)

    assert member_work, "a wrong password for a member runs the hash"
    assert stranger_work == member_work


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
        missing("Redis is not running on 127.0.0.1:6379")
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
    fail(Client(first), "owner@acme.test", PAIR_LIMIT)
    assert attempt(Client(second), "owner@acme.test", PASSWORD).status_code == 429
    storage = Counters.at(REDIS_URL, str(first.settings.instance_path)).limiter.storage
    assert type(storage).__name__ == "RedisStorage"


def test_an_unreachable_limit_storage_lets_logins_through(
    make_platform, platform, create_tenant, caplog
) -> None:
    """Fail open, logged: a Redis outage must not turn every login into a 500."""
    create_tenant("acme")
    closed_port = make_platform(ratelimit_storage_url="redis://127.0.0.1:1/0")
    client = Client(closed_port)
    for _ in range(PAIR_LIMIT + 1):
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
    fail(client, "owner@acme.test", PAIR_LIMIT + 2)
    fail(client, "owner@globex.test", PAIR_LIMIT, host=GLOBEX)
    assert attempt(client, "owner@globex.test", PASSWORD, host=GLOBEX).status_code == 429
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 302
