"""RetryReadAfterMove, as plain WSGI: a read that met the old copy runs once more."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from werkzeug.test import Client

import tenants.dispatch
from tenants.dispatch.retry import STORAGE_MOVED, RetryReadAfterMove


class Backend:
    """A tenant app stand-in: answers "moved" the first ``moved`` times, then 200."""

    def __init__(self, moved: int, lazy: bool = False) -> None:
        self.moved, self.lazy = moved, lazy
        self.calls: list[tuple[str, str]] = []
        self.closed = 0

    def __call__(self, environ, start_response):
        self.calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        environ["PATH_INFO"] = "/rewritten"  # as a path dispatcher shifts its prefix
        if len(self.calls) <= self.moved:
            status, headers, body = "503 Service Unavailable", [(STORAGE_MOVED, "1")], b"moved"
        else:
            status, headers, body = "200 OK", [("Content-Type", "text/plain")], b"new copy"
        if self.lazy:

            def later():
                start_response(status, headers)
                yield body

            return later()
        start_response(status, headers)
        return Answer(body, self)


class Answer(list):
    def __init__(self, body: bytes, backend: Backend) -> None:
        super().__init__([body])
        self.backend = backend

    def close(self) -> None:
        self.backend.closed += 1


CASES = [
    # id, method, times the app answers "moved", lazy start, status, body, app calls
    ("read-retried-once", "GET", 1, False, 200, b"new copy", 2),
    ("head-retried-once", "HEAD", 1, False, 200, b"new copy", 2),
    ("read-moved-twice-gets-503", "GET", 2, False, 503, b"moved", 2),
    ("write-not-retried", "POST", 1, False, 503, b"moved", 1),
    ("plain-read-untouched", "GET", 0, False, 200, b"new copy", 1),
    ("lazy-start-passed-through", "GET", 1, True, 503, b"moved", 1),
]


@pytest.mark.parametrize(
    ("method", "moved", "lazy", "status", "body", "calls"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_only_a_read_that_met_the_old_copy_runs_again(
    method: str, moved: int, lazy: bool, status: int, body: bytes, calls: int
) -> None:
    backend = Backend(moved, lazy)
    response = Client(RetryReadAfterMove(backend)).open("/notes/", method=method)
    assert response.status_code == status
    assert response.get_data() == body
    assert STORAGE_MOVED not in response.headers  # the marker never leaves the platform
    assert [path for _, path in backend.calls] == ["/notes/"] * calls  # a pristine environ
    assert backend.closed >= calls - 1  # the discarded answer was closed


def test_the_usage_examples_in_the_dispatch_docstrings_run() -> None:
    attempted = 0
    for module in pkgutil.iter_modules(tenants.dispatch.__path__):
        loaded = importlib.import_module(f"tenants.dispatch.{module.name}")
        result = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.name
        attempted += result.attempted
    assert attempted > 0
