"""Alembic environment of a guestbook tenant's storage (a copy of the workspace's env.py).

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
