"""A process killed mid-provisioning holds nothing for long (issue 10, item 3).

A real process provisions a tenant and stops at a storage step; the test kills it with
SIGKILL (no ``finally``, no ``except`` runs), as a gunicorn worker dies. Then: within
the provisioning lease the name is still held (409); past it, the next claim takes it
over at once (the dead row failed, its partial file or schema dropped), and
``tenants cleanup``'s sweep does the same without any signup. Both backends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import cleanup, lifecycle
from tenants.registry.models import AuditEntry, Tenant, TenantStatus
from tenants.registry.service import SlugTaken
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["inside-storage", "after-storage"]


def new_tenant() -> lifecycle.NewTenant:
    return lifecycle.NewTenant("acme", "Acme Again", "again@acme.test", PASSWORD)


def kill_mid_provisioning(settings, step: str, tmp_path: Path) -> int:
    """Start a provisioning process, wait until it stops at ``step``, SIGKILL it."""
    marker = tmp_path / f"paused-{step}"
    fields = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}
    fields["instance_path"] = str(settings.instance_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.provision_child", json.dumps(fields), step, str(marker)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, f"the provisioning process exited ({child.returncode})"
            assert time.monotonic() < deadline, "the provisioning process never reached its step"
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    return child.pid


def rows(platform) -> list[Tenant]:
    with Session(platform.engine) as session:
        return list(session.execute(select(Tenant).order_by(Tenant.id)).scalars())


def leftovers(platform) -> list[str]:
    """Files of tenant storage in the instance folder (SQLite) or tenant schemas (PostgreSQL)."""
    storage = platform.storage
    if storage.kind == "sqlite":
        return sorted(p.name for p in Path(storage.directory).iterdir() if "tenant-" in p.name)
    return sorted(storage.location(i) for i in storage.existing_ids())


def until(check, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.parametrize("step", STEPS)
def test_the_next_signup_takes_over_a_dead_claim_after_its_lease(
    platform, make_platform, tmp_path: Path, step: str
) -> None:
    kill_mid_provisioning(platform.settings, step, tmp_path)
    [dead] = rows(platform)
    assert dead.status == TenantStatus.PROVISIONING
    if platform.storage.kind == "sqlite" and step == "inside-storage":
        assert any(".building-" in name for name in leftovers(platform))
    if step == "after-storage":
        assert leftovers(platform)  # complete storage of a row never activated

    # Within its lease the claim may still be alive: the name is held.
    patient = make_platform(provisioning_lease_seconds=3600)
    with pytest.raises(SlugTaken):
        lifecycle.provision_tenant(patient, new_tenant())
    with pytest.raises(lifecycle.InvalidTransition, match="still being provisioned"):
        lifecycle.delete_tenant(patient, "acme")

    # Past the lease (1 second here), the next claim takes the name over.
    brisk = make_platform(provisioning_lease_seconds=1)

    def claim() -> lifecycle.ProvisionedTenant | None:
        try:
            return lifecycle.provision_tenant(brisk, new_tenant())
        except SlugTaken:
            return None

    tenant = until(claim, "the name was never taken over")
    old, new = rows(platform)
    assert (old.id, old.status) == (dead.id, TenantStatus.FAILED)
    assert (new.id, new.status) == (tenant.id, TenantStatus.ACTIVE)
    # The dead claim's storage is gone (PostgreSQL rolled back its open transaction).
    expected = [Path(platform.storage.location(tenant.id)).name]
    until(lambda: leftovers(platform) == expected, f"left behind: {leftovers(platform)}")
    with Session(platform.engine) as session:
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.tenant_id == dead.id)
        ).scalar_one()
    assert entry.action == "tenant.fail" and "lease" in entry.detail["reason"]


@pytest.mark.parametrize("step", STEPS)
def test_cleanup_sweeps_a_dead_claim_without_any_signup(
    platform, make_platform, tmp_path: Path, step: str
) -> None:
    kill_mid_provisioning(platform.settings, step, tmp_path)
    [dead] = rows(platform)
    patient = make_platform(provisioning_lease_seconds=3600)
    assert cleanup.sweep(patient).failed == []  # within its lease: left alone

    brisk = make_platform(provisioning_lease_seconds=1)
    report = until(lambda: cleanup.sweep(brisk).failed and True, "never swept")
    assert report
    assert rows(platform)[0].status == TenantStatus.FAILED
    until(lambda: leftovers(platform) == [], f"left behind: {leftovers(platform)}")
    brisk.registry.refresh(force=True)
    assert brisk.registry.get("acme") is None
    # The name is free for anyone now, with any lease.
    assert lifecycle.provision_tenant(patient, new_tenant()).id != dead.id


def test_an_admin_can_delete_a_dead_claim_after_its_lease(platform, make_platform, tmp_path):
    kill_mid_provisioning(platform.settings, "after-storage", tmp_path)
    brisk = make_platform(provisioning_lease_seconds=1)

    def delete() -> bool:
        try:
            lifecycle.delete_tenant(brisk, "acme", actor="root@platform.test")
        except lifecycle.InvalidTransition:
            return False
        return True

    until(delete, "the dead claim could never be deleted")
    assert rows(platform)[0].status == TenantStatus.PURGED  # a dead claim has nothing to keep
    assert leftovers(platform) == []
