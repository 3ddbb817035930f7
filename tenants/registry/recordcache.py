"""The tenant records one process keeps: bounded, by key, and kept in step with the feed.

At most ``size`` records (least recently used out), each under every key a request can
name it by, and at most ``size`` keys a point query found nobody holding. Reads take no
lock: each is one dictionary operation, atomic under the GIL. Changes hold the cache's
lock, and every batch of changes from the change feed bumps :attr:`RecordCache.generation`,
so an answer fetched while a batch was applied (and perhaps older than it) is not kept.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from tenants.registry.record import TenantRecord

Key = tuple[str, str]


class RecordCache:
    """Tenant records by key, and keys known to be unheld; both bounded by ``size``."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("The record cache size must be at least 1.")
        self.size = size
        self._records: OrderedDict[Key, TenantRecord] = OrderedDict()
        self._keys_by_tenant: dict[int, set[Key]] = {}
        self._absent: OrderedDict[Key, None] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()

    # -- reads (no lock) ---------------------------------------------------------------

    def get(self, key: Key) -> TenantRecord | None:
        return self._records.get(key)

    def used(self, key: Key) -> None:
        """Mark ``key`` recently used (a hit)."""
        try:
            self._records.move_to_end(key)
        except KeyError:  # evicted by another thread since it was read
            pass

    def known_absent(self, key: Key) -> bool:
        return key in self._absent

    def __len__(self) -> int:
        return len(self._records)

    @property
    def absent_count(self) -> int:
        return len(self._absent)

    @property
    def generation(self) -> int:
        """Goes up with every batch of changes applied (and with every clear)."""
        return self._generation

    # -- answers of point queries ------------------------------------------------------

    def keep(
        self, generation: int, key: Key, tenant: TenantRecord | None, keys: Iterable[Key]
    ) -> None:
        """Keep a point query's answer for ``key``, unless changes were applied since it
        started (at ``generation``): it may be older than them."""
        with self._lock:
            if self._generation != generation:
                return
            if tenant is None:
                self._absent[key] = None
                self._absent.move_to_end(key)
                while len(self._absent) > self.size:
                    self._absent.popitem(last=False)
            else:
                for tenant_key in keys:
                    self._put(tenant_key, tenant)

    # -- changes from the feed ---------------------------------------------------------

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock while a batch of changes is applied; bump the generation after."""
        with self._lock:
            try:
                yield
            finally:
                self._generation += 1

    def update(self, tenant: TenantRecord, keys: Iterable[Key], holding: bool) -> None:
        """``tenant`` changed (call within :meth:`changing`): what is cached follows it.

        A cached tenant is replaced (or dropped when it no longer holds its keys); one
        not cached stays out, a request loads it. Its keys are no longer known unheld.
        """
        cached_keys = self._keys_by_tenant.pop(tenant.id, set())
        for key in cached_keys:
            self._records.pop(key, None)
        for key in keys:
            self._absent.pop(key, None)
            if not holding:
                continue
            holder = self._records.get(key)
            if holder is not None and holder.id != tenant.id:
                self._forget(key)  # the name passed to this tenant
            if cached_keys:
                self._put(key, tenant)

    def clear(self) -> None:
        with self.changing():
            self._records.clear()
            self._keys_by_tenant.clear()
            self._absent.clear()

    # -- bookkeeping (lock held) -------------------------------------------------------

    def _put(self, key: Key, tenant: TenantRecord) -> None:
        self._records[key] = tenant
        self._records.move_to_end(key)
        self._keys_by_tenant.setdefault(tenant.id, set()).add(key)
        while len(self._records) > self.size:
            old_key, old = self._records.popitem(last=False)
            self._untrack(old.id, old_key)

    def _forget(self, key: Key) -> None:
        old = self._records.pop(key, None)
        if old is not None:
            self._untrack(old.id, key)

    def _untrack(self, tenant_id: int, key: Key) -> None:
        keys = self._keys_by_tenant.get(tenant_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys_by_tenant[tenant_id]
