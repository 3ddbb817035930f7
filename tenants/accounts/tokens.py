"""Signed, short-lived, single-use sign-in tokens (itsdangerous).

After signup the platform (at the root domain) cannot set the tenant's host-only
cookie, so it hands the new owner over with a token signed by the tenant's own secret,
POSTed to the tenant (never in a URL). The tenant app checks the signature and age, and
records the token's nonce so that it works once.
"""

from __future__ import annotations

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
