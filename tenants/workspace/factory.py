"""The reference workspace, composed from accounts and a list of product modules.

:func:`workspace_app` makes the :class:`~tenants.contract.TenantApp` of a workspace with
the given modules and tenant-storage history; ``tenants.workspace.app`` is the one the
platform serves by default (``TENANT_APP=tenants.workspace:app``). It uses nothing a
product of your own could not: ``tenants.contract``, ``tenants.appkit`` and
``tenants.accounts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask import Flask

from tenants import accounts
from tenants.appkit.flask_app import TenantFlask
from tenants.appkit.models import metadata_of
from tenants.appkit.modules import ProductModule
from tenants.contract import TenantApp, TenantRecord, TenantServices
from tenants.web.shared import SharedParts
from tenants.workspace import home

#: The tenant-storage history of the reference workspace (accounts + notes).
HISTORY = Path(__file__).resolve().parent / "migrations"


def workspace_app(
    modules: Sequence[ProductModule],
    *,
    migrations: Path = HISTORY,
    name: str = "workspace",
) -> TenantApp:
    """A workspace serving ``modules`` (in nav order), migrated by ``migrations``."""
    modules = tuple(modules)
    parts = SharedParts(name)

    def create_app(tenant: TenantRecord, services: TenantServices) -> Flask:
        """Build the Flask app that serves ``tenant``'s workspace.

        Configuration: defaults, then ``WORKSPACE_*`` environment variables, then the
        services' overrides; the tenant's identity is not overridable.
        """
        app = TenantFlask(__name__, services, parts=parts, env_prefix="WORKSPACE")
        accounts.init_app(
            app,
            home_endpoint="home.index",
            nav=[link for module in modules for link in module.nav],
        )
        app.register_blueprint(home.bp)
        for module in modules:
            app.register_blueprint(module.blueprint)
        app.extensions[home.HOME_FRAGMENTS] = tuple(
            module.home_template for module in modules if module.home_template
        )
        return app.ready()

    return TenantApp(
        name=name,
        create_app=create_app,
        metadata=metadata_of(
            *accounts.MODELS, *(model for module in modules for model in module.models)
        ),
        migrations=migrations,
        provision=accounts.provision,
        sign_in=accounts.sign_in,
        describe=accounts.describe,
        add_user=accounts.add_user,
        after_signup=accounts.after_signup,
        member_emails=accounts.member_emails,
        owner_emails=accounts.owner_emails,
        jobs=(*accounts.JOBS, *(job for module in modules for job in module.jobs)),
        # The accounts' allow-list, and every column of the product modules' tables.
        export={
            **accounts.EXPORT,
            **{
                model.__table__.name: tuple(column.name for column in model.__table__.columns)
                for module in modules
                for model in module.models
            },
        },
    )
