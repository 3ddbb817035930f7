"""The accounts' forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    ColorField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from tenants.accounts.models import Role, User
from tenants.registry.record import DISPLAY_NAME_SIZE
from tenants.validation import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    password_problem,
    valid_email,
)
from tenants.web.forms import SafeForm, column_size

#: ``\Z``, not ``$``: ``$`` also matches before a trailing newline.
ACCENT_PATTERN = r"^#[0-9a-fA-F]{6}\Z"
ROLE_CHOICES = [SelectChoice(Role.MEMBER, "Member"), SelectChoice(Role.OWNER, "Owner")]


def strip_text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class EmailAddress:
    """An address shaped like you@example.com (no DNS look-up: the domain may be internal)."""

    def __call__(self, form: SafeForm, field: StringField) -> None:
        if field.data and not valid_email(field.data.strip()):
            raise ValidationError("Enter an email address like you@example.com.")


def _new_password(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=f"Use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            ),
        ],
    )


class LoginForm(SafeForm):
    email = EmailField(
        "Email", validators=[DataRequired(), EmailAddress(), Length(max=column_size(User.email))]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    remember = BooleanField("Keep me logged in on this device")
    submit = SubmitField("Log in")


class MemberForm(SafeForm):
    email = EmailField(
        "Email",
        filters=[strip_text],
        validators=[
            DataRequired("Enter the member's email."),
            EmailAddress(),
            Length(max=column_size(User.email)),
        ],
    )
    name = StringField(
        "Name", filters=[strip_text], validators=[Length(max=column_size(User.name))]
    )
    password = _new_password("Initial password")
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.MEMBER)
    submit = SubmitField("Add member")


class ProfileForm(SafeForm):
    """The name a member is shown by (Members, greetings, notes' authors)."""

    name = StringField(
        "Your name",
        filters=[lambda value: " ".join(value.split()) if isinstance(value, str) else value],
        validators=[Length(max=column_size(User.name), message="Use at most %(max)d characters.")],
    )
    submit = SubmitField("Save name")


class InviteForm(SafeForm):
    email = EmailField(
        "Email",
        filters=[strip_text],
        validators=[
            DataRequired("Enter the email of the person to invite."),
            EmailAddress(),
            Length(max=column_size(User.email)),
        ],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.MEMBER)
    submit = SubmitField("Send invitation")


class NewPasswordForm(SafeForm):
    """Choose a password (twice): accepting an invitation, or a reset link."""

    password = _new_password("Password")
    confirm_password = PasswordField(
        "Repeat the password",
        validators=[
            DataRequired("Repeat the password."),
            EqualTo("password", message="The two passwords differ; type them again."),
        ],
    )
    submit = SubmitField("Save password")

    def validate_for(self, email: str) -> bool:
        """Submitted and valid, and the password is neither a common one nor ``email``.

        Length is the fields' rule; the other two need the account's address.
        """
        if not self.validate_on_submit():
            return False
        problem = password_problem(self.password.data, email=email)
        if problem is not None:
            self.password.errors.append(problem)
            return False
        return True


class AcceptInvitationForm(NewPasswordForm):
    name = StringField(
        "Your name",
        filters=[lambda value: " ".join(value.split()) if isinstance(value, str) else value],
        validators=[
            DataRequired("Tell the team your name."),
            Length(max=column_size(User.name), message="Use at most %(max)d characters."),
        ],
    )
    submit = SubmitField("Join the workspace")


class ConfirmForm(SafeForm):
    """A button and the CSRF token: the second step of a link that changes something."""


class EmailOnlyForm(SafeForm):
    """One address: "Forgot password?", and resending a verification link."""

    email = EmailField(
        "Email",
        filters=[strip_text],
        validators=[
            DataRequired("Enter your email address."),
            EmailAddress(),
            Length(max=column_size(User.email)),
        ],
    )
    submit = SubmitField("Send me a link")


class EmailChangeForm(SafeForm):
    new_email = EmailField(
        "New email",
        filters=[strip_text],
        validators=[
            DataRequired("Enter the new address."),
            EmailAddress(),
            Length(max=column_size(User.email)),
        ],
    )
    email_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm.")]
    )
    submit = SubmitField("Change email")


class RoleForm(SafeForm):
    """One member's role, on the members page (one form per row, prefixed by the member id)."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    submit = SubmitField("Change role")


class PasswordForm(SafeForm):
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


class WorkspaceSettingsForm(SafeForm):
    display_name = StringField(
        "Workspace name",
        filters=[strip_text],
        validators=[DataRequired("Give the workspace a name."), Length(max=DISPLAY_NAME_SIZE)],
    )
    accent = ColorField(
        "Accent colour",
        validators=[
            DataRequired("Pick an accent colour."),
            Regexp(ACCENT_PATTERN, message="Use a colour like #4f46e5."),
        ],
    )
    require_2fa = BooleanField("Require two-factor sign-in for every member")
    submit = SubmitField("Save settings")


class ExportForm(SafeForm):
    """The owner's "Download all data" button: a CSRF-checked POST, no fields."""


class DomainForm(SafeForm):
    """A custom domain to add; the platform checks the name (``TenantServices.domains``)."""

    domain = StringField(
        "Domain",
        filters=[strip_text],
        validators=[
            DataRequired("Enter a domain, like notes.example.org."),
            # Longer than any domain, so a pasted URL reaches the platform's own message.
            Length(max=300, message="That is too long for a domain name."),
        ],
    )
