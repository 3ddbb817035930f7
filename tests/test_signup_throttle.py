"""Signups are throttled per address and overall (issue 10, item 10).

A refused signup is a 429 with ``Retry-After`` and a page that says what happened and
when to try again, and it leaves no row, file or schema behind.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants.registry.models import Tenant
from tenants.testing import PASSWORD
from tests.helpers import csrf_token

ROOT = {"Host": "example.com"}


@pytest.fixture
def tenants_settings_overrides(routing: str):
    return {
        "tenant_routing": routing,
        "signup_limit_per_address": "3 per hour",
        "signup_limit_total": "5 per hour",
    }


def sign_up(client: Client, slug: str, address: str = "203.0.113.5") -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    page = client.get("/signup", headers=ROOT, environ_base=environ)
    return client.post(
        "/signup",
        headers=ROOT,
        environ_base=environ,
        data={
            "name": slug.title(),
            "subdomain": slug,
            "email": f"owner@{slug}.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(page),
        },
    )


def tenant_count(platform) -> int:
    with Session(platform.engine) as session:
        return session.execute(select(func.count()).select_from(Tenant)).scalar_one()


def test_one_address_gets_429_after_its_allowance_and_nothing_is_made(platform) -> None:
    client = Client(platform)
    for slug in ("first", "second", "third"):
        assert sign_up(client, slug).status_code == 200
    refused = sign_up(client, "fourth")
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    page = refused.get_data(as_text=True)
    assert "Too many workspaces were created from your network" in page
    assert "Nothing was created" in page and "Try again in" in page
    assert tenant_count(platform) == 3
    assert len(platform.storage.existing_ids()) == 3
    platform.registry.refresh(force=True)
    assert platform.registry.get("fourth") is None
    # Another address still may.
    assert sign_up(client, "fourth", address="198.51.100.9").status_code == 200


def test_everyone_together_is_limited_too(platform) -> None:
    client = Client(platform)
    for number in range(5):
        assert sign_up(client, f"team{number}", address=f"192.0.2.{number + 1}").status_code == 200
    refused = sign_up(client, "team9", address="192.0.2.77")
    assert refused.status_code == 429
    assert "Too many workspaces are being created right now" in refused.get_data(as_text=True)
    assert tenant_count(platform) == 5


def test_invalid_signups_do_not_use_up_the_allowance(platform) -> None:
    client = Client(platform)
    for _ in range(5):
        assert sign_up(client, "ab").status_code == 422  # too short: refused by the form
    assert sign_up(client, "valid-name").status_code == 200


def test_a_bad_limit_setting_is_refused_at_start() -> None:
    from tenants.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="SIGNUP_LIMIT_PER_ADDRESS"):
        Settings.from_environ({"SIGNUP_LIMIT_PER_ADDRESS": "lots"}, load_dotenv=False)
