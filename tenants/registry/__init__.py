"""The tenant registry: which tenants exist, where they live, and their status.

- ``lookup``: :class:`TenantRegistry`, how each process looks tenants up (a bounded
  record cache, ``recordcache``, and a key index, ``keyindex``), kept fresh by reading
  the change feed (``feed``);
- ``record``: :class:`TenantRecord`, the plain values the rest of the platform passes;
- ``models``: the platform database's tables; ``service``: writes in one lock order;
- ``slugs``: which names a tenant may take; ``migrations/``: the platform database's
  Alembic history.

``TenantRegistry`` is imported when first used: the dispatcher imports
``tenants.registry.record`` and must not load SQLAlchemy through this package.
"""

from __future__ import annotations

from typing import Any

from tenants.registry.record import RegistryUnavailable, TenantRecord, TenantStatus

__all__ = ["RegistryUnavailable", "TenantRecord", "TenantRegistry", "TenantStatus"]


def __getattr__(name: str) -> Any:
    if name == "TenantRegistry":
        from tenants.registry.lookup import TenantRegistry

        return TenantRegistry
    raise AttributeError(f"module 'tenants.registry' has no attribute {name!r}")
