"""Accounts for any tenant app built with Flask: users and roles, log-in and log-out,
the new owner's sign-in after signup, members, the account page, workspace settings and
the owners' Background jobs page.

A product composes them with its own modules::

    from tenants import accounts

    def create_app(tenant, services):
        app = TenantFlask(__name__, services, parts=PARTS)
        accounts.init_app(app, home_endpoint="home.index", nav=[NavLink("Notes", "notes.index")])
        ...

and declares them in its :class:`~tenants.contract.TenantApp` (``provision``, ``sign_in``,
``describe``, ``add_user`` below; ``MODELS`` in its metadata; ``JOBS`` in its jobs).
Templates extend ``layout.html``: this package ships one, and a product's own
``templates/layout.html`` wins over it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, current_app
from flask_login import current_user
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from tenants.accounts import (
    account,
    auth,
    domains_page,
    invitations,
    jobs_page,
    members,
    recovery,
    selfservice,
    settings_page,
    twofactor,
    upkeep,
    verification,
)
from tenants.accounts.extensions import csrf, db, login_manager
from tenants.accounts.models import (
    Invitation,
    RecoveryCode,
    Role,
    UsedLoginToken,
    User,
    UserSession,
)
from tenants.accounts.tokens import make_login_token
from tenants.appkit.modules import NavLink
from tenants.contract import NewOwner, NewUser, SignInHandoff, TenantServices
from tenants.web.colors import readable_accent

#: ``TenantApp(after_signup=...)``: the new owner's address gets its verification link.
after_signup = verification.after_signup

__all__ = [
    "EXPORT",
    "JOBS",
    "MODELS",
    "NAV",
    "add_user",
    "after_signup",
    "describe",
    "init_app",
    "member_emails",
    "owner_emails",
    "provision",
    "sign_in",
]

#: The accounts' tables, for the product's ``metadata_of(*accounts.MODELS, ...)``.
MODELS: tuple[type, ...] = (User, UserSession, UsedLoginToken, Invitation, RecoveryCode)
#: What a customer's "Download all data" includes of the accounts' tables
#: (``TenantApp.export``): people, not their password hashes; no session tokens, spent
#: sign-in tokens, invitations or recovery codes (credentials, not data). The operator's
#: backup keeps everything.
EXPORT: dict[str, tuple[str, ...]] = {"users": ("id", "email", "name", "role", "created_at")}
#: The accounts' background jobs, for the product's ``TenantApp(jobs=(*accounts.JOBS, ...))``.
JOBS = (
    upkeep.purge_spent_login_tokens,
    recovery.send_password_reset,
    verification.send_verification,
)
#: The accounts' own navigation links (after the product's).
NAV = (
    NavLink("Members", "members.index"),
    NavLink("Settings", "settings.edit", owners_only=True),
    NavLink("Account", "account.index"),
)
BLUEPRINTS = (
    auth.bp,
    members.bp,
    invitations.bp,
    recovery.bp,
    verification.bp,
    twofactor.bp,
    selfservice.bp,
    account.bp,
    settings_page.bp,
    jobs_page.bp,
    domains_page.bp,
)
#: ``app.extensions`` key of the app's navigation links.
NAV_LINKS = "tenants.accounts.nav"


def init_app(app: Flask, *, home_endpoint: str, nav: Iterable[NavLink] = ()) -> None:
    """Add accounts to a tenant app (a ``TenantFlask``): extensions, pages, hooks."""
    app.config.setdefault(auth.HOME_ENDPOINT, home_endpoint)
    app.config["TENANT_ACCENT"] = settings_page.valid_accent(
        app.config.get("TENANT_SETTINGS", {}).get("accent")
    )
    app.extensions[NAV_LINKS] = (*nav, *NAV)
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.before_request(settings_page.catch_up_with_own_writes)
    app.before_request(twofactor.enforce_requirement)
    app.context_processor(_accounts_context)


def _accounts_context() -> dict[str, Any]:
    config = current_app.config
    return {
        "workspace": {
            "slug": config["TENANT_SLUG"],
            "name": config["TENANT_NAME"],
            "plan": config["TENANT_PLAN"],
            # The colour the owner chose (the top bar's stripe), and the shade of it that
            # text and buttons use: WCAG AA contrast whatever was chosen.
            "brand": config["TENANT_ACCENT"],
            "accent": readable_accent(config["TENANT_ACCENT"]),
        },
        "is_owner": bool(getattr(current_user, "is_owner", False)),
        "nav_links": current_app.extensions[NAV_LINKS],
        "home_url": auth.home_url(),
    }


# -- what a product puts in its TenantApp ------------------------------------------------


def provision(session: Session, owner: NewOwner) -> int:
    """The new tenant's first account: the owner who signed up."""
    return add_user(session, NewUser(owner.email, owner.password_hash, Role.OWNER, owner.name))


def add_user(session: Session, user: NewUser) -> int:
    if user.role not in Role.ALL:
        raise ValueError(f"Role {user.role!r} is not one of {', '.join(Role.ALL)}.")
    row = User(email=user.email, name=user.name, password_hash=user.password_hash, role=user.role)
    session.add(row)
    session.flush()
    return row.id


def sign_in(services: TenantServices, owner_id: int) -> SignInHandoff:
    """Hand the new owner over: a signed, single-use token posted to ``/login/handoff``."""
    token = make_login_token(services.secret_key, services.tenant.id, owner_id)
    return SignInHandoff(url=services.url_for(auth.HANDOFF_PATH), fields={"token": token})


def member_emails(connection: Connection) -> list[str]:
    """Every member's address (the platform's finder directory is rebuilt from these)."""
    return list(connection.execute(select(User.email)).scalars())


def owner_emails(connection: Connection) -> list[str]:
    """The owners' addresses (the platform mails them about their workspace)."""
    return list(connection.execute(select(User.email).where(User.role == Role.OWNER)).scalars())


def describe(connection: Connection) -> Mapping[str, object]:
    """What the admin console shows: how many members the tenant has."""
    members_count = connection.execute(select(func.count()).select_from(User)).scalar_one()
    return {"Members": members_count}
