"""Signed links the platform mails (admins' password resets): make one, read one.

A link token is signed (itsdangerous) with a key of the sender's and a salt per purpose,
carries its claims and the time it was made; reading checks both. The platform's links
are signed with the console's key, so no tenant key opens them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class PlatformLinkError(ValueError):
    """The link is unusable; ``kind`` is "expired" or "invalid"."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def fingerprint(value: str) -> str:
    """A digest binding a link to a state (a password hash): it dies when that changes."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def make_link(key: str, purpose: str, **claims: Any) -> str:
    return URLSafeTimedSerializer(key, salt=f"tenants.platform-link.{purpose}").dumps(claims)


def read_link(key: str, purpose: str, token: str, *, max_age: int) -> dict[str, Any]:
    if len(token) > 2000:
        raise PlatformLinkError("invalid")
    serializer = URLSafeTimedSerializer(key, salt=f"tenants.platform-link.{purpose}")
    try:
        claims = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise PlatformLinkError("expired") from None
    except BadSignature:
        raise PlatformLinkError("invalid") from None
    if not isinstance(claims, dict):
        raise PlatformLinkError("invalid")
    return claims
