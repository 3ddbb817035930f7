"""Accounts in a tenant's storage: users with a role, their sessions, spent sign-in tokens,
invitations, and the second factor (TOTP secret, recovery codes)."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import Index

from tenants.appkit.models import TenantBase, utcnow
from tenants.sessions import SessionColumns

__all__ = [
    "PENDING_EMAIL_INDEX",
    "Invitation",
    "RecoveryCode",
    "Role",
    "UsedLoginToken",
    "User",
    "UserSession",
    "utcnow",
]


class Role:
    OWNER = "owner"
    MEMBER = "member"
    ALL = (OWNER, MEMBER)


class User(UserMixin, TenantBase):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email", func.lower(text("email")), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.MEMBER)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the address was proven by a link sent to it (None: not yet).
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: An address the user asked to change to, until its link is followed.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    #: Two-factor sign-in: the TOTP secret (base32), set once the first code was right.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last TOTP time step accepted: a code is never accepted twice (no replay).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    #: The token of the server-side session this object was loaded for (not a column).
    session_token = None

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def has_two_factor(self) -> bool:
        return bool(self.totp_secret)

    def get_id(self) -> str | None:
        """What Flask-Login keeps in the cookie: the token of this login's session row."""
        return self.session_token


class UserSession(SessionColumns, TenantBase):
    """One login of a user (see ``tenants.sessions``): logout deletes it."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class UsedLoginToken(TenantBase):
    """Sign-in tokens already spent: a token works once."""

    __tablename__ = "used_login_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: The unique index that allows one pending invitation per address (any case).
PENDING_EMAIL_INDEX = "uq_invitations_pending_email"
_PENDING = text("accepted_at IS NULL AND revoked_at IS NULL")


class Invitation(TenantBase):
    """An email invited to join with a role: pending until accepted, revoked or expired.

    The link carries the row's id and ``nonce``; resending draws a new nonce (and a new
    expiry), so only the latest link works. Accepting, revoking or expiring ends it.
    An address has at most one pending invitation (neither accepted nor revoked; an
    expired one is still pending, and inviting again renews it): the database refuses a
    second one, whatever the case of the address.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        Index(
            PENDING_EMAIL_INDEX,
            func.lower(text("email")),
            unique=True,
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20), default=Role.MEMBER)
    nonce: Mapped[str] = mapped_column(String(64))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(TenantBase):
    """One single-use recovery code of a user's two-factor sign-in (stored hashed)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
