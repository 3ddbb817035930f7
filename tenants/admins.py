"""Platform admins: people who manage tenants at the root domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants.registry.models import PlatformAdmin
from tenants.validation import MIN_PASSWORD_LENGTH, valid_email

if TYPE_CHECKING:
    from tenants.kernel import Platform


class InvalidAdmin(ValueError):
    """The admin's email or password is not acceptable, or the email is taken."""


def find_admin(session: Session, email: str) -> PlatformAdmin | None:
    return session.execute(
        select(PlatformAdmin).where(func.lower(PlatformAdmin.email) == email.strip().lower())
    ).scalar_one_or_none()


def create_admin(platform: Platform, email: str, password: str) -> PlatformAdmin:
    email = email.strip()
    if not valid_email(email):
        raise InvalidAdmin(f"“{email}” is not an email address like admin@example.com.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAdmin(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    with Session(platform.engine, expire_on_commit=False) as session:
        admin = PlatformAdmin(email=email, password_hash=platform.settings.hash_password(password))
        session.add(admin)
        try:
            session.commit()
        except IntegrityError:
            raise InvalidAdmin(f"An admin with email {email} exists already.") from None
    return admin
