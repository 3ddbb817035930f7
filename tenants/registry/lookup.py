"""The registry as the dispatcher sees it: bounded memory, and never stale for what it could know.

Each process keeps, whatever the size of the fleet:

- at most ``cache_size`` tenant records, least recently used first out, filled by
  point queries (one indexed row) as requests name tenants;
- the key index (:mod:`tenants.registry.keyindex`): 8 bytes per routable key, loaded
  in the background at start, so a name nobody holds is refused without a query;
- at most ``cache_size`` names a point query found nobody holding;
- its position in the change feed (:mod:`tenants.registry.feed`).

A lookup (:meth:`TenantRegistry.lookup`) answers:

1. a cached active tenant at once: no lock, no query;
2. a cached tenant whose status would refuse (suspended: 403; provisioning: 404), or a
   name known to be unheld, after a *freshness check*: a poll of the change feed that
   started after the request arrived, so a tenant created, resumed or activated just
   before (the signup's redirect) is served. The check is single-flight (concurrent
   misses wait for one poll) and bounded by a token bucket: bursts of
   :data:`MISS_CHECK_BURST` polls, then one per ``miss_check_seconds``. A miss that
   finds the bucket empty is answered from the latest poll, which is then at most
   ``miss_check_seconds`` old; so a flood of unknown names costs at most one query per
   that interval, while ordinary misses (a few a second) are always checked;
3. anything else (the index says some tenant may hold the name, or is still loading)
   by a point query, single-flight per name; its answer is fresh (a request that joins a
   query already in flight shares its answer, at most one query's duration older) and is
   cached, unless a poll applied changes while it ran.

Every ``poll_seconds`` the lookup that finds a poll due reads the feed (one query) and
applies what changed, tenant by tenant; other threads answer meanwhile, as long as the
last successful poll is younger than ``stale_after``. A change made anywhere is therefore
seen everywhere within ``poll_seconds`` (and at once by a request that would be refused).
If the registry database cannot be read when a poll or a point query is needed, lookups
raise :class:`RegistryUnavailable` (a 503), never answer from what may be stale.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, literal_column, select
from sqlalchemy.exc import SQLAlchemyError

from tenants.database import sqlite_write_intent
from tenants.registry.feed import TENANT_COLUMNS, ChangeFeed, FeedPruned, latest_per_tenant
from tenants.registry.keyindex import KeyIndex, load_hashes
from tenants.registry.keys import DOMAIN, SLUG, key_hash
from tenants.registry.models import HOLDS_SLUG, Tenant, TenantDomain
from tenants.registry.record import (
    LIVE_STATUSES,
    ROUTABLE_DOMAIN_STATUSES,
    RegistryUnavailable,
    TenantRecord,
    TenantStatus,
)
from tenants.registry.recordcache import Key, RecordCache

log = logging.getLogger(__name__)

#: What lookups answer with: a deleted tenant still holds its slug in the registry (no one
#: can claim it during its grace period) but is routed nowhere, like an unknown name.
_HOLDING = tuple(str(s) for s in LIVE_STATUSES)
_ACTIVE = str(TenantStatus.ACTIVE)
_NEVER = float("-inf")
#: Freshness checks allowed back to back before misses are limited to one per interval.
MISS_CHECK_BURST = 10
# Point queries, by key kind: the live tenant holding a key (one row of a unique index).
_BY_KEY = {
    SLUG: select(*TENANT_COLUMNS).where(func.lower(Tenant.slug) == bindparam("key"), HOLDS_SLUG),
    # A routable custom domain (its unique lower(domain) index), of a tenant holding its slug.
    DOMAIN: select(*TENANT_COLUMNS)
    .join(TenantDomain, TenantDomain.tenant_id == Tenant.id)
    .where(
        func.lower(TenantDomain.domain) == bindparam("key"),
        TenantDomain.status.in_(
            [literal_column(f"'{status}'") for status in ROUTABLE_DOMAIN_STATUSES]
        ),
        HOLDS_SLUG,
    ),
}


def keys_of(tenant: TenantRecord) -> tuple[Key, ...]:
    """The keys a request can name ``tenant`` by: its slug and its routable custom domains."""
    return ((SLUG, tenant.slug.lower()),) + tuple(
        (DOMAIN, domain.lower()) for domain in tenant.custom_domains
    )


class TenantRegistry:
    """Lookups of routable tenants by key, bounded in memory, fresh for what it could know."""

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = 0.5,
        cache_size: int = 10_000,
        miss_check_seconds: float = 0.02,
        on_change: Callable[[int], None] | None = None,
        on_reset: Callable[[], None] | None = None,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1; it is the number of records kept.")
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.cache_size = cache_size
        self.miss_check_seconds = miss_check_seconds
        #: Beyond this age of the last successful poll, answer 503 rather than guess.
        self.stale_after = max(5.0, 4 * poll_seconds)
        self.on_change = on_change
        self.on_reset = on_reset
        self._reset()

    def _reset(self) -> None:
        """Forget everything (a new worker process, or a feed pruned past this reader)."""
        self._cache = RecordCache(self.cache_size)
        self._flights: dict[Key, Future[TenantRecord | None]] = {}
        self._flights_lock = threading.Lock()
        self._index = KeyIndex()
        self._loader: threading.Thread | None = None
        self._feed: ChangeFeed | None = None
        #: When the last completed poll started (monotonic); -inf to make the next one due.
        self._polled_at = _NEVER
        self._succeeded_at = _NEVER
        #: The freshness checks' token bucket: tokens now, and when it was last filled.
        self._miss_tokens = float(MISS_CHECK_BURST)
        self._miss_tokens_at = time.monotonic()
        self._poll_lock = threading.Lock()

    # -- lookups (the dispatcher's hot path) -------------------------------------------

    def get(self, slug: str) -> TenantRecord | None:
        """The tenant holding ``slug`` (lower-case), or None. Works outside any app context."""
        return self.lookup(SLUG, slug)

    def for_domain(self, domain: str) -> TenantRecord | None:
        """The tenant a routable custom domain (canonical A-label) points to, or None."""
        return self.lookup(DOMAIN, domain)

    def tenant_for_subdomain(self, subdomain: str) -> TenantRecord | None:
        return self.get(subdomain.lower())

    def tenant_for_prefix(self, prefix: str) -> TenantRecord | None:
        return self.get(prefix.lower())

    # The seed's names (they return a tenant, not a user).
    get_user_for_subdomain = tenant_for_subdomain
    get_user_for_prefix = tenant_for_prefix

    def lookup(self, kind: str, key: str) -> TenantRecord | None:
        """The live tenant holding ``key`` of ``kind`` (lower-case), or None."""
        arrived = time.monotonic()
        if arrived - self._polled_at >= self.poll_seconds:
            self._poll_when_due(arrived)
        wanted = (kind, key)
        record = self._cache.get(wanted)
        if record is not None and record.status == _ACTIVE:
            self._cache.used(wanted)
            return record
        return self._resolve(wanted, arrived)

    def __len__(self) -> int:
        """How many tenant records this process holds (at most ``cache_size``)."""
        return len(self._cache)

    def _resolve(self, wanted: Key, arrived: float) -> TenantRecord | None:
        hashed = key_hash(*wanted)
        confirmed = False
        while True:
            record = self._cache.get(wanted)
            if record is not None:
                if record.status == _ACTIVE or confirmed:
                    return record
            elif self._cache.known_absent(wanted) or self._index.might_hold(hashed) is False:
                if confirmed:
                    return None
            else:
                # Some tenant may hold it (or the index is still loading): ask the database.
                # The query starts after the request arrived, so its answer is fresh.
                return self._point_query(wanted)
            self._confirm(arrived)
            confirmed = True

    # -- freshness -----------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Poll the change feed now if a poll is due (``force``: in any case, and wait)."""
        if force:
            with self._polling():
                self._poll()
        else:
            self._poll_when_due(time.monotonic())

    def invalidate(self) -> None:
        """Make the next lookup poll (call after this process changed the registry)."""
        self._polled_at = _NEVER

    def close(self, timeout: float = 30) -> None:
        """Wait for the background index load (before the engine's pool is disposed)."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout)

    def after_fork(self) -> None:
        """In a new worker process: start from nothing (no threads or locks came along)."""
        self._reset()

    def _poll_when_due(self, now: float) -> None:
        # Until a poll has succeeded there is nothing to answer from: wait for the first
        # (the feed is set before that poll ends, so it cannot tell "started").
        started = self._succeeded_at > _NEVER
        if not self._poll_lock.acquire(blocking=not started):
            # Another thread is polling: answer from what we have, unless that is too old.
            if now - self._succeeded_at > self.stale_after:
                raise RegistryUnavailable(
                    "The tenant registry has not answered for a while; check the database."
                )
            return
        try:
            if time.monotonic() - self._polled_at >= self.poll_seconds:
                self._poll()
        finally:
            self._poll_lock.release()

    def _confirm(self, arrived: float) -> None:
        """Wait for a poll that started after ``arrived`` (or, in a flood, a recent one)."""
        with self._polling():  # single flight: a poll in progress finishes first
            if self._polled_at >= arrived:
                return
            now = time.monotonic()
            interval = self.miss_check_seconds
            tokens = MISS_CHECK_BURST
            if interval > 0:
                tokens = min(
                    MISS_CHECK_BURST, self._miss_tokens + (now - self._miss_tokens_at) / interval
                )
            self._miss_tokens_at = now
            if tokens < 1 and self._polled_at > _NEVER:
                # Misses come faster than one per interval: the bucket only empties by
                # polling, so the latest poll is less than one interval old.
                self._miss_tokens = tokens
                return
            self._miss_tokens = max(tokens - 1, 0.0)
            self._poll()

    @contextlib.contextmanager
    def _polling(self) -> Iterator[None]:
        """Hold the poll lock; a poll stuck in the database for too long is a 503, not a hang."""
        if not self._poll_lock.acquire(timeout=self.stale_after):
            raise RegistryUnavailable(
                "The tenant registry has not answered for a while; check the database."
            )
        try:
            yield
        finally:
            self._poll_lock.release()

    def _poll(self) -> None:
        """Read the feed and apply it (the caller holds the poll lock)."""
        started = time.monotonic()
        try:
            try:
                changes = self._read_feed()
            except FeedPruned as gap:
                log.warning("Registry change feed: %s; reloading the registry.", gap)
                self._start_over()
                changes = self._read_feed()
        except SQLAlchemyError as error:
            self._polled_at = _NEVER
            raise RegistryUnavailable(
                "The tenant registry database cannot be reached; check DATABASE_URL "
                "and that the database server is up."
            ) from error
        if changes:
            self._apply(changes)
        self._polled_at = started
        self._succeeded_at = time.monotonic()
        if not self._index.loaded or self._index.wants_rebuild():
            self._load_index()

    def _read_feed(self) -> list[Row[Any]]:
        with self._connection() as connection:
            if self._feed is None:
                feed = ChangeFeed(postgres=connection.dialect.name == "postgresql")
                feed.start(connection)
                self._feed = feed
                return []
            return latest_per_tenant(self._feed.poll(connection))

    def _start_over(self) -> None:
        self._cache.clear()
        self._index = KeyIndex()
        self._loader = None
        self._feed = None
        if self.on_reset is not None:
            self.on_reset()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        # Reads only: on SQLite, never take the write lock (BEGIN IMMEDIATE) to poll.
        token = sqlite_write_intent.set(False)
        try:
            with self.engine.connect() as connection:
                yield connection
        finally:
            sqlite_write_intent.reset(token)

    # -- applying changes ------------------------------------------------------------------

    def _apply(self, rows: Sequence[Row[Any]]) -> None:
        """Bring the cache and the index up to date with the changed tenants' rows."""
        with self._cache.changing():
            for row in rows:
                tenant = TenantRecord.from_row(row)
                holding = tenant.status in _HOLDING
                keys = keys_of(tenant)
                previous = self._cache.get((SLUG, tenant.slug.lower()))
                if previous is not None:  # domains it no longer holds count as removed keys
                    for _gone in set(previous.custom_domains) - set(tenant.custom_domains):
                        self._index.note_removed()
                self._cache.update(tenant, keys, holding)
                for key in keys:
                    if holding:
                        self._index.add(key_hash(*key))
                    else:
                        self._index.note_removed()
        if self.on_change is not None:
            for row in rows:
                self.on_change(row.id)

    # -- point queries -----------------------------------------------------------------------

    def _point_query(self, wanted: Key) -> TenantRecord | None:
        """The tenant holding ``wanted`` now, from the database; one query per key at a time."""
        with self._flights_lock:
            flight = self._flights.get(wanted)
            leader = flight is None
            if flight is None:
                flight = self._flights[wanted] = Future()
        if not leader:
            return flight.result()
        generation = self._cache.generation
        try:
            with self._connection() as connection:
                row = connection.execute(_BY_KEY[wanted[0]], {"key": wanted[1]}).first()
        except BaseException as error:
            failure: BaseException = error
            if isinstance(error, SQLAlchemyError):
                failure = RegistryUnavailable(
                    "The tenant registry database cannot be reached; check DATABASE_URL "
                    "and that the database server is up."
                )
                failure.__cause__ = error
            self._land(wanted, flight, exception=failure)
            if failure is error:
                raise
            raise failure from error
        live = row is not None and row.status in _HOLDING
        tenant = TenantRecord.from_row(row) if live else None
        self._cache.keep(generation, wanted, tenant, keys_of(tenant) if tenant else ())
        self._land(wanted, flight, result=tenant)
        return tenant

    def _land(
        self,
        wanted: Key,
        flight: Future[TenantRecord | None],
        *,
        result: TenantRecord | None = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._flights_lock:
            del self._flights[wanted]
        if exception is not None:
            flight.set_exception(exception)
        else:
            flight.set_result(result)

    # -- the key index -----------------------------------------------------------------------

    def _load_index(self) -> None:
        """Load (or rebuild) the key index in a background thread."""
        if self._loader is not None and self._loader.is_alive():
            return
        index = self._index
        index.begin_build()

        def load() -> None:
            try:
                with self._connection() as connection:
                    hashes = load_hashes(connection)
            except Exception:
                log.exception("Could not load the registry key index; the next poll retries.")
                index.abort_build()
                return
            index.finish_build(hashes)

        self._loader = threading.Thread(target=load, name="tenants-registry-index", daemon=True)
        self._loader.start()

    def wait_loaded(self, timeout: float = 30) -> bool:
        """Wait until the key index is loaded (tests and benchmarks); True if it is."""
        deadline = time.monotonic() + timeout
        while not self._index.loaded and time.monotonic() < deadline:
            loader = self._loader
            if loader is not None:
                loader.join(0.05)
            else:
                time.sleep(0.01)
        return self._index.loaded

    def statistics(self) -> dict[str, Any]:
        """What this process holds (for tests, benchmarks and debugging)."""
        return {
            "records": len(self._cache),
            "absent": self._cache.absent_count,
            "index_loaded": self._index.loaded,
            "index_keys": len(self._index),
            "index_bytes": self._index.memory_bytes(),
            "feed_high": self._feed.high if self._feed is not None else None,
        }
