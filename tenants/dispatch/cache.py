"""A bounded cache of built WSGI applications, one per key, built at most once at a time.

The seed held one lock while it built an app, so one slow tenant stalled every other,
and it kept every app forever. This cache:

- answers a hit without taking any lock (a dict read and an ``OrderedDict.move_to_end``,
  each atomic under the GIL);
- builds each key at most once at a time (single flight): concurrent requests for a cold
  key wait for the one build, while requests for other keys go on untouched, since the
  cache-wide lock is only held for dictionary bookkeeping, never during a build;
- keeps at most ``maxsize`` apps, evicting the least recently used and handing each
  evicted app to ``release`` (which frees its database engine);
- rebuilds an app when the version it was built from is no longer current.

Usage::

    cache = AppCache(maxsize=256, release=lambda app: app.engine.dispose())
    app = cache.get(tenant.id, tenant.version, lambda: create_app(tenant))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, NamedTuple, TypeVar

App = TypeVar("App")


class _Entry(NamedTuple, Generic[App]):
    version: Hashable
    app: App


class AppCache(Generic[App]):
    """LRU cache of apps keyed by tenant, with single-flight builds."""

    def __init__(self, maxsize: int, release: Callable[[App], None] | None = None) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1; it is the number of apps kept.")
        self.maxsize = maxsize
        self._release = release
        self._entries: OrderedDict[Hashable, _Entry[App]] = OrderedDict()
        self._flights: dict[Hashable, Future[App]] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, version: Hashable, build: Callable[[], App]) -> App:
        """The app for ``key`` at ``version``, building it with ``build`` if needed."""
        entry = self._entries.get(key)
        if entry is not None and entry.version == version:
            try:
                self._entries.move_to_end(key)
            except KeyError:  # evicted by another thread since the read: still a valid app
                pass
            return entry.app
        return self._build(key, version, build)

    def _build(self, key: Hashable, version: Hashable, build: Callable[[], App]) -> App:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return entry.app
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leader:
            # Another thread is building this key: wait for its result (or its error).
            return flight.result()

        try:
            app = build()
        except BaseException as error:
            with self._lock:
                del self._flights[key]
            flight.set_exception(error)
            raise
        released: list[App] = []
        with self._lock:
            del self._flights[key]
            old = self._entries.pop(key, None)
            if old is not None:
                released.append(old.app)
            self._entries[key] = _Entry(version, app)
            self.builds += 1
            while len(self._entries) > self.maxsize:
                released.append(self._entries.popitem(last=False)[1].app)
        flight.set_result(app)
        for stale in released:
            self._dispose(stale)
        return app

    def keys(self) -> list[Hashable]:
        """The keys of the apps held now (a copy)."""
        with self._lock:
            return list(self._entries)

    def discard(self, key: Hashable) -> None:
        """Drop ``key``'s app (its tenant changed or went away) and release it."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            self._dispose(entry.app)

    def clear(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            self._dispose(entry.app)

    def _dispose(self, app: App) -> None:
        if self._release is not None:
            self._release(app)
