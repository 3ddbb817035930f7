"""One tenant's own tables. Unqualified (schema None): the storage decides where they live."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.schema import Index


def utcnow() -> datetime:
    return datetime.now(UTC)


class WorkspaceBase(DeclarativeBase):
    """Declarative base of a tenant's storage (never of the platform database)."""


class Role:
    OWNER = "owner"
    MEMBER = "member"
    ALL = (OWNER, MEMBER)


class User(UserMixin, WorkspaceBase):
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


class Note(WorkspaceBase):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_updated_at", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    author: Mapped[User | None] = relationship(lazy="joined")


class UsedLoginToken(WorkspaceBase):
    """Login tokens already spent: a token works once."""

    __tablename__ = "used_login_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
