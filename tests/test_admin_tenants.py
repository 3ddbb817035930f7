"""The admin console's tenants: list (search, filter, pages), one tenant's page and its actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenants.accounts.models import User
from tenants.admins import create_admin
from tenants.registry import service
from tenants.registry.models import AuditEntry, Tenant, TenantStatus
from tests.conftest import PASSWORD
from tests.helpers import csrf_token
from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

ROW_LINK = re.compile(r'href="/admin/tenants/(\d+)">([^<]+)</a>')


@pytest.fixture
def admin_client(platform, client):
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    assert log_in_admin(client).status_code == 303
    return client


def add_registry_rows(platform, rows: list[tuple[str, str, TenantStatus]]) -> dict[str, int]:
    """Registry rows only (no storage), in one transaction: enough for the list, and cheap."""
    with Session(platform.engine) as session:
        tenants = []
        for slug, name, status in rows:
            tenant = Tenant(slug=slug, display_name=name, status=status, plan="free", settings={})
            service.touch(session, tenant)
            session.add(tenant)
            tenants.append(tenant)
        session.commit()
        return {tenant.slug: tenant.id for tenant in tenants}


def listed(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [slug for _, slug in ROW_LINK.findall(response.get_data(as_text=True))]


def tenant_page(client, tenant_id: int):
    return client.get(f"/admin/tenants/{tenant_id}", headers=HOST)


def post_action(client, tenant_id: int, action: str, **data: str):
    token = csrf_token(tenant_page(client, tenant_id))
    return client.post(
        f"/admin/tenants/{tenant_id}/{action}", headers=HOST, data={"csrf_token": token, **data}
    )


def audit_rows(platform, tenant_id: int) -> list[tuple[str, str, dict]]:
    with Session(platform.engine) as session:
        entries = session.execute(
            select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.id)
        ).scalars()
        return [(entry.actor, entry.action, entry.detail) for entry in entries]


def registry_row(platform, tenant_id: int) -> Tenant:
    with Session(platform.engine, expire_on_commit=False) as session:
        return session.get_one(Tenant, tenant_id)


# -- the list -------------------------------------------------------------------------


@pytest.fixture
def fleet(platform) -> dict[str, int]:
    rows = [(f"shop-{n:03d}", f"Shop number {n}", TenantStatus.ACTIVE) for n in range(120)]
    rows += [
        ("acme", "Acme Widgets", TenantStatus.ACTIVE),
        ("globex", "Globex ACME Division", TenantStatus.SUSPENDED),
        ("initech", "Initech", TenantStatus.PROVISIONING),
        ("gone", "Gone Ltd", TenantStatus.DELETED),
        ("broken", "Broken Ltd", TenantStatus.FAILED),
    ]
    return add_registry_rows(platform, rows)


def pager_link(body: str, rel: str) -> str | None:
    match = re.search(rf'href="([^"]+)" rel="{rel}"', body)
    return match.group(1).replace("&amp;", "&") if match else None


def test_list_pages_newest_first_50_per_page(admin_client, fleet) -> None:
    first = admin_client.get("/admin/", headers=HOST)
    slugs = listed(first)
    body = first.get_data(as_text=True)
    # Live tenants only by default: 120 shops + acme + globex + initech.
    assert "123 tenants" in body
    assert slugs[:4] == ["initech", "globex", "acme", "shop-119"]
    assert len(slugs) == 50
    assert 'href="http://acme.example.com/"' in body
    assert f'href="/admin/tenants/{fleet["acme"]}"' in body
    assert pager_link(body, "prev") is None

    # Older pages by keyset: "below the last id shown".
    second_page = admin_client.get(pager_link(body, "next"), headers=HOST)
    second = listed(second_page)
    third_page = admin_client.get(
        pager_link(second_page.get_data(as_text=True), "next"), headers=HOST
    )
    third = listed(third_page)
    assert len(second) == 50 and len(third) == 23
    assert pager_link(third_page.get_data(as_text=True), "next") is None
    everything = slugs + second + third
    assert len(set(everything)) == 123
    assert "gone" not in everything and "broken" not in everything

    # And back: "above the first id shown".
    back = admin_client.get(pager_link(third_page.get_data(as_text=True), "prev"), headers=HOST)
    assert listed(back) == second
    back_again = admin_client.get(pager_link(back.get_data(as_text=True), "prev"), headers=HOST)
    assert listed(back_again) == slugs
    assert pager_link(back_again.get_data(as_text=True), "prev") is None

    beyond = admin_client.get("/admin/?before=1", headers=HOST)
    assert listed(beyond) == [] and "No tenants match" in beyond.get_data(as_text=True)


def test_pager_links_keep_the_search(admin_client, fleet) -> None:
    body = admin_client.get("/admin/?q=shop&status=active", headers=HOST).get_data(as_text=True)
    assert "120 tenants" in body
    next_link = pager_link(body, "next")
    assert "q=shop" in next_link and "status=active" in next_link and "before=" in next_link
    assert len(listed(admin_client.get(next_link, headers=HOST))) == 50


def test_the_count_is_capped(admin_client, fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from tenants.console import admin

    monkeypatch.setattr(admin, "COUNT_CAP", 100)
    body = admin_client.get("/admin/", headers=HOST).get_data(as_text=True)
    assert "More than 100 tenants" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=acme", ["globex", "acme"]),  # slug or display name, any case
        ("q=ACME", ["globex", "acme"]),
        ("q=number+11", [f"shop-{n:03d}" for n in range(119, 109, -1)] + ["shop-011"]),
        ("q=shop-00", [f"shop-{n:03d}" for n in range(9, -1, -1)]),
        ("q=%25", []),  # wildcards are searched for literally
        ("q=_", []),
        ("status=suspended", ["globex"]),
        ("status=provisioning", ["initech"]),
        ("status=deleted", ["gone"]),
        ("status=failed", ["broken"]),
        ("q=ltd&status=all", ["broken", "gone"]),
        ("q=ltd", []),
    ],
)
def test_search_and_filter(admin_client, fleet, query: str, expected: list[str]) -> None:
    assert listed(admin_client.get(f"/admin/?{query}", headers=HOST)) == expected


def test_rows_of_dead_tenants_do_not_link_to_their_old_address(admin_client, fleet) -> None:
    body = admin_client.get("/admin/?status=deleted", headers=HOST).get_data(as_text=True)
    assert "gone.example.com" not in body
    assert '<span class="badge deleted">deleted</span>' in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "Not a valid choice"),
        ("before=abc", "tenant id"),
        ("before=0", "tenant id"),
        ("after=-1", "tenant id"),
        ("before=" + "9" * 30, "tenant id"),
        ("before=5&after=3", "not both"),
        ("q=" + "x" * 121, "at most 120"),
    ],
)
def test_bad_list_parameters_are_400(admin_client, query: str, message: str) -> None:
    response = admin_client.get(f"/admin/?{query}", headers=HOST)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


# -- one tenant -----------------------------------------------------------------------


def test_tenant_page_shows_details_members_and_audit(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme", name="Acme Corporation")
    engine = platform.storage.engine_for(tenant.id)
    try:
        with Session(engine) as session:
            session.add(User(email="second@acme.test", password_hash="x", role="member"))
            session.commit()
    finally:
        platform.storage.release(engine)

    page = tenant_page(admin_client, tenant.id)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    row = registry_row(platform, tenant.id)
    for text in (
        "Acme Corporation",
        "<code>acme</code>",
        '<span class="badge active">active</span>',
        "<td>free</td>",
        f"<code>{row.storage_revision}</code>",
        f"<code>{platform.storage.location(tenant.id)}</code>",
        row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        'href="http://acme.example.com/"',
        "tenant.create",
    ):
        assert text in body, text
    assert re.search(r"Members</th><td>2</td>", body)


def test_unknown_tenant_is_404(admin_client) -> None:
    response = tenant_page(admin_client, 4242)
    assert response.status_code == 404
    assert "no tenant with id 4242" in response.get_data(as_text=True)
    assert post_action_404(admin_client, 4242, "suspend").status_code == 404


def post_action_404(client, tenant_id: int, action: str):
    token = csrf_token(client.get("/admin/", headers=HOST))
    return client.post(
        f"/admin/tenants/{tenant_id}/{action}", headers=HOST, data={"csrf_token": token}
    )


def test_suspend_and_resume(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    tenant_host = {"Host": "acme.example.com"}
    assert admin_client.get("/login", headers=tenant_host).status_code == 200

    suspended = post_action(admin_client, tenant.id, "suspend")
    assert suspended.status_code == 303
    assert suspended.headers["Location"] == f"/admin/tenants/{tenant.id}"
    assert admin_client.get("/login", headers=tenant_host).status_code == 403
    page = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    assert "Suspended acme" in page  # the flash
    assert '<span class="badge suspended">suspended</span>' in page

    again = post_action(admin_client, tenant.id, "suspend")
    assert again.status_code == 303
    assert "already suspended" in tenant_page(admin_client, tenant.id).get_data(as_text=True)

    assert post_action(admin_client, tenant.id, "resume").status_code == 303
    assert admin_client.get("/login", headers=tenant_host).status_code == 200

    actions = [(actor, action) for actor, action, _ in audit_rows(platform, tenant.id)]
    assert actions[-2:] == [(ADMIN_EMAIL, "tenant.suspend"), (ADMIN_EMAIL, "tenant.resume")]
    body = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    # Newest first.
    assert body.index("tenant.resume") < body.index("tenant.suspend") < body.index("tenant.create")
    assert ADMIN_EMAIL in body


def test_change_plan(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    version = registry_row(platform, tenant.id).version
    response = post_action(admin_client, tenant.id, "plan", plan="pro")
    assert response.status_code == 303
    row = registry_row(platform, tenant.id)
    assert row.plan == "pro" and row.version > version
    assert audit_rows(platform, tenant.id)[-1] == (ADMIN_EMAIL, "tenant.update", {"plan": "pro"})
    body = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    assert "now on the pro plan" in body and "plan: pro" in body

    refused = post_action(admin_client, tenant.id, "plan", plan="gold")
    assert refused.status_code == 422
    assert "Not a valid choice" in refused.get_data(as_text=True)
    assert registry_row(platform, tenant.id).plan == "pro"


def test_delete_needs_the_exact_slug(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    before = registry_row(platform, tenant.id)
    for typed in ("", "ACME", "acm", "acme ", "globex"):
        response = post_action(admin_client, tenant.id, "delete", confirm=typed)
        assert response.status_code == 422, typed
        body = response.get_data(as_text=True)
        assert "was not deleted" in body
        assert "Type “acme” exactly" in body or "Type the subdomain" in body
    after = registry_row(platform, tenant.id)
    assert (after.status, after.version) == ("active", before.version)
    assert platform.storage.exists(tenant.id)
    assert admin_client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    assert [action for _, action, _ in audit_rows(platform, tenant.id)] == ["tenant.create"]


def test_delete_keeps_storage_and_slug_until_restored_or_purged(
    admin_client, platform, create_tenant, backend
) -> None:
    tenant = create_tenant("acme")
    response = post_action(admin_client, tenant.id, "delete", confirm="acme")
    assert response.status_code == 303
    row = registry_row(platform, tenant.id)
    assert row.status == "deleted" and platform.storage.exists(tenant.id)
    assert admin_client.get("/login", headers={"Host": "acme.example.com"}).status_code == 404
    action, detail = audit_rows(platform, tenant.id)[-1][1:]
    assert action == "tenant.delete" and detail["slug"] == "acme" and detail["was"] == "active"
    body = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    assert "Deleted acme: offline now; it can be restored here until" in body
    assert "Restore acme" in body and "Purge acme" in body and "Delete acme" not in body
    # The slug stays reserved through the grace period.
    with pytest.raises(service.SlugTaken):
        create_tenant("acme")
    for action in ("suspend", "resume", "plan", "delete"):
        refused = post_action(admin_client, tenant.id, action, plan="pro", confirm="acme")
        assert refused.status_code == 409, action
        assert "is deleted; it can no longer be changed" in refused.get_data(as_text=True)

    # Restored: served again, in the status it had.
    assert post_action(admin_client, tenant.id, "undelete").status_code == 303
    assert registry_row(platform, tenant.id).status == "active"
    assert admin_client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200

    # Deleted again and purged now: a wrong slug typed purges nothing.
    post_action(admin_client, tenant.id, "delete", confirm="acme")
    for typed in ("", "acm", "globex"):
        refused = post_action(admin_client, tenant.id, "purge", confirm=typed)
        assert refused.status_code == 422, typed
        assert "was not purged" in refused.get_data(as_text=True)
    assert platform.storage.exists(tenant.id)
    response = post_action(admin_client, tenant.id, "purge", confirm="acme")
    assert response.status_code == 303
    assert registry_row(platform, tenant.id).status == "purged"
    assert not platform.storage.exists(tenant.id)
    body = tenant_page(admin_client, tenant.id).get_data(as_text=True)
    assert "Purged acme" in body and "(dropped)" in body
    assert audit_rows(platform, tenant.id)[-1][1] == "tenant.purge"

    # The slug is free again, and the old tenant's page cannot touch the new one.
    again = create_tenant("acme")
    assert again.id != tenant.id
    assert admin_client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    for action in ("suspend", "resume", "plan", "delete", "undelete", "purge"):
        refused = post_action(admin_client, tenant.id, action, plan="pro", confirm="acme")
        assert refused.status_code == 409, action
    new = registry_row(platform, again.id)
    assert (new.status, new.plan) == ("active", "free")


def test_invalid_transitions_are_409(admin_client, platform) -> None:
    ids = add_registry_rows(platform, [("initech", "Initech", TenantStatus.PROVISIONING)])
    for action in ("suspend", "resume", "delete"):
        response = post_action(admin_client, ids["initech"], action, confirm="initech")
        assert response.status_code == 409, action
        body = response.get_data(as_text=True)
        assert "provision" in body, action
    assert registry_row(platform, ids["initech"]).status == "provisioning"
    assert audit_rows(platform, ids["initech"]) == []


def test_members_count_of_tenant_without_storage_is_shown_as_unknown(
    admin_client, platform
) -> None:
    ids = add_registry_rows(platform, [("ghost", "Ghost", TenantStatus.ACTIVE)])
    body = tenant_page(admin_client, ids["ghost"]).get_data(as_text=True)
    assert "no readable storage" in body
    # Looking did not create any storage.
    assert not platform.storage.exists(ids["ghost"])


def test_timestamps_are_shown_in_utc(admin_client, platform) -> None:
    ids = add_registry_rows(platform, [("clock", "Clock", TenantStatus.ACTIVE)])
    with Session(platform.engine) as session:
        session.execute(
            update(Tenant)
            .where(Tenant.id == ids["clock"])
            .values(created_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
        )
        session.commit()
    assert "2030-01-02 03:04:05 UTC" in tenant_page(admin_client, ids["clock"]).get_data(
        as_text=True
    )


def test_other_processes_see_admin_actions_at_their_next_poll(
    admin_client, make_platform, create_tenant
) -> None:
    from werkzeug.test import Client

    tenant = create_tenant("acme")
    other = make_platform()  # another process over the same registry
    other_client = Client(other)
    tenant_host = {"Host": "acme.example.com"}
    assert other_client.get("/login", headers=tenant_host).status_code == 200

    post_action(admin_client, tenant.id, "suspend")
    other.registry.refresh(force=True)  # what its next poll (every 0.2 s here) does
    assert other_client.get("/login", headers=tenant_host).status_code == 403

    post_action(admin_client, tenant.id, "resume")
    post_action(admin_client, tenant.id, "delete", confirm="acme")
    other.registry.refresh(force=True)
    assert other_client.get("/login", headers=tenant_host).status_code == 404


@pytest.mark.parametrize("routing", ["path"])
def test_path_routing_links_to_the_tenant_prefix(admin_client, platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    body = admin_client.get("/admin/", headers=HOST).get_data(as_text=True)
    assert 'href="http://example.com/acme/"' in body
    assert tenant_page(admin_client, tenant.id).status_code == 200
    assert post_action(admin_client, tenant.id, "suspend").status_code == 303
    assert admin_client.get("/acme/login", headers=HOST).status_code == 403
