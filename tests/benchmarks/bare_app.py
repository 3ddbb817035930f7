"""The baseline of the served figure: one tenant's workspace as a single ordinary Flask app.

The app is built by the workspace's own factory (``create_app``), so its pages, hooks
and queries are the platform's by construction, but it stands alone: no dispatcher or
request log in front, no registry, no app cache, and its own ordinary engine, configured
like the platform's (same pool, pre-ping and recycle; on PostgreSQL the tenant's schema
on the search path, as a single-tenant deployment keeps its tables, instead of the
platform's ``schema_translate_map`` view of a shared pool).

Served by gunicorn as ``tests.benchmarks.bare_app:create_app_from_environ()`` with
``BARE_DATABASE_URL`` (a tenant's SQLite file, or the platform database plus
``BARE_SCHEMA``), ``BARE_SECRET_KEY`` and ``BARE_TENANT`` (the tenant record, JSON).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flask import Flask
from sqlalchemy import Engine, create_engine

from tenants.contract import PlatformLinks, TenantServices
from tenants.database import create_sqlite_engine
from tenants.registry.record import TenantRecord
from tenants.settings import Settings

#: ``app.extensions`` key of the bare app's services (to close its engine).
BARE_SERVICES = "benchmark.services"


def bare_engine(database_url: str, schema: str | None = None) -> Engine:
    if database_url.startswith("sqlite"):
        return create_sqlite_engine(database_url)
    # tenants.database.create_platform_engine's options, except the search path.
    connect_args: dict[str, Any] = {"connect_timeout": 3, "application_name": "bare-benchmark"}
    if schema:
        connect_args["options"] = f"-c search_path={schema}"
    return create_engine(
        database_url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        pool_recycle=600,
        pool_timeout=10,
        connect_args=connect_args,
    )


def create_bare_app(
    database_url: str, secret_key: str, tenant: TenantRecord, *, schema: str | None = None
) -> Flask:
    """The workspace's app for ``tenant`` on an engine of its own, with no platform around it.

    The services are what a single-tenant deployment would hand the tenant app.
    """
    from tenants.keys import derive_tenant_secret
    from tenants.workspace import app as workspace

    engine = bare_engine(database_url, schema)
    services = TenantServices(
        tenant=tenant,
        secret_key=derive_tenant_secret(secret_key, tenant.id),
        links=PlatformLinks(scheme="http", tenant_base=f"{tenant.slug}.localhost", path_prefix=""),
        debug=False,
        instance_path=Path(tempfile.gettempdir()),
        password_hash_method=Settings(database_url=database_url).password_hash_method,
        ratelimit_storage_url="memory://",
        open_engine=lambda: engine,
        close_engine=lambda made: made.dispose(),
    )
    app = workspace.create_app(tenant, services)
    app.extensions[BARE_SERVICES] = services
    return app


def record_to_json(tenant: TenantRecord) -> str:
    fields = {field.name: getattr(tenant, field.name) for field in dataclasses.fields(tenant)}
    return json.dumps({**fields, "settings": dict(tenant.settings)})


def record_from_json(text: str) -> TenantRecord:
    fields = json.loads(text)
    return TenantRecord(**{**fields, "settings": MappingProxyType(fields["settings"])})


def create_app_from_environ() -> Flask:
    """gunicorn's factory: ``tests.benchmarks.bare_app:create_app_from_environ()``."""
    return create_bare_app(
        os.environ["BARE_DATABASE_URL"],
        os.environ["BARE_SECRET_KEY"],
        record_from_json(os.environ["BARE_TENANT"]),
        schema=os.environ.get("BARE_SCHEMA") or None,
    )


def bare_environ(
    database_url: str, secret_key: str, tenant: TenantRecord, schema: str | None
) -> dict[str, str]:
    return {
        "BARE_DATABASE_URL": database_url,
        "BARE_SECRET_KEY": secret_key,
        "BARE_TENANT": record_to_json(tenant),
        "BARE_SCHEMA": schema or "",
    }
