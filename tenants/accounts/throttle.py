"""Login throttling of a tenant app: the platform's login policy, counted per tenant.

The policy is :class:`tenants.web.throttle.LoginGuard` (SECURITY.md, "Brute force"):
failures per account and address (tight), per address, and a per-account ceiling past
which new devices trickle and known devices pass. Its counters live in the platform's
rate-limit storage (``TenantServices.ratelimit_storage_url``, Redis when several
processes serve) under keys that start with the tenant id, so tenants never share one.

Limits are read per request from the app's config (defaults in
:class:`~tenants.web.throttle.LoginLimits`): ``LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS``,
``LOGIN_LIMIT_PER_ADDRESS``, ``LOGIN_LIMIT_PER_ACCOUNT``, ``LOGIN_LIMIT_PAST_CEILING``
(``WORKSPACE_LOGIN_LIMIT_…`` in the environment for the workspace); ``RATELIMIT_ENABLED``
false switches one app's throttle off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, render_template, request
from werkzeug.wrappers import Response

from tenants.appkit.flask_app import tenant_services
from tenants.web.throttle import Counters, KnownDevices, LoginGuard, LoginLimits, Refusal

_CONFIG = {
    "per_account_and_address": "LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS",
    "per_address": "LOGIN_LIMIT_PER_ADDRESS",
    "per_account": "LOGIN_LIMIT_PER_ACCOUNT",
    "past_ceiling": "LOGIN_LIMIT_PAST_CEILING",
}


def enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def login_guard() -> LoginGuard:
    """The login policy of the current tenant app (its limits, its tenant's counters)."""
    services = tenant_services()
    defaults = LoginLimits()
    limits = LoginLimits(
        **{
            name: current_app.config.get(key, getattr(defaults, name))
            for name, key in _CONFIG.items()
        }
    )
    counters = Counters.at(services.ratelimit_storage_url, str(services.instance_path))
    return LoginGuard(counters, f"tenant:{services.tenant.id}:login", limits)


def known_devices() -> KnownDevices:
    return KnownDevices(current_app.config["SECRET_KEY"])


def address() -> str:
    return request.remote_addr or "unknown"


def render_throttled(refusal: Refusal) -> tuple[str, int, dict[str, str]]:
    page = render_template(
        "accounts/throttled.html", message=refusal.message, retry_after=refusal.retry_after
    )
    return page, 429, {"Retry-After": str(refusal.retry_after)}


def remember_device(response: Response, account: str) -> None:
    """After a correct password: this device may pass the account's ceiling from now on."""
    config = current_app.config
    known_devices().remember(
        request,
        response,
        account,
        path=config["SESSION_COOKIE_PATH"] or "/",
        secure=bool(config["SESSION_COOKIE_SECURE"]),
    )


#: The "account" mailed links count under: forged, expired and reused links of an
#: address meet the same per-address limits as wrong passwords.
LINK_ACCOUNT = "mailed-link"


def link_refusal() -> Refusal | None:
    """Too many bad links (or passwords) from this address: refuse before checking one."""
    if not enabled():
        return None
    return login_guard().refusal(LINK_ACCOUNT, address(), known_device=False)


def guard_links(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer a link view 429 while this address has opened too many bad links, before the
    view reads the token (invitation, password reset and verification links share it)."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refusal = link_refusal()
        if refusal is not None:
            return render_throttled(refusal)
        return view(*args, **kwargs)

    return guarded


def link_failed() -> None:
    if enabled():
        login_guard().failed(LINK_ACCOUNT, address())
