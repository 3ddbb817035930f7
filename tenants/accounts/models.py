"""Accounts in a tenant's storage: users with a role, their sessions, spent sign-in tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import Index

from tenants.appkit.models import TenantBase, utcnow
from tenants.sessions import SessionColumns

__all__ = ["Role", "UsedLoginToken", "User", "UserSession", "utcnow"]


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

    #: The token of the server-side session this object was loaded for (not a column).
    session_token = None

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

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
