"""Forms of the admin console (Flask-WTF: CSRF on every POST form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length

from tenants.registry.models import TenantStatus

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


class AdminLoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class TenantSearchForm(FlaskForm):
    """The list's search and filter: a GET form, so no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    q = SearchField(
        "Search slug or name",
        validators=[Length(max=120, message="Search for at most 120 characters.")],
    )
    status = SelectField("Status", choices=STATUS_CHOICES, default=LIVE)


class PlanForm(FlaskForm):
    plan = SelectField("Plan", choices=[SelectChoice(plan, plan.title()) for plan in PLANS])


class DeleteForm(FlaskForm):
    confirm = StringField(
        "Type the tenant's subdomain to confirm",
        validators=[DataRequired(message="Type the subdomain to confirm the deletion.")],
    )
