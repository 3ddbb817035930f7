"""The first poll of a new process's registry: lookups that arrive during it wait for it.

A job worker (several threads) or a threaded server asks the registry from two threads
at once right after it starts. The second used to be told the registry "has not
answered for a while" (503, or a job handed back as if the database were down) while
the first poll was still handing its connection back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from sqlalchemy import Connection

from tenants.kernel import Platform


def test_a_lookup_during_the_first_poll_waits_for_it(make_platform, create_tenant) -> None:
    create_tenant("acme")
    fresh: Platform = make_platform()  # a new process: it has not polled yet
    registry = fresh.registry
    original = registry._connection
    first_poll_inside = threading.Event()

    @contextlib.contextmanager
    def slow_to_hand_back() -> Iterator[Connection]:
        with original() as connection:
            yield connection
        if not first_poll_inside.is_set():
            first_poll_inside.set()
            time.sleep(0.5)  # the first poll's connection takes a while to go back

    registry._connection = slow_to_hand_back  # type: ignore[method-assign]
    answers: dict[str, object] = {}

    def look_up(name: str) -> None:
        try:
            answers[name] = registry.get("acme")
        except Exception as error:  # the answer under test
            answers[name] = error

    first = threading.Thread(target=look_up, args=("first",))
    first.start()
    assert first_poll_inside.wait(10)
    look_up("second")  # while the first poll still holds the lock
    first.join(10)
    assert {name: getattr(answer, "slug", answer) for name, answer in answers.items()} == {
        "first": "acme",
        "second": "acme",
    }
