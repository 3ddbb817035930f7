"""Registry change feed instead of one clock row; key hashes, keyset and substring-search indexes

Adds ``registry_changes`` (one row per change to a tenant, its id from a sequence and,
on PostgreSQL, the writer's transaction id) so that writers no longer update one shared
row; ``registry_clock.generation`` now records how far that feed has been pruned. Ids
start above the old clock's generation, so every tenant's version keeps growing.

Also: ``tenants.version`` becomes 64-bit and loses its index (nothing reads by it now,
and without it a change's updates of the row can be HOT updates); the status index gains
the id (keyset pages of the admin list); on PostgreSQL a generated ``tenants.key_hash``
column with a partial index (the processes' membership filter loads it in order), and
``pg_trgm`` GIN indexes on slug and display name for the admin's substring search.

Revision ID: 0003_registry_change_feed
Revises: 0002_tenant_database
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_registry_change_feed"
down_revision: str | None = "0002_tenant_database"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG_HOLDING = "status IN ('provisioning', 'active', 'suspended')"
# tenants.registry.keys.key_hash("slug", lower(slug)) in SQL, written out here: a revision
# never changes with the code.
SLUG_KEY_HASH = "('x' || substr(md5('slug:' || lower(slug)), 1, 16))::bit(64)::bigint"


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    generation = (
        bind.execute(sa.text("SELECT generation FROM registry_clock WHERE id = 1")).scalar() or 0
    )
    op.create_table(
        "registry_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            # CACHE 1 (the default): ids are handed out in the order they are asked for,
            # which the feed's ordering argument relies on.
            sa.Identity(start=generation + 1, cache=1),
            primary_key=True,
        ),
        sa.Column("txid", sa.BigInteger, nullable=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_registry_changes_txid", "registry_changes", ["txid"])
    if not postgres and generation:
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('registry_changes', :seq)"),
            {"seq": generation},
        )

    op.drop_index("ix_tenants_status", table_name="tenants")
    op.create_index("ix_tenants_status_id", "tenants", ["status", "id"])
    op.drop_index("ix_tenants_version", table_name="tenants")
    if postgres:
        # SQLite integers are 64-bit already (and altering would rebuild the table).
        op.alter_column("tenants", "version", type_=sa.BigInteger)
        op.alter_column("registry_clock", "generation", type_=sa.BigInteger)
        op.execute(
            f"ALTER TABLE tenants ADD COLUMN key_hash bigint GENERATED ALWAYS AS ({SLUG_KEY_HASH}) "
            "STORED"
        )
        op.create_index(
            "ix_tenants_live_key_hash",
            "tenants",
            ["key_hash"],
            postgresql_where=sa.text(SLUG_HOLDING),
        )
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_tenants_slug_trgm",
            "tenants",
            ["slug"],
            postgresql_using="gin",
            postgresql_ops={"slug": "gin_trgm_ops"},
        )
        op.create_index(
            "ix_tenants_display_name_trgm",
            "tenants",
            ["display_name"],
            postgresql_using="gin",
            postgresql_ops={"display_name": "gin_trgm_ops"},
        )


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.drop_index("ix_tenants_display_name_trgm", table_name="tenants")
        op.drop_index("ix_tenants_slug_trgm", table_name="tenants")
        op.drop_index("ix_tenants_live_key_hash", table_name="tenants")
        op.drop_column("tenants", "key_hash")
    op.create_index("ix_tenants_version", "tenants", ["version"])
    op.drop_index("ix_tenants_status_id", table_name="tenants")
    op.create_index("ix_tenants_status", "tenants", ["status"])
    # The old clock must not fall behind the versions the feed handed out.
    latest = bind.execute(sa.text("SELECT max(id) FROM registry_changes")).scalar() or 0
    bind.execute(
        sa.text(
            "UPDATE registry_clock SET generation = :latest WHERE id = 1 AND generation < :latest"
        ),
        {"latest": latest},
    )
    op.drop_table("registry_changes")
    if postgres:
        op.alter_column("registry_clock", "generation", type_=sa.Integer)
        op.alter_column("tenants", "version", type_=sa.Integer)
