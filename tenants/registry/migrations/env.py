"""Alembic environment of the platform database.

The platform passes its connection in ``config.attributes["connection"]``; run on its
own (``alembic``), the environment connects to ``DATABASE_URL``.
"""

from alembic import context

from tenants.registry.models import RegistryBase

target_metadata = RegistryBase.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from tenants.database import create_platform_engine
        from tenants.settings import Settings

        engine = create_platform_engine(Settings.from_environ().database_url)
        with engine.begin() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001 - alembic's own env.py convention
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
