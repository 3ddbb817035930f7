"""A process that provisions a tenant and stops at a chosen step, to be killed there.

Run by ``tests/test_provisioning_crash.py``: ``python -m tests.provision_child SETTINGS STEP
MARKER``. It writes MARKER when it reaches STEP, then waits to be killed (SIGKILL), as a
gunicorn worker killed mid-signup would be.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from tenants import lifecycle
from tenants.contract import load_tenant_app
from tenants.kernel import Platform
from tenants.settings import Settings

STEPS = ("inside-storage", "after-storage")


def pause_here(marker: Path) -> None:
    marker.write_text("paused")
    time.sleep(600)
    raise SystemExit("nobody killed this process")


def main(raw_settings: str, step: str, marker: Path) -> None:
    fields = json.loads(raw_settings)
    fields["instance_path"] = Path(fields["instance_path"])
    settings = Settings(**fields)
    tenant_app = load_tenant_app(settings.tenant_app)
    if step == "inside-storage":
        original = tenant_app.provision

        # Tables made, owner added, the storage's transaction (or building file) still open.
        def provision(session, owner):  # noqa: ANN001, ANN202
            owner_id = original(session, owner)
            session.flush()
            pause_here(marker)
            return owner_id

        tenant_app = dataclasses.replace(tenant_app, provision=provision)
    platform = Platform(settings, tenant_app)
    if step == "after-storage":
        # The storage is complete and committed; the row is not active yet.
        create = platform.storage.create

        def create_then_pause(tenant_id, populate):  # noqa: ANN001, ANN202
            create(tenant_id, populate)
            pause_here(marker)

        platform.storage.create = create_then_pause  # type: ignore[method-assign]
    lifecycle.provision_tenant(
        platform,
        lifecycle.NewTenant("acme", "Acme", "owner@acme.test", "correct-horse-battery"),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
