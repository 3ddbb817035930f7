"""Throttles for logins and signups, counted in the platform's rate-limit storage.

Counters are moving windows of the ``limits`` library (the engine of Flask-Limiter) in
the storage ``RATELIMIT_STORAGE_URL`` names: ``memory://`` for one process, Redis for
many. A storage outage is logged and lets the attempt through (the password is still
checked): a Redis restart must not turn every login into a 500.

The login policy (SECURITY.md, "Brute force", says why) is one object,
:class:`LoginGuard`, used by tenant logins and the admin console alike:

- failures of one account from one address: tight (5 a minute). An attacker at one
  address stops there; the account's owner at another address is not affected;
- failures from one address across accounts: 30 a minute (no sweep of many accounts);
- failures of one account from anywhere: a wider ceiling (50 an hour) against an
  attack from many addresses. Past it the account is not locked: attempts from a
  device that never logged in to it trickle through (3 a minute for all of them
  together), and a device that did (its signed "known device" cookie,
  :class:`KnownDevices`) passes as usual.

Only failed password checks count towards the first three; the trickle counts attempts.
The view asks :meth:`LoginGuard.refusal` before checking a password and reports a
failure with :meth:`LoginGuard.failed`, with the email the form read, whatever way the
form was sent (urlencoded, multipart or JSON): there is no second reading of the body.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")


class Counters:
    """Moving-window counters in one storage; one per (storage URL, scope) per process.

    ``scope`` keeps ``memory://`` counters of platforms sharing a process apart (tests);
    in Redis the keys' prefixes do that.
    """

    _made: dict[tuple[str, str], Counters] = {}
    _lock = threading.Lock()

    def __init__(self, storage_url: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    @classmethod
    def at(cls, storage_url: str, scope: str = "") -> Counters:
        key = (storage_url, scope)
        counters = cls._made.get(key)
        if counters is None:
            with cls._lock:
                counters = cls._made.setdefault(key, cls(storage_url))
        return counters

    def _safely(self, what: Callable[[], T], fallback: T) -> T:
        try:
            return what()
        except Exception:
            log.exception("The rate limit storage failed; the attempt is let through.")
            return fallback

    def allows(self, limit: RateLimitItem, *key: str) -> bool:
        """Would one more hit stay within ``limit``? (Counts nothing.)"""
        return self._safely(lambda: self.limiter.test(limit, *key), True)

    def hit(self, limit: RateLimitItem, *key: str) -> bool:
        """Count one; False (and nothing counted) when ``limit`` is reached."""
        return self._safely(lambda: self.limiter.hit(limit, *key), True)

    def seconds_until_free(self, limit: RateLimitItem, *key: str) -> int:
        """Seconds until ``limit`` lets one more through (at least 1)."""
        stats = self._safely(lambda: self.limiter.get_window_stats(limit, *key), None)
        if stats is None:
            return limit.get_expiry()
        return max(1, min(limit.get_expiry(), math.ceil(stats.reset_time - time.time())))


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused (for the 429 page) and when to try again."""

    message: str
    retry_after: int


def account_key(email: str) -> str:
    """An account's counter key: hashed, so keys are short and hold no address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LoginLimits:
    """The login policy's limits (``limits`` notation: "5 per minute")."""

    per_account_and_address: str = "5 per minute"
    per_address: str = "30 per minute"
    per_account: str = "50 per hour"
    past_ceiling: str = "3 per minute"

    def parsed(self) -> dict[str, RateLimitItem]:
        return {name: parse(getattr(self, name)) for name in self.__dataclass_fields__}


