"""Alembic environment of a tenant's storage (copy it unchanged into your own history).

Only the platform runs it (``tenants.storage.migrations``, the ``tenants migrate`` and
``tenants revision`` commands): it passes the tenant's connection, already inside a
transaction, in ``config.attributes["connection"]``, the tenant app's metadata in
``config.attributes["target_metadata"]`` and, on PostgreSQL, the tenant's schema in
``config.attributes["schema"]``.
"""

from alembic import context

attributes = context.config.attributes
context.configure(
    connection=attributes["connection"],
    target_metadata=attributes.get("target_metadata"),
    version_table_schema=attributes.get("schema"),
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
