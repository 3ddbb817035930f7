"""What every app refuses before a view runs: input no view can use (a 400 that says why).

Browsers send form fields as text; scripts can send anything. Three kinds of input used
to reach views and crash them with a 500, on one backend or both:

- a NUL character (PostgreSQL stores no NUL in text; psycopg refuses the statement);
- a form field sent as a multipart *file* part (the field's value is then not text);
- a JSON string no database can encode (a lone UTF-16 surrogate, ``"\\ud800"``).

:func:`guard_input` registers one ``before_request`` hook that looks at the query
string, the form, the files and a JSON body, and answers 400 with the field's name and
what to do instead. A view that really takes uploads says so with :func:`accepts_files`.
Everything else about values (sizes, shapes, types of JSON values) is the forms' job
(:mod:`tenants.web.forms`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, request

F = TypeVar("F", bound=Callable[..., Any])

_ACCEPTS_FILES = "_tenants_accepts_files"


def accepts_files(view: F) -> F:
    """Mark a view that takes file uploads: its file parts are not refused."""
    setattr(view, _ACCEPTS_FILES, True)
    return view


def unusable_text(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is (None when it can)."""
    if "\x00" in text:
        return "contains a NUL character (\\0)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a character that is not valid Unicode (a lone surrogate)"
    return None


def _json_strings(value: object, path: str = "") -> Iterable[tuple[str, str]]:
    """Every string (keys included) in a parsed JSON value, with where it is."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            yield inner, key
            yield from _json_strings(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{index}]")


def _refuse(what: str, name: str, why: str) -> None:
    abort(400, description=f"The {what} “{_printable(name)}” {why}; remove it and send it again.")


def _printable(name: str) -> str:
    shown = "".join(char if char.isprintable() else "?" for char in name[:60])
    return shown or "(empty)"


def refuse_unusable_input() -> None:
    """``before_request``: 400 for NUL characters, file parts in text fields, bad JSON text."""
    for name, value in request.args.items(multi=True):
        why = unusable_text(name) or unusable_text(value)
        if why:
            _refuse("query parameter", name, why)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in request.form.items(multi=True):
            why = unusable_text(name) or unusable_text(value)
            if why:
                _refuse("form field", name, why)
        if request.files and not _view_accepts_files():
            name = next(iter(request.files))
            abort(
                400,
                description=f"The form field “{_printable(name)}” was sent as a file; "
                "send it as text, as a normal form field.",
            )
    elif request.is_json:
        body = request.get_json(silent=True)
        for where, text in _json_strings(body):
            why = unusable_text(text)
            if why:
                _refuse("JSON value", where, why)


def _view_accepts_files() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, _ACCEPTS_FILES, False))


def guard_input(app: Flask) -> None:
    """Refuse unusable input in ``app`` before any of its views (and before CSRF checks)."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_unusable_input)
