"""The registry as the dispatcher sees it: an in-memory snapshot kept fresh by polling.

Every process holds the routable tenants (provisioning, active, suspended) in a dict,
so a lookup is a dict access and an unknown name costs nothing and stores nothing.
At most once per ``poll_seconds`` a lookup first asks the database for the registry
generation (one tiny query); when it moved, only the rows changed since are read.
A change made by any process is therefore seen by every process within
``poll_seconds`` plus one query.

If the registry database cannot be reached when a poll is due, lookups raise
:class:`RegistryUnavailable` rather than answer from a snapshot that may be stale:
a suspended tenant must not be served because the database is down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, Row, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from tenants.registry.models import RegistryClock, Tenant
from tenants.registry.record import SLUG_HOLDING_STATUSES, RegistryUnavailable, TenantRecord

_COLUMNS = (
    Tenant.id,
    Tenant.slug,
    Tenant.display_name,
    Tenant.status,
    Tenant.plan,
    Tenant.settings,
    Tenant.version,
    Tenant.storage_revision,
    Tenant.database,
)
_HOLDING = tuple(str(s) for s in SLUG_HOLDING_STATUSES)
# Built once: SQLAlchemy caches their compiled form, so a poll is just the round trip.
_GENERATION = select(RegistryClock.generation).where(RegistryClock.id == 1)
_ALL_ROUTABLE = select(*_COLUMNS).where(Tenant.status.in_(_HOLDING))
_CHANGED_SINCE = (
    select(*_COLUMNS).where(Tenant.version > bindparam("since")).order_by(Tenant.version)
)


class TenantRegistry:
    """Lookups of routable tenants by slug, in memory, refreshed from the database."""

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = 0.5,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.on_change = on_change
        self._by_slug: dict[str, TenantRecord] = {}
        self._generation = -1
        self._checked_at = float("-inf")
        self._refresh_lock = threading.Lock()
        self._loaded = threading.Event()

    # -- lookups (the dispatcher's hot path) -------------------------------------------

    def get(self, slug: str) -> TenantRecord | None:
        """The tenant holding ``slug`` (lower-case), or None. Works outside any app context."""
        if time.monotonic() - self._checked_at >= self.poll_seconds:
            self.refresh()
        return self._by_slug.get(slug)

    def tenant_for_subdomain(self, subdomain: str) -> TenantRecord | None:
        return self.get(subdomain.lower())

    def tenant_for_prefix(self, prefix: str) -> TenantRecord | None:
        return self.get(prefix.lower())

    # The seed's names (they return a tenant, not a user).
    get_user_for_subdomain = tenant_for_subdomain
    get_user_for_prefix = tenant_for_prefix

    def __len__(self) -> int:
        return len(self._by_slug)

    # -- freshness ----------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Bring the snapshot up to date if the registry changed since the last poll."""
        if not self._refresh_lock.acquire(blocking=not self._loaded.is_set() or force):
            # Another thread is polling right now; the snapshot it replaces is at most
            # one poll interval old, so answer from it rather than queue behind it.
            return
        try:
            if not force and time.monotonic() - self._checked_at < self.poll_seconds:
                return
            try:
                self._poll()
            except SQLAlchemyError as error:
                self._checked_at = float("-inf")
                raise RegistryUnavailable(
                    "The tenant registry database cannot be reached; check DATABASE_URL "
                    "and that the database server is up."
                ) from error
        finally:
            self._refresh_lock.release()

    def invalidate(self) -> None:
        """Make the next lookup poll (call after this process changed the registry)."""
        self._checked_at = float("-inf")

    def _poll(self) -> None:
        started = time.monotonic()
        with self.engine.connect() as connection:
            generation = connection.execute(_GENERATION).scalar_one_or_none() or 0
            if not self._loaded.is_set():
                rows = connection.execute(_ALL_ROUTABLE).all()
                self._by_slug = {row.slug.lower(): TenantRecord.from_row(row) for row in rows}
                self._generation = generation
                self._loaded.set()
            elif generation != self._generation:
                changed = connection.execute(_CHANGED_SINCE, {"since": self._generation}).all()
                self._apply(changed)
                self._generation = generation
        self._checked_at = started

    def _apply(self, rows: Sequence[Row[Any]]) -> None:
        by_slug = dict(self._by_slug)
        for row in rows:
            slug = row.slug.lower()
            if row.status in _HOLDING:
                by_slug[slug] = TenantRecord.from_row(row)
            elif (current := by_slug.get(slug)) is not None and current.id == row.id:
                del by_slug[slug]
        # One assignment: readers see the old dict or the new one, never a half-updated one.
        self._by_slug = by_slug
        if self.on_change is not None:
            for row in rows:
                self.on_change(row.id)
