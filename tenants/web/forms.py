"""The one base of every form of the platform and the toolkit, and field sizes from columns.

Flask-WTF reads a form from ``request.form``, from ``request.files`` too when there are
files, and from a JSON body when the request is JSON. A JSON body can hold numbers,
lists, objects or ``null`` where a text field is expected, or be no object at all; WTForms
then hands a view something that is not text, and the view crashes. :class:`SafeForm`
reads JSON only as an object of text values (400 otherwise, naming the field), so
every field of every form holds text or nothing. File parts and NUL characters never
get this far (:mod:`tenants.web.inputs`).

Sizes: ``Length(max=column_size(User.email))`` keeps a form's limit and the column's
the same, so a value a form accepts always fits where it is stored.
"""

from __future__ import annotations

from typing import Any

from flask import abort, has_request_context, request
from flask_wtf import FlaskForm
from sqlalchemy.orm import InstrumentedAttribute
from werkzeug.datastructures import ImmutableMultiDict

#: The methods Flask-WTF reads a form from (as ``flask_wtf.form.SUBMIT_METHODS``).
SUBMIT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def json_form_data() -> ImmutableMultiDict[str, str]:
    """The JSON body as form data: an object whose values are all text (400 otherwise)."""
    body = request.get_json()
    if not isinstance(body, dict):
        abort(
            400,
            description=f"The JSON body is {_json_type(body)}; send an object of text fields, "
            'like {"email": "you@example.com"}.',
        )
    for name, value in body.items():
        if not isinstance(value, str):
            abort(
                400,
                description=f"The field “{name[:60]}” is {_json_type(value)}; "
                "send every field as text (a JSON string).",
            )
    return ImmutableMultiDict(body)


def _json_submitted() -> bool:
    return (
        has_request_context()
        and request.method in SUBMIT_METHODS
        and request.is_json
        and not request.form
        and not request.files
    )


class SafeForm(FlaskForm):
    """A Flask-WTF form whose fields only ever receive text (or nothing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and "formdata" not in kwargs and _json_submitted():
            # Flask-WTF would take any JSON value: only an object of text passes.
            kwargs["formdata"] = json_form_data()
        super().__init__(*args, **kwargs)


def column_size(attribute: InstrumentedAttribute[Any]) -> int:
    """The declared size of a string column (``String(254)`` → 254), for ``Length(max=…)``."""
    length = getattr(attribute.property.columns[0].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{attribute} has no declared length; give its String a size.")
    return length
