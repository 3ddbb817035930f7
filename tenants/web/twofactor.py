"""Two-factor sign-in, shared by tenant users and platform admins: TOTP and recovery codes.

TOTP (RFC 6238, ``pyotp``): 6 digits from an authenticator app, 30-second steps; a code
is accepted one step early or late (clock drift), and never twice: the step of the last
accepted code is stored and a code must be for a later one (a code seen over a shoulder
or replayed from a log is worthless). Recovery codes are ten random single-use codes
shown once at enrolment and stored as SHA-256 hashes (they are long random strings, so
a fast hash is enough: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from collections.abc import MutableMapping
from typing import Any

import pyotp
import segno
from markupsafe import Markup
from pyotp.utils import strings_equal

RECOVERY_CODES = 10
_NOT_CODE = re.compile(r"[\s-]+")


def new_secret() -> str:
    return pyotp.random_base32()


def pending_secret(store: MutableMapping[str, Any], key: str) -> str:
    """The secret being set up, kept under ``key`` in ``store`` (the signed session) so
    the QR code stays the same across the setup form's tries; a new one if none is there."""
    secret = store.get(key)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = store[key] = new_secret()
    return secret


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app adds (a tap on a phone opens it)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> Markup:
    """The ``otpauth://`` URI as an inline SVG QR code (segno), for a phone's camera.

    Inline markup, not an image URL: the content security policy stays as it is, and the
    secret never travels in a second request.
    """
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=4,
        border=2,
        xmldecl=False,
        svgns=True,
        nl=False,
        title="QR code of your two-factor key",
    )
    return Markup(buffer.getvalue().decode())


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def check_totp(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step ``code`` is for, if it is right and newer than ``last_step``; else None."""
    digits = _NOT_CODE.sub("", code or "")
    if not digits.isdigit() or len(digits) != 6:
        return None
    totp = pyotp.TOTP(secret)
    try:
        step = totp.verify_and_get_timecode(digits, valid_window=1)
    except pyotp.exceptions.OTPVerificationError:
        return None
    if last_step is not None and step <= last_step:
        return None  # a replay of an accepted code (or an older one)
    return step


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]


def hash_recovery_code(code: str) -> str:
    normal = _NOT_CODE.sub("", (code or "").lower())
    return hashlib.sha256(f"recovery:{normal}".encode()).hexdigest()


def matching_hash(code: str, hashes: list[str]) -> str | None:
    """The stored hash ``code`` matches (compared in constant time), or None."""
    candidate = hash_recovery_code(code)
    found = None
    for stored in hashes:
        if strings_equal(candidate, stored):
            found = stored
    return found
