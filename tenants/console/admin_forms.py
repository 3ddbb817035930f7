"""Forms of the admin console (Flask-WTF: CSRF on every POST form)."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length

from tenants.registry.models import PlatformAdmin, TenantStatus
from tenants.validation import MAX_PASSWORD_LENGTH
from tenants.web.forms import SafeForm, column_size

#: The plans a tenant can be on: the one list the console offers and accepts.
PLANS = ("free", "pro", "enterprise")

#: The list filter's "live" choice: every tenant that holds its slug.
LIVE = "live"
ALL = "all"
STATUS_CHOICES = [
    SelectChoice(LIVE, "Live (active, suspended, provisioning)"),
    *(SelectChoice(str(status), str(status).title()) for status in TenantStatus),
    SelectChoice(ALL, "All"),
]


class AdminLoginForm(SafeForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=column_size(PlatformAdmin.email))]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    remember = BooleanField("Keep me logged in on this device")


class TenantSearchForm(SafeForm):
    """The list's search and filter: a GET form, so no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    q = SearchField(
        "Search slug or name",
        validators=[Length(max=120, message="Search for at most 120 characters.")],
    )
    status = SelectField("Status", choices=STATUS_CHOICES, default=LIVE)


class PlanForm(SafeForm):
    plan = SelectField("Plan", choices=[SelectChoice(plan, plan.title()) for plan in PLANS])


class DeleteForm(SafeForm):
    confirm = StringField(
        "Type the tenant's subdomain to confirm",
        validators=[DataRequired(message="Type the subdomain to confirm the deletion.")],
    )


class PurgeForm(SafeForm):
    confirm = StringField(
        "Type the tenant's subdomain to purge it now",
        validators=[DataRequired(message="Type the subdomain to confirm the purge.")],
    )
