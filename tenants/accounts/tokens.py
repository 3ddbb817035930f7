"""Signed, short-lived, single-use sign-in tokens (itsdangerous).

After signup the platform (at the root domain) cannot set the tenant's host-only
cookie, so it hands the new owner over with a token signed by the tenant's own secret,
POSTed to the tenant (never in a URL). The tenant app checks the signature and age, and
records the token's nonce so that it works once.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

LOGIN_TOKEN_MAX_AGE = 60
_SALT = "tenants.login-token"


class LoginTokenError(ValueError):
    """The token is expired, forged or malformed; the message says which."""


def make_login_token(tenant_secret: str, tenant_id: int, user_id: int) -> str:
    serializer = URLSafeTimedSerializer(tenant_secret, salt=_SALT)
    return serializer.dumps({"tenant": tenant_id, "user": user_id, "nonce": secrets.token_hex(16)})


def read_login_token(tenant_secret: str, token: str, max_age: int | None = None) -> dict[str, Any]:
    serializer = URLSafeTimedSerializer(tenant_secret, salt=_SALT)
    try:
        claims = serializer.loads(
            token, max_age=LOGIN_TOKEN_MAX_AGE if max_age is None else max_age
        )
    except SignatureExpired:
        raise LoginTokenError("That sign-in link has expired.") from None
    except BadSignature:
        raise LoginTokenError("That sign-in link is not valid.") from None
    if not isinstance(claims, dict) or not {"tenant", "user", "nonce"} <= claims.keys():
        raise LoginTokenError("That sign-in link is not valid.")
    return claims


# -- links sent by mail: invitations, password resets, address verification -------------


class LinkError(ValueError):
    """A mailed link that cannot be used; ``kind`` says why ("expired", "invalid")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def fingerprint(value: str) -> str:
    """A short digest of ``value`` (a password hash, an address) to bind a link to it.

    A reset link carries the fingerprint of the password hash it was made for: once the
    password changes (by this link or any other way) the link no longer matches, so it
    works once without a table of spent links. Verification links do the same with the
    address they verify.
    """
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def make_link_token(tenant_secret: str, purpose: str, tenant_id: int, **claims: Any) -> str:
    """A signed token for a mailed link: signed by the tenant's own key, naming the tenant."""
    serializer = URLSafeTimedSerializer(tenant_secret, salt=f"tenants.link.{purpose}")
    return serializer.dumps({"tenant": tenant_id, **claims})


def read_link_token(
    tenant_secret: str, purpose: str, tenant_id: int, token: str, *, max_age: int
) -> dict[str, Any]:
    """The claims of a link token of this tenant, or :class:`LinkError`.

    Another tenant's token fails its signature (each tenant signs with its own key); a
    token signed with this key but naming another tenant is refused too.
    """
    serializer = URLSafeTimedSerializer(tenant_secret, salt=f"tenants.link.{purpose}")
    if len(token) > 2000:
        raise LinkError("invalid", "That link is not valid.")
    try:
        claims = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkError("expired", "That link has expired.") from None
    except BadSignature:
        raise LinkError("invalid", "That link is not valid.") from None
    if not isinstance(claims, dict) or claims.get("tenant") != tenant_id:
        raise LinkError("invalid", "That link is not valid.")
    return claims