class LoginGuard:
    """The login policy of one app (a tenant's, or the console's): see the module docstring."""

    def __init__(self, counters: Counters, namespace: str, limits: LoginLimits) -> None:
        self.counters = counters
        self.namespace = namespace
        self.limits = limits.parsed()

    def _key(self, kind: str, *parts: str) -> tuple[str, ...]:
        return (self.namespace, kind, *parts)

    def refusal(self, account: str, address: str, *, known_device: bool) -> Refusal | None:
        """Why this attempt must wait, or None to check the password."""
        limits, counters = self.limits, self.counters
        pair = self._key("account-address", account, address)
        if not counters.allows(limits["per_account_and_address"], *pair):
            return Refusal(
                "Too many failed log-ins for this account from your network.",
                counters.seconds_until_free(limits["per_account_and_address"], *pair),
            )
        by_address = self._key("address", address)
        if not counters.allows(limits["per_address"], *by_address):
            return Refusal(
                "Too many failed log-in attempts from your network.",
                counters.seconds_until_free(limits["per_address"], *by_address),
            )
        by_account = self._key("account", account)
        if known_device or counters.allows(limits["per_account"], *by_account):
            return None
        trickle = self._key("past-ceiling", account)
        if counters.hit(limits["past_ceiling"], *trickle):
            return None
        return Refusal(
            "This account has had many failed log-ins from many places, so log-ins from new "
            "devices are slowed down. On a device you have logged in with before, you can "
            "log in as usual.",
            counters.seconds_until_free(limits["past_ceiling"], *trickle),
        )

    def failed(self, account: str, address: str) -> None:
        """Count a wrong password for ``account`` from ``address``."""
        limits, counters = self.limits, self.counters
        counters.hit(
            limits["per_account_and_address"], *self._key("account-address", account, address)
        )
        counters.hit(limits["per_address"], *self._key("address", address))
        counters.hit(limits["per_account"], *self._key("account", account))


class KnownDevices:
    """A signed cookie naming the accounts that logged in successfully on this device.

    It lets its device past an account's ceiling of failures (never past the per-address
    limits). Signed with the app's secret key, so it is worthless on another tenant;
    it holds account keys (hashes), never an email.
    """

    COOKIE = "known_device"
    MAX_ACCOUNTS = 8
    MAX_AGE_DAYS = 180
    _SALT = "tenants.known-device"

    def __init__(self, secret_key: str) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt=self._SALT)

    def accounts(self, request: Request) -> list[str]:
        raw = request.cookies.get(self.COOKIE)
        if not raw:
            return []
        try:
            value = self.serializer.loads(raw, max_age=self.MAX_AGE_DAYS * 86400)
        except BadSignature:
            return []
        if not isinstance(value, list):
            return []
        return [item for item in value if isinstance(item, str)][: self.MAX_ACCOUNTS]

    def knows(self, request: Request, account: str) -> bool:
        return account in self.accounts(request)

    def remember(
        self, request: Request, response: Response, account: str, *, path: str, secure: bool
    ) -> None:
        known = [account, *(item for item in self.accounts(request) if item != account)]
        response.set_cookie(
            self.COOKIE,
            self.serializer.dumps(known[: self.MAX_ACCOUNTS]),
            max_age=self.MAX_AGE_DAYS * 86400,
            path=path,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )


@dataclass(frozen=True)
class SignupLimits:
    """How many signups one address, and everyone together, may attempt."""

    per_address: str = "10 per hour"
    overall: str = "200 per hour"


class SignupGuard:
    """Signups per address and overall; a refused signup is answered before any work."""

    def __init__(self, counters: Counters, limits: SignupLimits) -> None:
        self.counters = counters
        self.per_address = parse(limits.per_address)
        self.overall = parse(limits.overall)

    def admit(self, address: str) -> Refusal | None:
        """Count this signup attempt, or say why it must wait (then nothing is counted)."""
        counters = self.counters
        by_address = ("signup", "address", address)
        everyone = ("signup", "all")
        if not counters.allows(self.per_address, *by_address):
            return Refusal(
                "Too many workspaces were created from your network recently.",
                counters.seconds_until_free(self.per_address, *by_address),
            )
        if not counters.allows(self.overall, *everyone):
            return Refusal(
                "Too many workspaces are being created right now.",
                counters.seconds_until_free(self.overall, *everyone),
            )
        if not counters.hit(self.per_address, *by_address):
            return Refusal(
                "Too many workspaces were created from your network recently.",
                counters.seconds_until_free(self.per_address, *by_address),
            )
        if not counters.hit(self.overall, *everyone):
            return Refusal(
                "Too many workspaces are being created right now.",
                counters.seconds_until_free(self.overall, *everyone),
            )
        return None


def wait_phrase(seconds: int) -> str:
    """ "Try again in 1 second." / "in 5 minutes." for a person."""
    if seconds < 120:
        return f"Try again in {seconds} second{'s' if seconds != 1 else ''}."
    minutes = math.ceil(seconds / 60)
    return f"Try again in {minutes} minutes."
