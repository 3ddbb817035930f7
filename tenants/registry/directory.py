"""The member directory: which tenants an email address belongs to, as keyed hashes.

The root domain's "find my workspaces" asks this table, not the tenants' storages (which
it would have to open one by one). Each row is ``(HMAC-SHA256(key, lower(email)),
tenant id)``; the key is derived from ``SECRET_KEY`` and lives in no database, so the
table alone neither lists nor confirms anyone's address. Tenant apps keep it current
through ``services.directory`` (:class:`TenantDirectory`) as members join, change
address and leave; a tenant's rows go with it (``ON DELETE CASCADE``), and lookups
return only active tenants.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from tenants.registry.models import MemberDirectoryEntry, Tenant, TenantStatus


def email_hash(key: bytes, email: str) -> str:
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def add_member(session: Session, key: bytes, tenant_id: int, email: str) -> None:
    """Record that ``email`` is a member of ``tenant_id`` (no-op if it is already)."""
    digest = email_hash(key, email)
    if session.get(MemberDirectoryEntry, (digest, tenant_id)) is None:
        session.add(MemberDirectoryEntry(email_hash=digest, tenant_id=tenant_id))


def remove_member(session: Session, key: bytes, tenant_id: int, email: str) -> None:
    session.execute(
        delete(MemberDirectoryEntry).where(
            MemberDirectoryEntry.email_hash == email_hash(key, email),
            MemberDirectoryEntry.tenant_id == tenant_id,
        )
    )


def tenants_of(session: Session, key: bytes, email: str) -> Sequence[Tenant]:
    """The active tenants ``email`` is a member of, by display name."""
    return (
        session.execute(
            select(Tenant)
            .join(MemberDirectoryEntry, MemberDirectoryEntry.tenant_id == Tenant.id)
            .where(
                MemberDirectoryEntry.email_hash == email_hash(key, email),
                Tenant.status == TenantStatus.ACTIVE,
            )
            .order_by(Tenant.display_name, Tenant.id)
        )
        .scalars()
        .all()
    )


class TenantDirectory:
    """``services.directory``: one tenant's entries. Each call is its own transaction.

    Called after the tenant's own change is committed; a failure here (the platform
    database is down) is logged by the caller's error handling and repaired by
    ``flask --app tenants.wsgi tenants directory-rebuild``, never undoing the member change.
    """

    def __init__(self, engine_of: Callable[[], Engine], key: bytes, tenant_id: int) -> None:
        self._engine_of = engine_of
        self._key = key
        self.tenant_id = tenant_id

    def add(self, email: str) -> None:
        with Session(self._engine_of()) as session, session.begin():
            add_member(session, self._key, self.tenant_id, email)

    def remove(self, email: str) -> None:
        with Session(self._engine_of()) as session, session.begin():
            remove_member(session, self._key, self.tenant_id, email)

    def replace(self, old_email: str, new_email: str) -> None:
        with Session(self._engine_of()) as session, session.begin():
            remove_member(session, self._key, self.tenant_id, old_email)
            add_member(session, self._key, self.tenant_id, new_email)

    def rebuild(self, emails: Sequence[str]) -> int:
        """Make this tenant's entries exactly ``emails`` (its members now)."""
        with Session(self._engine_of()) as session, session.begin():
            session.execute(
                delete(MemberDirectoryEntry).where(MemberDirectoryEntry.tenant_id == self.tenant_id)
            )
            for digest in {email_hash(self._key, email) for email in emails}:
                session.add(MemberDirectoryEntry(email_hash=digest, tenant_id=self.tenant_id))
        return len(set(emails))


__all__ = ["TenantDirectory", "add_member", "email_hash", "remove_member", "tenants_of"]
