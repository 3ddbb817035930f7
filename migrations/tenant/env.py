"""Alembic environment of one tenant's storage.

Only the platform runs it (``tenants.storage.migrations``): it passes the tenant's
connection, already inside a transaction, in ``config.attributes["connection"]`` and,
on PostgreSQL, the tenant's schema in ``config.attributes["schema"]``.
"""

from alembic import context

from tenants.workspace.models import WorkspaceBase

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=WorkspaceBase.metadata,
    version_table_schema=context.config.attributes.get("schema"),
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
