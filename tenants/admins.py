"""Platform admins: people who manage tenants at the root domain.

Creating an admin, changing an admin's password and removing one are audited (the audit
log's ``admin.*`` entries, with no tenant), from the CLI (``tenants admin ...``, actor
``cli``) and from the console's Admins page (the acting admin's email). A password change
or a removal ends that admin's sessions, so a leaked password stops working at once. The
last admin cannot be removed: nobody could then log in to the console to add one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants.registry import service
from tenants.registry.models import AdminSession, PlatformAdmin
from tenants.sessions import credential_stamp
from tenants.validation import password_problem, valid_email

if TYPE_CHECKING:
    from tenants.kernel import Platform


class InvalidAdmin(ValueError):
    """The admin's email or password is not acceptable, the email is taken or unknown,
    or the change would leave the console without an admin."""


def find_admin(session: Session, email: str) -> PlatformAdmin | None:
    return session.execute(
        select(PlatformAdmin).where(func.lower(PlatformAdmin.email) == email.strip().lower())
    ).scalar_one_or_none()


def list_admins(platform: Platform) -> list[PlatformAdmin]:
    with Session(platform.engine, expire_on_commit=False) as session:
        return list(
            session.execute(select(PlatformAdmin).order_by(func.lower(PlatformAdmin.email)))
            .scalars()
            .all()
        )


def _check_password(password: str, email: str = "") -> None:
    problem = password_problem(password, email=email)
    if problem is not None:
        raise InvalidAdmin(problem)


def create_admin(
    platform: Platform, email: str, password: str, *, actor: str = "cli"
) -> PlatformAdmin:
    email = email.strip()
    if not valid_email(email):
        raise InvalidAdmin(f"“{email}” is not an email address like admin@example.com.")
    _check_password(password, email)
    password_hash = platform.settings.hash_password(password)
    with Session(platform.engine, expire_on_commit=False) as session:
        admin = PlatformAdmin(email=email, password_hash=password_hash)
        session.add(admin)
        try:
            session.flush()
        except IntegrityError:
            raise InvalidAdmin(f"An admin with email {email} exists already.") from None
        service.audit(session, actor, "admin.create", email=email)
        session.commit()
    return admin


def _unknown(email: str) -> InvalidAdmin:
    return InvalidAdmin(
        f"There is no admin “{email.strip()}”; 'tenants admin list' shows the admins."
    )


def set_admin_password(
    platform: Platform,
    email: str,
    password: str,
    *,
    actor: str = "cli",
    keep_session: str | None = None,
) -> PlatformAdmin:
    """Set ``email``'s password and end their sessions (but ``keep_session``, the one
    the change was made from, if any)."""
    _check_password(password, email)
    password_hash = platform.settings.hash_password(password)

    def change(session: Session) -> PlatformAdmin:
        admin = find_admin(session, email)
        if admin is None:
            raise _unknown(email)
        admin.password_hash = password_hash
        ended = delete(AdminSession).where(AdminSession.admin_id == admin.id)
        if keep_session is not None:
            ended = ended.where(AdminSession.id != keep_session)
            # A session is stamped with the password it was made with: restamp this one.
            session.execute(
                update(AdminSession)
                .where(AdminSession.id == keep_session, AdminSession.admin_id == admin.id)
                .values(credential=credential_stamp(password_hash))
            )
        session.execute(ended)
        service.audit(session, actor, "admin.password", email=admin.email)
        return admin

    return service.write(platform.engine, change)


def remove_admin(platform: Platform, email: str, *, actor: str = "cli") -> PlatformAdmin:
    """Remove admin ``email`` and end their sessions; never the last admin."""

    def remove(session: Session) -> PlatformAdmin:
        # Lock every admin row first: two removals at once then count one after the other,
        # and cannot each leave the other as the "remaining" admin.
        ids = session.execute(select(PlatformAdmin.id).with_for_update()).scalars().all()
        admin = find_admin(session, email)
        if admin is None:
            raise _unknown(email)
        if len(ids) <= 1:
            raise InvalidAdmin(
                f"{admin.email} is the only admin; add another admin before removing this one."
            )
        session.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id))
        session.delete(admin)
        service.audit(session, actor, "admin.remove", email=admin.email)
        return admin

    return service.write(platform.engine, remove)
