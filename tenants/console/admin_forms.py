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
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from tenants.plans import PLANS
from tenants.registry.models import PlatformAdmin, TenantStatus
from tenants.registry.record import SUSPENSION_REASON_SIZE
from tenants.validation import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from tenants.web.forms import SafeForm, column_size

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
    """The tenant's plan (tenants.plans.PLANS, the list every entry point accepts)."""

    plan = SelectField("Plan", choices=[SelectChoice(plan.name, plan.title) for plan in PLANS])

    @classmethod
    def showing(cls, current: str) -> PlanForm:
        """The form as the tenant page shows it: its select on the tenant's plan.

        A row written before plans were checked may name no plan: the select then starts
        on an empty choice that says so, which the POST refuses, so pressing the button
        without choosing never sets a plan nobody picked.
        """
        form = cls(formdata=None, plan=current)
        if current not in {plan.name for plan in PLANS}:
            form.plan.choices = [
                SelectChoice("", f"Choose a plan (now “{current}”, not a plan)"),
                *form.plan.choices,
            ]
            form.plan.data = ""
        return form


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


class NewAdminForm(SafeForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=column_size(PlatformAdmin.email))]
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
        ],
    )


class AdminPasswordForm(SafeForm):
    password = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
        ],
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ConfirmForm(SafeForm):
    """A second step that asks nothing but the click (and carries the CSRF token)."""


class SuspendForm(SafeForm):
    """The suspension's confirmation step: the reason the tenant's members will read."""

    reason = TextAreaField(
        "Reason (shown to the workspace's members)",
        filters=[lambda value: " ".join(value.split()) if isinstance(value, str) else value],
        validators=[
            Length(
                max=SUSPENSION_REASON_SIZE,
                message=f"Give a reason of at most {SUSPENSION_REASON_SIZE} characters.",
            )
        ],
    )
