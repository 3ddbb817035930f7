"""The ``tenants.testing`` plugin that users' own test suites get."""

from __future__ import annotations

import pytest

from tenants.testing import PASSWORD


def test_tenant_client_signs_in_the_owner_through_the_tenant_app(tenant_client) -> None:
    acme = tenant_client("acme")
    home = acme.get("/")
    assert home.status_code == 200
    assert "owner@acme.test" in home.get_data(as_text=True)
    assert acme.get("/settings/").status_code == 200  # an owner's page


def test_tenant_client_with_another_role(tenant_client) -> None:
    tenant_client("acme")
    member = tenant_client("acme", role="member")
    assert member.get("/").status_code == 200
    assert member.get("/settings/").status_code == 403  # owners only


def test_a_tenant_made_elsewhere_has_no_known_owner(platform, tenant_client) -> None:
    from tenants import lifecycle

    lifecycle.provision_tenant(
        platform, lifecycle.NewTenant("acme", "Acme", "someone@acme.test", PASSWORD)
    )
    with pytest.raises(ValueError, match="owner is unknown"):
        tenant_client("acme")


@pytest.mark.parametrize("routing", ["path"])
def test_tenant_client_in_path_mode(tenant_client) -> None:
    acme = tenant_client("acme")
    assert acme.prefix == "/acme"
    response = acme.get("/notes/")
    assert response.status_code == 200
    assert response.headers["X-Tenant"] == "acme"


def test_assert_isolated_passes_for_separate_tenants_and_fails_for_one(assert_isolated) -> None:
    assert_isolated("notes", {"title": "acme's plan", "body": ""})
    with pytest.raises(AssertionError, match="sees acme's row"):
        assert_isolated("notes", {"title": "shared", "body": ""}, owner="acme", other="acme")
