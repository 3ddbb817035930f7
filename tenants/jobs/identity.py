"""Which tenant is enqueuing: read from the tenant app handling the current request.

The one place that knows how a tenant app carries its identity. Today that is the
app's config; when tenant apps get their services through the platform contract,
only this function changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_app_context


@dataclass(frozen=True, slots=True)
class TenantStamp:
    """The tenant a job belongs to, as the enqueuing app knew it."""

    id: int
    slug: str
    version: int


def current_tenant_stamp() -> TenantStamp | None:
    """The tenant of the current app context, or None outside any tenant app."""
    if not has_app_context():
        return None
    config = current_app.config
    tenant_id = config.get("TENANT_ID")
    if tenant_id is None:
        return None
    return TenantStamp(
        id=int(tenant_id), slug=str(config["TENANT_SLUG"]), version=int(config["TENANT_VERSION"])
    )
