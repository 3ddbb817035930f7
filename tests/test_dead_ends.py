"""Pages that used to be dead ends: a suspended workspace, an unknown one, a refused delete.

A suspended workspace's 403 names it, gives the admin's reason and the support address
(SUPPORT_EMAIL); the 404 for an unknown workspace links to signup; suspending takes a
confirmation step in the console, where the reason is given.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import lifecycle
from tenants.console.admin import describe_change
from tenants.registry.models import AuditEntry
from tenants.settings import Settings, SettingsError
from tests.helpers import csrf_token
from tests.test_admin_auth import HOST
from tests.test_admin_tenants import admin_client, registry_row, tenant_page

__all__ = ["admin_client"]

SUPPORT = "help@platform.test"


@pytest.fixture
def tenants_settings_overrides(routing: str) -> dict[str, Any]:
    return {"tenant_routing": routing, "support_email": SUPPORT}


def test_suspended_page_names_the_workspace_the_reason_and_support(
    platform, client, create_tenant
) -> None:
    create_tenant("acme", name="Acme Rockets")
    lifecycle.suspend_tenant(platform, "acme", actor="cli", reason="Payment  overdue\nsince March")
    platform.registry.refresh(force=True)
    page = client.get("/", headers={"Host": "acme.example.com"})
    assert page.status_code == 403
    body = page.get_data(as_text=True)
    assert "Acme Rockets has been suspended" in body
    assert "Reason: Payment overdue since March." in body
    assert f'href="mailto:{SUPPORT}"' in body and f"contact support at {SUPPORT}" in body

    lifecycle.resume_tenant(platform, "acme", actor="cli")
    platform.registry.refresh(force=True)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    lifecycle.suspend_tenant(platform, "acme", actor="cli")  # no reason this time
    platform.registry.refresh(force=True)
    body = client.get("/", headers={"Host": "acme.example.com"}).get_data(as_text=True)
    assert "Reason:" not in body  # the old reason went with the resume


def test_a_reason_is_escaped_and_bounded(platform, client, create_tenant) -> None:
    create_tenant("acme")
    with pytest.raises(lifecycle.InvalidSuspension, match="at most 500"):
        lifecycle.suspend_tenant(platform, "acme", actor="cli", reason="x" * 501)
    assert lifecycle.suspend_tenant(platform, "acme", actor="cli", reason="<b>no</b>").status
    platform.registry.refresh(force=True)
    body = client.get("/", headers={"Host": "acme.example.com"}).get_data(as_text=True)
    assert "&lt;b&gt;no&lt;/b&gt;" in body and "<b>" not in body


def test_the_unknown_workspace_page_links_to_signup(client) -> None:
    page = client.get("/", headers={"Host": "nobody.example.com"})
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    assert "No workspace here" in body
    assert 'href="http://example.com/signup">Sign up</a>' in body
    assert 'href="http://example.com/"' in body


def test_support_email_setting_is_checked() -> None:
    environ = {"SUPPORT_EMAIL": "  help@example.com "}
    assert Settings.from_environ(environ).support_email == "help@example.com"
    assert Settings.from_environ({}).support_email == ""
    with pytest.raises(SettingsError, match="SUPPORT_EMAIL"):
        Settings.from_environ({"SUPPORT_EMAIL": "not an address"})


def test_suspend_asks_first_and_takes_a_reason(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    page = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    # The tenant page links to the confirmation step; no one-click suspend form.
    assert f'href="/admin/tenants/{tenant.id}/suspend">Suspend…</a>' in page
    assert f'action="/admin/tenants/{tenant.id}/suspend"' not in page
    confirm = admin_client.get(f"/admin/tenants/{tenant.id}/suspend", headers=HOST)
    assert confirm.status_code == 200
    body = confirm.get_data(as_text=True)
    assert "Suspend acme" in body and "Cancel" in body and 'name="reason"' in body
    assert registry_row(platform, tenant.id).status == "active"  # asking changed nothing

    token = csrf_token(confirm)
    too_long = admin_client.post(
        f"/admin/tenants/{tenant.id}/suspend",
        headers=HOST,
        data={"csrf_token": token, "reason": "x" * 501},
    )
    assert too_long.status_code == 422 and "at most 500" in too_long.get_data(as_text=True)
    assert registry_row(platform, tenant.id).status == "active"

    done = admin_client.post(
        f"/admin/tenants/{tenant.id}/suspend",
        headers=HOST,
        data={"csrf_token": token, "reason": "Terms of service, section 4"},
    )
    assert done.status_code == 303
    row = registry_row(platform, tenant.id)
    assert (row.status, row.suspension_reason) == ("suspended", "Terms of service, section 4")
    page = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    assert "Suspended because" in page and "Terms of service, section 4" in page
    assert "reason: Terms of service, section 4" in page  # the audit entry, readable
    with Session(platform.engine) as session:
        entry = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.tenant_id == tenant.id)
                .order_by(AuditEntry.id.desc())
            )
            .scalars()
            .first()
        )
    assert entry.action == "tenant.suspend"
    assert entry.detail == {"reason": "Terms of service, section 4"}


def test_audit_details_read_as_text() -> None:
    assert describe_change({"settings": {"accent": "#c2410c"}}) == "settings: accent #c2410c"
    assert (
        describe_change({"display_name": "Acme", "plan": "pro"}) == "display name: Acme; plan: pro"
    )
    assert describe_change(None) == ""


def test_a_refused_delete_says_why_at_the_top(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    token = csrf_token(tenant_page(admin_client, tenant.id))
    refused = admin_client.post(
        f"/admin/tenants/{tenant.id}/delete",
        headers=HOST,
        data={"csrf_token": token, "confirm": "acm"},
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    alert = body.index('role="alert"')
    assert "The tenant was not deleted: Type “acme” exactly" in body[alert : alert + 200]


def test_the_cli_takes_a_reason(platform, create_tenant) -> None:
    create_tenant("acme")
    runner = platform.console.test_cli_runner()
    result = runner.invoke(args=["tenants", "suspend", "acme", "--reason", "Abuse report #42"])
    assert result.exit_code == 0, result.output
    with Session(platform.engine) as session:
        from tenants.registry.service import get_live

        assert get_live(session, "acme").suspension_reason == "Abuse report #42"
