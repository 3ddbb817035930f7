"""Which keys some tenant holds: 8 bytes per key, so a process can refuse unknown names alone.

The index is a sorted ``array('q')`` of key hashes (:mod:`tenants.registry.keys`),
loaded from the database in one query, plus a set of hashes added since by the change
feed. It never says "no" for a key a tenant held when it was loaded or that the feed
has reported since; it may say "maybe" for a key nobody holds (a deleted tenant's, or a
hash collision), which costs the caller one point query. Keys are not removed one by
one (a collision could make that remove a live key); the registry rebuilds the index
when enough have gone.

At 1,000,000 tenants: 8 MB, loaded in about 0.1 s on PostgreSQL (an index-only scan of
the generated ``tenants.key_hash`` column, in order), a lookup in about a microsecond.
Hashes carry their kind (``slug:acme``), so another kind of key (custom domains) joins
the same index: its table gets a hash column of its own, and :func:`load_hashes` reads
the union of both in order.
"""

from __future__ import annotations

import itertools
import operator
import sys
import threading
from array import array
from bisect import bisect_left

from sqlalchemy import Connection, text

from tenants.registry.keys import DOMAIN, SLUG, key_hash
from tenants.registry.record import ROUTABLE_DOMAIN_STATUSES, SLUG_HOLDING_STATUSES

_HOLDING = ", ".join(f"'{status}'" for status in SLUG_HOLDING_STATUSES)
# PostgreSQL: the generated column, in index order, as one bytea of big-endian int8s.
_LOAD_POSTGRES = text(
    "SELECT string_agg(int8send(key_hash), ''::bytea) FROM "
    f"(SELECT key_hash FROM tenants WHERE status IN ({_HOLDING}) ORDER BY key_hash) AS live"
)
# SQLite: the same hashes computed by a function registered on the connection.
_LOAD_SQLITE = text(
    f"SELECT tenants_key_hash('{SLUG}', lower(slug)) AS h FROM tenants "
    f"WHERE status IN ({_HOLDING}) ORDER BY h"
)
# Custom domains (far fewer than tenants): their names, hashed here on both backends.
_ROUTABLE = ", ".join(f"'{status}'" for status in ROUTABLE_DOMAIN_STATUSES)
_LOAD_DOMAINS = text(
    "SELECT lower(d.domain) FROM tenant_domains AS d JOIN tenants AS t ON t.id = d.tenant_id "
    f"WHERE d.status IN ({_ROUTABLE}) AND t.status IN ({_HOLDING})"
)


def load_hashes(connection: Connection) -> array[int]:
    """The sorted hashes of every routable key: slugs in one statement, domains in another."""
    hashes = _load_slug_hashes(connection)
    domains = [key_hash(DOMAIN, row[0]) for row in connection.execute(_LOAD_DOMAINS)]
    if domains:
        hashes.extend(domains)
        hashes = array("q", sorted(hashes))
    return hashes


def _load_slug_hashes(connection: Connection) -> array[int]:
    hashes = array("q")
    if connection.dialect.name == "postgresql":
        blob = connection.execute(_LOAD_POSTGRES).scalar()
        if blob:
            hashes.frombytes(bytes(blob))
            if sys.byteorder == "little":
                hashes.byteswap()
        if not is_sorted(hashes):  # an aggregate's input order is not a promise
            hashes = array("q", sorted(hashes))
    else:
        driver = connection.connection.driver_connection
        driver.create_function("tenants_key_hash", 2, key_hash, deterministic=True)  # type: ignore[union-attr]
        hashes.extend(row[0] for row in connection.execute(_LOAD_SQLITE))
    return hashes


def is_sorted(values: array[int]) -> bool:
    return all(map(operator.le, values, itertools.islice(values, 1, None)))


class KeyIndex:
    """Membership of key hashes: a sorted base array plus the hashes added since it was built.

    Lookups take no lock. ``add`` comes from the one thread applying the change feed;
    a rebuild (another thread) swaps the base in, keeping what was added meanwhile.
    """

    def __init__(self) -> None:
        self._base: array[int] | None = None
        self._added: set[int] = set()
        self._building: set[int] | None = None
        self._removed = 0
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._base is not None

    def __len__(self) -> int:
        return len(self._base or ()) + len(self._added)

    def might_hold(self, hashed: int) -> bool | None:
        """True: some tenant may hold it. False: none does. None: not loaded yet."""
        if hashed in self._added:
            return True
        base = self._base
        if base is None:
            return None
        position = bisect_left(base, hashed)
        return position < len(base) and base[position] == hashed

    def add(self, hashed: int) -> None:
        with self._lock:
            self._added.add(hashed)
            if self._building is not None:
                self._building.add(hashed)

    def note_removed(self) -> None:
        """A key stopped being held; enough of these and the index should be rebuilt."""
        self._removed += 1

    def wants_rebuild(self) -> bool:
        size = len(self._base or ())
        return self._building is None and (
            self._removed > max(1024, size // 16) or len(self._added) > max(65536, size // 8)
        )

    def begin_build(self) -> None:
        """From now on additions are also kept for the base being loaded."""
        with self._lock:
            self._building = set()

    def finish_build(self, base: array[int]) -> None:
        """Swap in ``base`` (loaded after :meth:`begin_build`) with what was added since."""
        with self._lock:
            # Base first: a lookup in between sees the new base with the old additions,
            # a superset, never a key missing from both.
            self._base = base
            self._added = self._building if self._building is not None else set()
            self._building = None
            self._removed = 0

    def abort_build(self) -> None:
        with self._lock:
            self._building = None

    def memory_bytes(self) -> int:
        """About how much memory the index holds (for the benchmark)."""
        base = self._base
        return (base.itemsize * len(base) if base is not None else 0) + sys.getsizeof(self._added)
