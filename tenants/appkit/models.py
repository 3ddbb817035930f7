"""Models in a tenant's storage: one declarative base, and each product's own metadata.

Tenant tables are unqualified (schema None): the platform's storage decides where they
live (a SQLite file, or the tenant's PostgreSQL schema through ``schema_translate_map``).

Accounts and product modules subclass :class:`TenantBase`, so a product's models can
reference ``users.id``. A process may hold several products (the workspace and an
example app, in tests); each one's :class:`~tenants.contract.TenantApp` declares its
own tables with :func:`metadata_of`, so one product's tables never appear in
another's storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from tenants.appkit.sqla import ProvidedEngineSQLAlchemy


def utcnow() -> datetime:
    return datetime.now(UTC)


class TenantBase(DeclarativeBase):
    """Declarative base of tenant storage models (never of the platform database)."""


#: Flask-SQLAlchemy for tenant apps: ``db.session`` is the current tenant's.
db = ProvidedEngineSQLAlchemy(model_class=TenantBase)


def metadata_of(*models: Any) -> MetaData:
    """A new MetaData holding the tables of ``models`` (mapped classes or tables), in order.

    Give referenced tables first (``users`` before ``notes``).
    """
    metadata = MetaData()
    for table in _tables(models):
        table.to_metadata(metadata)
    return metadata


def _tables(models: Iterable[Any]) -> Iterable[Table]:
    for model in models:
        yield model if isinstance(model, Table) else model.__table__
