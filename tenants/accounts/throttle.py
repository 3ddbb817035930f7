"""Login throttling with Flask-Limiter: per tenant and account, and per tenant and address.

One :class:`Limiter` serves every tenant app of the process. Flask-Limiter 4.x keeps
its storage on the Limiter object, and ``init_app`` builds a new storage on every call:
with an app per tenant, each app build (a new tenant, a settings change, a cache
eviction) would replace the storage, wiping every tenant's counters on ``memory://``
and opening another Redis client. :class:`PlatformLimiter` therefore counts in a storage
made once per storage URL (``TenantServices.ratelimit_storage_url``) and ignores the one
``init_app`` builds. The Limiter's own options (strategy, headers, error handling) are
given in code rather than read from app config, where a shared Limiter would take them
from whichever app came first; ``RATELIMIT_ENABLED`` and the login limits
(``LOGIN_LIMIT_PER_ACCOUNT``, ``LOGIN_LIMIT_PER_ADDRESS``) are read per request.

The limiter's keys start with the tenant id, so tenants never share a counter, even
in one Redis. Only failed logins (401) count (``deduct_when``): a 429 is answered
before the password is checked, and correct passwords never use up the allowance.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import NoReturn

from flask import Flask, current_app, render_template, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from limits.storage import Storage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter
from werkzeug.wrappers import Response

from tenants.appkit.flask_app import tenant_services

#: Exact: "5 failures within any 60 s", and the reset time is the oldest failure's expiry.
STRATEGY = "moving-window"
DEFAULT_ACCOUNT_LIMIT = "5 per minute"
DEFAULT_ADDRESS_LIMIT = "30 per minute"


class _UnusedStorage(Storage):
    """What ``Limiter.init_app`` builds and :class:`PlatformLimiter` never counts in.

    ``init_app`` makes a storage from ``storage_uri`` for every app; ``memory://`` would
    start a timer thread per tenant app built. This one costs nothing.
    """

    STORAGE_SCHEME = ["tenants-unused"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return RuntimeError

    def _unused(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise RuntimeError("PlatformLimiter counts in the platform's storage, not here.")

    incr = get = get_expiry = reset = clear = acquire_entry = get_moving_window = _unused

    def check(self) -> bool:
        return True


class PlatformLimiter(Limiter):
    """A Limiter shared by many apps, counting in the storage of the app's platform."""

    def __init__(self) -> None:
        super().__init__(
            address_key,
            strategy=STRATEGY,
            # What init_app builds for each app and nothing uses: the storage actually
            # used is the platform's (see ``limiter``).
            storage_uri="tenants-unused://",
            headers_enabled=False,
            # A storage outage (Redis down) logs the error and lets logins through rather
            # than answering 500 on every login; the login still checks the password.
            swallow_errors=True,
        )
        self._strategies: dict[tuple[str, str], RateLimiter] = {}
        self._strategies_lock = threading.Lock()
        self.request_filter(_disabled_for_this_app)

    def init_app(self, app: Flask) -> None:
        # ``RATELIMIT_ENABLED`` is read per request (``_disabled_for_this_app``); the
        # library would otherwise switch the shared Limiter off for every app.
        enabled = self.enabled
        super().init_app(app)
        self.enabled = enabled

    @property
    def limiter(self) -> RateLimiter:
        services = tenant_services()
        # Keyed with the instance path too: platforms in one process with their own
        # instance folders (tests) do not share ``memory://`` counters.
        key = (services.ratelimit_storage_url, str(services.instance_path))
        strategy = self._strategies.get(key)
        if strategy is None:
            with self._strategies_lock:
                strategy = self._strategies.get(key)
                if strategy is None:
                    storage = storage_from_string(services.ratelimit_storage_url)
                    strategy = self._strategies[key] = STRATEGIES[STRATEGY](storage)
        return strategy

    @property
    def storage(self) -> Storage:
        return self.limiter.storage


def _disabled_for_this_app() -> bool:
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def address_key() -> str:
    return f"tenant:{current_app.config['TENANT_ID']}:address:{request.remote_addr or 'unknown'}"


def account_key() -> str:
    # Hashed: bounded key size whatever is posted, and no addresses stored in Redis.
    email = request.form.get("email", "").strip().lower()
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    return f"tenant:{current_app.config['TENANT_ID']}:account:{digest}"


def failed_login(response: Response) -> bool:
    return response.status_code == 401


def _account_limit() -> str:
    return current_app.config.get("LOGIN_LIMIT_PER_ACCOUNT", DEFAULT_ACCOUNT_LIMIT)


def _address_limit() -> str:
    return current_app.config.get("LOGIN_LIMIT_PER_ADDRESS", DEFAULT_ADDRESS_LIMIT)


limiter = PlatformLimiter()

#: Decorators for the login view: failed POSTs count, per account and per address.
limit_login_per_account = limiter.limit(
    _account_limit,
    key_func=account_key,
    methods=["POST"],
    deduct_when=failed_login,
    error_message="Too many failed log-in attempts for this account.",
)
limit_login_per_address = limiter.limit(
    _address_limit,
    key_func=address_key,
    methods=["POST"],
    deduct_when=failed_login,
    error_message="Too many failed log-in attempts from your network.",
)


def init_app(app: Flask) -> None:
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, render_throttled)


def retry_after_seconds(current: RequestLimit | None) -> int:
    """Seconds until the breached limit lets one more attempt through (at least 1)."""
    if current is None:
        return 60
    reset_at = current.window[0]  # when the oldest counted failure leaves the window
    return max(1, math.ceil(reset_at - time.time()))


def render_throttled(error: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    seconds = retry_after_seconds(limiter.current_limit)
    page = render_template(
        "accounts/throttled.html", message=error.description, retry_after=seconds
    )
    return page, 429, {"Retry-After": str(seconds)}
