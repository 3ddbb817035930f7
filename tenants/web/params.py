"""Numbers from the query string and the path, read once for every app.

Python reads any run of digits as an int, however long; the databases do not: SQLite
overflows past 64 bits and PostgreSQL refuses an ``OFFSET`` past them. So a page
number, a page size or an id from a URL is checked here, and a bad one is a 400 (not
a number) or a 404 (no such page or row), never a 500.
"""

from __future__ import annotations

from flask import abort, request
from werkzeug.routing import IntegerConverter, Map

#: The largest id a URL may name: a signed 64-bit key, as both databases store them.
MAX_ID = 2**63 - 1
#: Pages beyond this do not exist for any list we show (and keep OFFSET far from overflow).
MAX_PAGE = 1_000_000


#: Digits beyond this are "too large" without converting them (Python refuses past 4300).
_MAX_DIGITS = 18


def _whole_number(name: str, raw: str) -> int | None:
    """``raw`` as a whole number; None when it is too large to matter; 400 if not a number."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        abort(
            400,
            description=f"“{name}” is a whole number from 1 (like {name}=2); "
            "go back to the first page.",
        )
    return int(text) if len(text) <= _MAX_DIGITS else None


def page_number(name: str = "page", *, maximum: int = MAX_PAGE) -> int:
    """The page number in the query string (1 when absent); 400 or 404 when unusable."""
    raw = request.args.get(name)
    if raw is None:
        return 1
    number = _whole_number(name, raw)
    if number is not None and number < 1:
        abort(400, description=f"“{name}” starts at 1; go back to the first page.")
    if number is None or number > maximum:
        abort(404, description="There is no such page; go back to the first page.")
    return number


def page_size(default: int, *, maximum: int, name: str = "per_page") -> int:
    """How many items a page shows: ``per_page`` from the query, within 1..``maximum``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    number = _whole_number(name, raw)
    if number is not None and number < 1:
        abort(400, description=f"“{name}” is at least 1.")
    return maximum if number is None else min(number, maximum)


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` that matches only ids a database can hold (a longer one is a 404)."""

    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:  # noqa: A002
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


class BoundedMap(Map):
    """A URL map whose ``int`` converter never hands a view a number no database holds."""

    default_converters = {**Map.default_converters, "int": BoundedIntegerConverter}
