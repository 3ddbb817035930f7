"""The accounts' forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    ColorField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from tenants.accounts.models import Role
from tenants.validation import MIN_PASSWORD_LENGTH, valid_email

#: ``\Z``, not ``$``: ``$`` also matches before a trailing newline.
ACCENT_PATTERN = r"^#[0-9a-fA-F]{6}\Z"
ROLE_CHOICES = [SelectChoice(Role.MEMBER, "Member"), SelectChoice(Role.OWNER, "Owner")]


def strip_text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class EmailAddress:
    """An address shaped like you@example.com (no DNS look-up: the domain may be internal)."""

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if field.data and not valid_email(field.data.strip()):
            raise ValidationError("Enter an email address like you@example.com.")


def _new_password(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=f"Use {MIN_PASSWORD_LENGTH} to 200 characters.",
            ),
        ],
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Log in")


class MemberForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[strip_text],
        validators=[DataRequired("Enter the member's email."), EmailAddress(), Length(max=254)],
    )
    name = StringField("Name", filters=[strip_text], validators=[Length(max=120)])
    password = _new_password("Initial password")
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.MEMBER)
    submit = SubmitField("Add member")


class RoleForm(FlaskForm):
    """One member's role, on the members page (one form per row, prefixed by the member id)."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    submit = SubmitField("Change role")


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )
    new_password = _new_password("New password")
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[
            DataRequired("Repeat the new password."),
            EqualTo("new_password", message="The two new passwords differ; type them again."),
        ],
    )
    submit = SubmitField("Change password")


class WorkspaceSettingsForm(FlaskForm):
    display_name = StringField(
        "Workspace name",
        filters=[strip_text],
        validators=[DataRequired("Give the workspace a name."), Length(max=120)],
    )
    accent = ColorField(
        "Accent colour",
        validators=[
            DataRequired("Pick an accent colour."),
            Regexp(ACCENT_PATTERN, message="Use a colour like #4f46e5."),
        ],
    )
    submit = SubmitField("Save settings")
