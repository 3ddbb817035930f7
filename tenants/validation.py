"""Rules for people's input that the platform and tenant apps share: emails and passwords.

Signup (the platform) and the accounts of a tenant app accept the same addresses and
passwords, so a person never meets two different rules for one account.
"""

from __future__ import annotations

import re
from functools import cache

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200
MAX_EMAIL_LENGTH = 254


def valid_email(email: str) -> bool:
    """Shaped like you@example.com (no DNS look-up: the domain may be internal)."""
    return len(email) <= MAX_EMAIL_LENGTH and _EMAIL.match(email) is not None


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def common_password(password: str) -> bool:
    """Is ``password`` one of the 30,000 most common ones (zxcvbn's list, from leaks)?

    Those are the first guesses of anyone trying a login, whatever their length
    (``password``, ``12345678``, ``iloveyou``); case does not make them safer.
    """
    return password.lower() in _common_passwords()


def password_problem(password: str, *, email: str = "") -> str | None:
    """Why ``password`` cannot be an account's, for a person, or None if it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if common_password(password):
        return "That is one of the most common passwords, the first ones tried: choose another."
    if email and password.lower() in {email.lower(), email.split("@")[0].lower()}:
        return "Do not use your email address as the password."
    return None
