"""Provisioning is all or nothing: a failure at any step leaves no trace, and a retry works.

The faults are injected (a step raises), since a disk or server failing half-way
cannot be caused on demand; everything around them is real.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import tenants.storage.backends as backends
from tenants import lifecycle
from tenants.registry import service
from tenants.registry.models import Tenant, TenantStatus
from tests.conftest import PASSWORD


class InjectedFault(RuntimeError):
    pass


def _fail(*_args: object, **_kwargs: object) -> None:
    raise InjectedFault("injected")


def _fail_activation(original):
    def set_status(session, tenant, status):
        if status == TenantStatus.ACTIVE:
            raise InjectedFault("injected")
        return original(session, tenant, status)

    return set_status


def _fail_after_owner(storage):
    original = storage.create

    def create(tenant_id, populate):
        def populate_then_fail(session):
            populate(session)
            session.flush()  # the owner row is written, then the step fails
            raise InjectedFault("injected")

        return original(tenant_id, populate_then_fail)

    return create


STEPS = {
    "create-tables": lambda mp, p: mp.setattr(p.tenant_app.metadata, "create_all", _fail),
    "stamp-revision": lambda mp, _: mp.setattr(backends.migrations, "stamp_head", _fail),
    "add-owner": lambda mp, p: mp.setattr(p.storage, "create", _fail_after_owner(p.storage)),
    "move-file-into-place": lambda mp, _: mp.setattr(os, "replace", _fail),
    "mark-active": lambda mp, _: mp.setattr(
        service, "set_status", _fail_activation(service.set_status)
    ),
}


def new_tenant(slug: str = "acme") -> lifecycle.NewTenant:
    return lifecycle.NewTenant(slug, "Acme", "owner@acme.test", PASSWORD)


@pytest.mark.parametrize("step", list(STEPS))
def test_failure_at_each_step_leaves_no_trace_and_retry_works(
    platform, client, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    if step == "move-file-into-place" and platform.storage.kind != "sqlite":
        pytest.skip("only SQLite moves a file into place")
    with monkeypatch.context() as patch:
        STEPS[step](patch, platform)
        with pytest.raises(InjectedFault):
            lifecycle.provision_tenant(platform, new_tenant())

    # Nothing routable, no storage, no half-built file; the row says what happened.
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme") is None
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 404
    assert platform.storage.existing_ids() == set()
    if platform.storage.kind == "sqlite":
        leftovers = [
            p.name for p in Path(platform.storage.directory).iterdir() if "tenant-" in p.name
        ]
        assert leftovers == []
    with Session(platform.engine) as session:
        statuses = session.execute(select(Tenant.status)).scalars().all()
    assert statuses == [TenantStatus.FAILED]

    # The same slug can be tried again, and works.
    tenant = lifecycle.provision_tenant(platform, new_tenant())
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    assert platform.storage.existing_ids() == {tenant.id}


def test_stuck_provisioning_row_holds_the_slug_but_is_not_served(platform, client) -> None:
    with Session(platform.engine) as session:
        service.claim_slug(session, "acme", display_name="Acme")
    with pytest.raises(service.SlugTaken):
        lifecycle.provision_tenant(platform, new_tenant())
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 404


def test_purged_slug_can_be_signed_up_again_with_fresh_storage(
    platform, client, create_tenant
) -> None:
    first = create_tenant("acme")
    lifecycle.delete_tenant(platform, "acme")
    with pytest.raises(lifecycle.SlugTaken):  # held through the grace period
        create_tenant("acme")
    lifecycle.purge_tenant(platform, "acme", confirm="acme")
    second = create_tenant("acme")
    assert second.id != first.id
    assert platform.storage.existing_ids() == {second.id}
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200


def test_provisioning_given_up_by_cleanup_does_not_come_back(
    platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = platform.storage.create

    def create_while_cleanup_gives_up(tenant_id, populate):
        revision = original(tenant_id, populate)
        with Session(platform.engine) as session:  # what `tenants cleanup` does meanwhile
            service.set_status(session, session.get_one(Tenant, tenant_id), TenantStatus.FAILED)
            session.commit()
        return revision

    monkeypatch.setattr(platform.storage, "create", create_while_cleanup_gives_up)
    with pytest.raises(lifecycle.ProvisioningAbandoned):
        lifecycle.provision_tenant(platform, new_tenant())
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme") is None
    assert platform.storage.existing_ids() == set()
