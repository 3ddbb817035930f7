"""The reference tenant app: accounts plus the product modules listed below.

``app`` is what the platform serves by default (``TENANT_APP=tenants.workspace:app``).
Adding a product module is one line in ``MODULES`` (see docs/extending.md).
"""

from __future__ import annotations

from tenants import notes
from tenants.workspace.factory import HISTORY, workspace_app

#: The workspace's product modules, in navigation order: one line registers one.
MODULES = [
    notes.module,
]

app = workspace_app(MODULES)

__all__ = ["HISTORY", "MODULES", "app", "workspace_app"]
