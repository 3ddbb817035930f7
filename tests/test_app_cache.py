"""The app cache: bounded LRU, single flight, no cross-tenant lock while building."""

from __future__ import annotations

import threading
import time

import pytest

from tenants.dispatch.cache import AppCache


def test_keeps_at_most_maxsize_and_releases_evicted() -> None:
    released: list[str] = []
    cache: AppCache[str] = AppCache(maxsize=2, release=released.append)
    for key in ["a", "b", "c"]:
        cache.get(key, 1, lambda key=key: f"app-{key}")
    assert len(cache) == 2
    assert "a" not in cache
    assert released == ["app-a"]


def test_hit_refreshes_recency() -> None:
    cache: AppCache[str] = AppCache(maxsize=2)
    cache.get("a", 1, lambda: "a1")
    cache.get("b", 1, lambda: "b1")
    cache.get("a", 1, lambda: pytest.fail("a is cached"))
    cache.get("c", 1, lambda: "c1")
    assert "a" in cache and "b" not in cache


def test_new_version_rebuilds_and_releases_old() -> None:
    released: list[str] = []
    cache: AppCache[str] = AppCache(maxsize=4, release=released.append)
    assert cache.get("a", 1, lambda: "a-v1") == "a-v1"
    assert cache.get("a", 2, lambda: "a-v2") == "a-v2"
    assert released == ["a-v1"]
    assert len(cache) == 1


def test_single_flight_builds_once_for_concurrent_misses() -> None:
    cache: AppCache[object] = AppCache(maxsize=4)
    calls = 0
    gate = threading.Event()

    def build() -> object:
        nonlocal calls
        calls += 1
        gate.wait(5)
        return object()

    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("a", 1, build))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert calls == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_warm_key_is_served_while_another_key_builds() -> None:
    cache: AppCache[str] = AppCache(maxsize=4)
    cache.get("warm", 1, lambda: "warm-app")
    building = threading.Event()
    release_build = threading.Event()

    def slow_build() -> str:
        building.set()
        release_build.wait(10)
        return "cold-app"

    cold = threading.Thread(target=cache.get, args=("cold", 1, slow_build))
    cold.start()
    assert building.wait(5)
    # The cold build is held open: a warm hit must not wait for it.
    done = threading.Event()
    threading.Thread(target=lambda: (cache.get("warm", 1, lambda: "x"), done.set())).start()
    assert done.wait(2), "a warm hit waited for another key's build"
    # And another cold key can build meanwhile, too.
    assert cache.get("other", 1, lambda: "other-app") == "other-app"
    release_build.set()
    cold.join(5)
    assert cache.get("cold", 1, lambda: "rebuilt") == "cold-app"


def test_failed_build_is_not_cached_and_waiters_see_the_error() -> None:
    cache: AppCache[str] = AppCache(maxsize=4)

    def broken() -> str:
        raise RuntimeError("storage gone")

    with pytest.raises(RuntimeError, match="storage gone"):
        cache.get("a", 1, broken)
    assert "a" not in cache
    assert cache.get("a", 1, lambda: "ok") == "ok"


def test_discard_releases() -> None:
    released: list[str] = []
    cache: AppCache[str] = AppCache(maxsize=4, release=released.append)
    cache.get("a", 1, lambda: "a1")
    cache.discard("a")
    cache.discard("missing")
    assert released == ["a1"] and len(cache) == 0


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AppCache(maxsize=0)
