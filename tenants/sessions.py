"""Server-side sessions: a login is a row, so logging out (or a password change) ends it.

Flask's session is a signed cookie: whoever holds a copy is logged in until it expires,
logout or not. So each login also makes a *session row* (tenant users: in the tenant's
storage; platform admins: in the platform database) and the signed cookie only carries
the row's token. Every request reads that row by its primary key (one point query,
joined with the account's row); a missing, expired or outdated row is no login.

- The row's id is the SHA-256 of the token: the database never holds a usable token.
- ``expires_at`` bounds every session: ``SESSION_LIFETIME_HOURS`` without "remember
  me" (and the cookie ends with the browser), ``SESSION_REMEMBER_DAYS`` with it.
- ``credential`` stamps the password hash the session was made with: any change of the
  password, by any path, ends every session made before it.
- ``last_seen_at`` is written at most every :data:`TOUCH_EVERY`, after the response is
  sent, in a transaction of its own: reads stay reads.

Models mix in :class:`SessionColumns` and add the owner's foreign key; the account pages
list rows with :func:`device_label`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import Request, Response, after_this_request, has_request_context
from sqlalchemy import Boolean, DateTime, Engine, String, update
from sqlalchemy.orm import Mapped, mapped_column

log = logging.getLogger(__name__)

#: ``last_seen_at`` is written at most this often per session.
TOUCH_EVERY = timedelta(minutes=5)
USER_AGENT_SIZE = 400
#: An IPv6 address in text, at most.
ADDRESS_SIZE = 45


@dataclass(frozen=True)
class SessionLifetimes:
    """How long a login lasts at most, from the moment it is made."""

    #: Without "remember me" (the cookie also ends when the browser closes).
    browser: timedelta = timedelta(hours=12)
    #: With "remember me".
    remembered: timedelta = timedelta(days=30)

    def of(self, remember: bool) -> timedelta:
        return self.remembered if remember else self.browser


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def row_id(token: str) -> str:
    """The row id of a token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def credential_stamp(password_hash: str) -> str:
    """A short digest of the password hash a session was made with."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class SessionColumns:
    """The columns of a session row (a declarative mixin; add the owner's foreign key)."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_SIZE), default="")
    address: Mapped[str] = mapped_column(String(ADDRESS_SIZE), default="")
    credential: Mapped[str] = mapped_column(String(16))

    def is_valid(self, password_hash: str, now: datetime | None = None) -> bool:
        """Not expired, and made with the account's current password."""
        now = now or utcnow()
        return aware(self.expires_at) > now and self.credential == credential_stamp(password_hash)


def session_fields(
    request: Request, password_hash: str, *, remember: bool, lifetimes: SessionLifetimes
) -> tuple[str, dict[str, Any]]:
    """A new token, and the column values of its row (add the owner's id)."""
    token = new_token()
    now = utcnow()
    return token, {
        "id": row_id(token),
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + lifetimes.of(remember),
        "remember": remember,
        "user_agent": (request.user_agent.string or "")[:USER_AGENT_SIZE],
        "address": (request.remote_addr or "")[:ADDRESS_SIZE],
        "credential": credential_stamp(password_hash),
    }


def touch_later(engine: Engine, row: SessionColumns) -> None:
    """Record that the session was used, if it was not for :data:`TOUCH_EVERY`.

    Written after the response is sent, in its own transaction: the request's own
    transaction stays a read (and on SQLite takes no write lock for it).
    """
    now = utcnow()
    if not has_request_context() or now - aware(row.last_seen_at) < TOUCH_EVERY:
        return
    table = type(row).__table__  # type: ignore[attr-defined]
    statement = update(table).where(table.c.id == row.id).values(last_seen_at=now)

    def on_response(response: Response) -> Response:
        def touch() -> None:
            try:
                with engine.begin() as connection:
                    connection.execute(statement)
            except Exception:  # the response is sent; the next request tries again
                log.warning("Could not record a session's last use.", exc_info=True)

        response.call_on_close(touch)
        return response

    after_this_request(on_response)


@lru_cache(maxsize=512)
def device_label(user_agent: str) -> str:
    """ "Firefox on Linux", "Mobile Safari on iOS (iPhone)" for the sessions list."""
    if not user_agent:
        return "Unknown device"
    from ua_parser import parse  # loads its patterns on first use: only the account pages pay

    result = parse(user_agent).with_defaults()
    browser = result.user_agent.family
    system = result.os.family
    device = result.device.family
    label = browser if browser != "Other" else "Unknown browser"
    if system != "Other":
        label += f" on {system}"
    if device not in ("Other", "Spider") and device not in label:
        label += f" ({device})"
    return label
