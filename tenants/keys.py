"""Secret keys derived from the platform's ``SECRET_KEY``: one per tenant, one for the console.

Deriving (HMAC-SHA256) rather than storing keys means nothing to back up or rotate
per tenant, and a cookie or token signed for one tenant never verifies on another.
"""

from __future__ import annotations

import hashlib
import hmac


def derive_tenant_secret(platform_secret: str, tenant_id: int) -> str:
    """The tenant's own secret key: an HMAC of the platform secret and the tenant id."""
    return hmac.new(
        platform_secret.encode(), f"tenant-secret:{tenant_id}".encode(), hashlib.sha256
    ).hexdigest()


def derive_console_secret(platform_secret: str) -> str:
    """The platform app's (landing, signup, admin console) own key."""
    return hmac.new(platform_secret.encode(), b"console", hashlib.sha256).hexdigest()


def derive_directory_key(platform_secret: str) -> bytes:
    """The key of the member directory's email hashes (``tenants.registry.directory``)."""
    return hmac.new(platform_secret.encode(), b"member-directory", hashlib.sha256).digest()
