"""The workspace's forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from tenants.lifecycle import valid_email


class EmailAddress:
    """An address shaped like you@example.com (no DNS look-up: the domain may be internal)."""

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if field.data and not valid_email(field.data.strip()):
            raise ValidationError("Enter an email address like you@example.com.")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Log in")


class NoteForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField("Body", validators=[Length(max=20000)])
    submit = SubmitField("Save note")


class MemberForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    name = StringField("Name", validators=[Length(max=120)])
    password = PasswordField(
        "Initial password", validators=[DataRequired(), Length(min=8, max=200)]
    )
    role = StringField("Role", default="member", validators=[Regexp(r"^(owner|member)$")])
    submit = SubmitField("Add member")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=8, max=200)]
    )
    submit = SubmitField("Change password")


class WorkspaceSettingsForm(FlaskForm):
    display_name = StringField("Workspace name", validators=[DataRequired(), Length(max=120)])
    accent = StringField(
        "Accent colour",
        validators=[
            DataRequired(),
            Regexp(r"^#[0-9a-fA-F]{6}$", message="Use a colour like #4f46e5."),
        ],
    )
    submit = SubmitField("Save settings")
