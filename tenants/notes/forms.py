"""The note form (Flask-WTF: CSRF on it)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from tenants.accounts.forms import strip_text


class NoteForm(FlaskForm):
    title = StringField(
        "Title",
        filters=[strip_text],
        validators=[DataRequired("Give the note a title."), Length(max=200)],
    )
    body = TextAreaField("Body", validators=[Length(max=20000)])
    submit = SubmitField("Save note")
