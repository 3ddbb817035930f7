"""A guestbook: a minimal product of your own, served to every tenant by the platform.

It is not the reference workspace: its own factory, one model, one page that shows the
tenant's name and how many entries it has. It reuses ``tenants.accounts`` for signing
in (the owner arrives from signup already logged in). Serve it with::

    TENANT_APP=examples.guestbook:app flask --app tenants.wsgi run

Everything it knows about the platform is in ``tenants.contract``; it builds its Flask
app with ``tenants.appkit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from sqlalchemy import Connection, func, select

from examples.guestbook.models import Entry
from examples.guestbook.views import bp
from tenants import accounts
from tenants.appkit import NavLink, SharedParts, TenantFlask, metadata_of
from tenants.contract import TenantApp, TenantRecord, TenantServices

#: Every guestbook app of the process shares one URL map and one Jinja environment.
PARTS = SharedParts("guestbook")


def create_app(tenant: TenantRecord, services: TenantServices) -> Flask:
    app = TenantFlask(__name__, services, parts=PARTS)
    accounts.init_app(
        app, home_endpoint="guestbook.index", nav=[NavLink("Guestbook", "guestbook.index")]
    )
    app.register_blueprint(bp)
    return app.ready()


def describe(connection: Connection) -> Mapping[str, object]:
    """The admin console shows the members (from accounts) and the entries."""
    entries = connection.execute(select(func.count()).select_from(Entry)).scalar_one()
    return {**accounts.describe(connection), "Entries": entries}


app = TenantApp(
    name="guestbook",
    create_app=create_app,
    metadata=metadata_of(*accounts.MODELS, Entry),
    migrations=Path(__file__).resolve().parent / "migrations",
    provision=accounts.provision,
    sign_in=accounts.sign_in,
    describe=describe,
    add_user=accounts.add_user,
    after_signup=accounts.after_signup,
    member_emails=accounts.member_emails,
    owner_emails=accounts.owner_emails,
    # The accounts' nightly upkeep (and its Background jobs page) come with accounts.
    jobs=accounts.JOBS,
    # The owner's "Download all data": the accounts' people (no secrets) and the entries.
    export={**accounts.EXPORT, "entries": ("id", "text", "created_at")},
)
