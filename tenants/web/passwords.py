"""Checking a password costs the same whether or not the account exists.

A login that stops early for an unknown email answers in microseconds, and one that
checks a hash in tens of milliseconds: one request per email tells members from
strangers. :func:`password_matches` checks the password against a stand-in hash of the
same method when there is no account, so both paths do the same work.
"""

from __future__ import annotations

import secrets
from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash


@cache
def stand_in_hash(method: str) -> str:
    """A hash of a random password with ``method``, made once per process and method."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def password_matches(stored_hash: str | None, password: str, *, method: str) -> bool:
    """Does ``password`` match ``stored_hash``? With no hash (no such account): False,
    after the same work a real check does (``method`` is the one new hashes use)."""
    if stored_hash is None:
        check_password_hash(stand_in_hash(method), password)
        return False
    return check_password_hash(stored_hash, password)
