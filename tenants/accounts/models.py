"""Accounts in a tenant's storage: users with a role, and spent sign-in tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import DateTime, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import Index

from tenants.appkit.models import TenantBase, utcnow

__all__ = ["Role", "UsedLoginToken", "User", "utcnow"]


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

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    def get_id(self) -> str:
        """Flask-Login's session id: a new password ends the user's other sessions."""
        return f"{self.id}:{self.password_hash[-12:]}"


class UsedLoginToken(TenantBase):
    """Sign-in tokens already spent: a token works once."""

    __tablename__ = "used_login_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
