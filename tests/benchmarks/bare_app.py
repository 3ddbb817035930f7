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

from tenants.database import create_sqlite_engine
from tenants.registry.record import TenantRecord
from tenants.settings import Settings


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


class OwnEngine:
    """The storage of a single-tenant deployment: one engine of its own."""

    kind = "single"

    def __init__(self, engine: Engine, location: str) -> None:
        self.engine = engine
        self._location = location

    def location(self, tenant_id: int) -> str:
        return self._location

    def engine_for(self, tenant_id: int) -> Engine:
        return self.engine

    def release(self, engine: Engine) -> None:
        engine.dispose()


class SingleTenantDeployment:
    """Stands where the workspace expects its platform: settings and storage only."""

    def __init__(self, settings: Settings, storage: OwnEngine) -> None:
        self.settings = settings
        self.storage = storage


def create_bare_app(
    database_url: str, secret_key: str, tenant: TenantRecord, *, schema: str | None = None
) -> Flask:
    from tenants.workspace.factory import create_app

    settings = Settings(
        database_url=database_url,
        secret_key=secret_key,
        instance_path=Path(tempfile.gettempdir()),
    )
    storage = OwnEngine(bare_engine(database_url, schema), schema or database_url)
    return create_app(tenant, platform=SingleTenantDeployment(settings, storage))  # type: ignore[arg-type]


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
