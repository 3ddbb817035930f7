"""The note form (Flask-WTF: CSRF on it)."""

from __future__ import annotations

from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from tenants.accounts.forms import strip_text
from tenants.notes.models import Note
from tenants.web.forms import SafeForm, column_size


class NoteForm(SafeForm):
    title = StringField(
        "Title",
        filters=[strip_text],
        validators=[DataRequired("Give the note a title."), Length(max=column_size(Note.title))],
    )
    body = TextAreaField("Body", validators=[Length(max=20000)])
    submit = SubmitField("Save note")
