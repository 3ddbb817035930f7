"""Rules for people's input that the platform and tenant apps share: emails and passwords.

Signup (the platform) and the accounts of a tenant app accept the same addresses and
passwords, so a person never meets two different rules for one account.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200
MAX_EMAIL_LENGTH = 254


def valid_email(email: str) -> bool:
    """Shaped like you@example.com (no DNS look-up: the domain may be internal)."""
    return len(email) <= MAX_EMAIL_LENGTH and _EMAIL.match(email) is not None
