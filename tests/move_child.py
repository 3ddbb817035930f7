"""A process that moves a tenant and stops at a chosen step, to be killed there.

Run by ``tests/test_moves.py``: ``python -m tests.move_child SETTINGS SLUG TARGET STEP
LEASE MARKER``. It writes MARKER when the move reaches STEP (one of
``tenants.moves.STEPS``), then waits to be killed (SIGKILL), as an operator's shell or a
node lost mid-move would leave it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tenants import moves
from tenants.contract import load_tenant_app
from tenants.kernel import Platform
from tenants.settings import Settings


def main(raw: str, slug: str, target: str, step: str, lease: str, marker: Path) -> None:
    fields = json.loads(raw)
    fields["instance_path"] = Path(fields["instance_path"])
    settings = Settings(**fields)
    platform = Platform(settings, load_tenant_app(settings.tenant_app))

    def hook(reached: str) -> None:
        if reached == step:
            marker.write_text(reached)
            time.sleep(600)
            raise SystemExit("nobody killed this process")

    moves.move_tenant(
        platform, slug, target, actor="test", lease_seconds=float(lease), step_hook=hook
    )


if __name__ == "__main__":
    main(*sys.argv[1:6], Path(sys.argv[6]))
