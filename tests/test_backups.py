"""Backup, restore and clone of one tenant (issue 15), on both backends and across them."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from tenants import backups, lifecycle
from tenants.registry.models import Tenant
from tenants.storage import archive, migrations
from tenants.testing import reset_postgres

NOTES = [
    ("Plan", "Ship the “restore” — 🚀", datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)),
    ("Empty", "", datetime(2026, 3, 2, tzinfo=UTC)),
    ("Orphan", "no author\nsecond line, with, commas", datetime(2026, 3, 3, tzinfo=UTC)),
]


@pytest.fixture
def cli(platform):
    runner = platform.console.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))

    return invoke


def fill(platform, tenant_id: int) -> None:
    """Give the tenant a member and notes: unicode, newlines, NULLs, microseconds."""
    tables = platform.tenant_app.metadata.tables
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.begin() as connection:
            connection.execute(
                tables["users"].insert(),
                {
                    "email": "member@acme.test",
                    "name": "Zoë Member",
                    "password_hash": "scrypt:secret-hash",
                    "role": "member",
                    "created_at": datetime(2026, 2, 1, tzinfo=UTC),
                },
            )
            for number, (title, body, when) in enumerate(NOTES):
                connection.execute(
                    tables["notes"].insert(),
                    {
                        "title": title,
                        "body": body,
                        "author_id": None if title == "Orphan" else 1 + number % 2,
                        "created_at": when,
                        "updated_at": when,
                    },
                )
    finally:
        platform.storage.release(engine)


def rows(platform, tenant_id: int) -> dict[str, list[dict]]:
    """Every row of every table, as the archive writes values (comparable across backends)."""
    engine = platform.storage.engine_for(tenant_id)
    schema = platform.storage.location(tenant_id) if platform.storage.kind == "postgresql" else None
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    {k: archive.plain(v) for k, v in row.items()}
                    for row in connection.execute(archive._ordered(table)).mappings()
                ]
                for table in archive.storage_tables(connection, schema)
            }
    finally:
        platform.storage.release(engine)


def tenant_count(platform) -> int:
    with Session(platform.engine) as session:
        return session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one()


def add_note(platform, tenant_id: int) -> int:
    """A new row gets a fresh id (PostgreSQL's sequences were moved past the restored ids)."""
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.begin() as connection:
            notes = platform.tenant_app.metadata.tables["notes"]
            return connection.execute(
                notes.insert().values(
                    title="new", body="", created_at=datetime.now(UTC), updated_at=datetime.now(UTC)
                )
            ).inserted_primary_key[0]
    finally:
        platform.storage.release(engine)


def test_backup_then_restore_gives_identical_rows(platform, cli, client, create_tenant, tmp_path):
    acme = create_tenant("acme")
    fill(platform, acme.id)
    target = tmp_path / "acme.zip"

    made = cli("tenants", "backup", "acme", "-o", str(target))

    assert made.exit_code == 0, made.output
    assert "Backed up acme: 5 rows" in made.output
    assert not list(tmp_path.glob(".acme.zip.partial-*"))
    with zipfile.ZipFile(target) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["kind"] == "backup" and manifest["tenant"]["slug"] == "acme"
        assert manifest["tables"]["notes"]["rows"] == 3
        # The operator's backup is complete: password hashes included.
        assert b"scrypt:secret-hash" in zf.read("tables/users.jsonl")

    restored = cli("tenants", "restore", str(target), "--slug", "acme-copy")

    assert restored.exit_code == 0, restored.output
    copy = platform.registry.get("acme-copy")
    head = migrations.head_revision(platform.tenant_app.migrations)
    assert copy.status == "active" and copy.storage_revision == head
    assert copy.display_name == "Acme"
    assert rows(platform, copy.id) == rows(platform, acme.id)
    assert add_note(platform, copy.id) == 4
    assert client.get("/login", headers={"Host": "acme-copy.example.com"}).status_code == 200


def test_clone_copies_every_row(platform, cli, create_tenant):
    acme = create_tenant("acme")
    fill(platform, acme.id)

    result = cli("tenants", "clone", "acme", "acme-two")

    assert result.exit_code == 0, result.output
    clone = platform.registry.get("acme-two")
    assert rows(platform, clone.id) == rows(platform, acme.id)
    # Two tenants now: writing to one leaves the other alone.
    add_note(platform, clone.id)
    assert len(rows(platform, clone.id)["notes"]) == 4
    assert len(rows(platform, acme.id)["notes"]) == 3


def test_an_older_backup_is_migrated_to_the_head(platform, create_tenant, tmp_path):
    acme = create_tenant("acme")
    fill(platform, acme.id)
    engine = platform.storage.engine_for(acme.id)
    schema = platform.storage.location(acme.id) if platform.storage.kind == "postgresql" else None
    try:
        with engine.begin() as connection:
            if schema:
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
            config = migrations.alembic_config(
                platform.tenant_app.migrations, connection, schema=schema
            )
            command.downgrade(config, "0002_workspace_notes")
    finally:
        platform.storage.release(engine)
    before = rows(platform, acme.id)
    assert "user_sessions" not in before

    made = backups.backup_tenant(platform, "acme", tmp_path / "old.zip")
    assert made.manifest.schema_revision == "0002_workspace_notes"
    copy = backups.restore_tenant(platform, tmp_path / "old.zip", "acme-new")

    assert copy.storage_revision == migrations.head_revision(platform.tenant_app.migrations)
    # The copy equals the source brought to the head the same way (later revisions add
    # tables and columns, and fill them from what the rows hold).
    engine = platform.storage.engine_for(acme.id)
    try:
        with engine.begin() as connection:
            if schema:
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
            config = migrations.alembic_config(
                platform.tenant_app.migrations, connection, schema=schema
            )
            command.upgrade(config, "head")
    finally:
        platform.storage.release(engine)
    assert rows(platform, copy.id) == rows(platform, acme.id)


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.postgres)])
def test_sqlite_to_postgres_and_back(
    platform, make_platform, create_tenant, postgres_url, tmp_path
) -> None:
    """The ``backend`` is SQLite; a second platform runs on PostgreSQL beside it."""
    acme = create_tenant("acme")
    fill(platform, acme.id)
    expected = rows(platform, acme.id)
    reset_postgres(postgres_url)
    on_postgres = make_platform(database_url=postgres_url)
    assert on_postgres.storage.kind == "postgresql"

    backups.backup_tenant(platform, "acme", tmp_path / "from-sqlite.zip")
    moved = backups.restore_tenant(on_postgres, tmp_path / "from-sqlite.zip", "acme")
    assert rows(on_postgres, moved.id) == expected
    assert add_note(on_postgres, moved.id) == 4

    backups.backup_tenant(on_postgres, "acme", tmp_path / "from-postgres.zip")
    back = backups.restore_tenant(platform, tmp_path / "from-postgres.zip", "acme-back")
    again = rows(platform, back.id)
    assert again["notes"][:3] == expected["notes"] and again["users"] == expected["users"]
    assert again["notes"][3]["title"] == "new"


# -- bad input ----------------------------------------------------------------------------


def rewrite(source: Path, target: Path, **changes: bytes | None) -> Path:
    """A copy of archive ``source`` with members replaced (bytes) or removed (None)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            key = item.filename.replace("/", "__").replace(".", "_")
            if key in changes:
                if changes[key] is not None:
                    zout.writestr(item.filename, changes[key])
                continue
            zout.writestr(item, zin.read(item.filename))
    return target


def manifest_with(source: Path, **fields) -> bytes:
    with zipfile.ZipFile(source) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    for key, value in fields.items():
        manifest[key] = value
    return json.dumps(manifest).encode()


def bad_archives(good: Path, tmp_path: Path) -> list[tuple[str, Path, str]]:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    corrupted = tmp_path / "corrupted.zip"
    data = bytearray(good.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 40] = b"\x00" * 40
    corrupted.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with zipfile.ZipFile(good) as zf:
        notes = zf.read("tables/notes.jsonl")
    return [
        ("missing", tmp_path / "nope.zip", "does not exist"),
        ("not a zip", text, "is not a backup"),
        ("corrupted", corrupted, "corrupted"),
        ("truncated", truncated, "is not a backup, or it is corrupted"),
        ("no manifest", rewrite(good, tmp_path / "a.zip", manifest_json=None), "no manifest"),
        (
            "other format",
            rewrite(good, tmp_path / "b.zip", manifest_json=b'{"format": "x"}'),
            "not a backup made by",
        ),
        (
            "newer revision",
            rewrite(
                good,
                tmp_path / "c.zip",
                manifest_json=manifest_with(good, schema_revision="0099_from_the_future"),
            ),
            "does not know",
        ),
        (
            "an export",
            rewrite(good, tmp_path / "d.zip", manifest_json=manifest_with(good, kind="export")),
            "cannot be restored",
        ),
        (
            "tampered rows",
            rewrite(good, tmp_path / "e.zip", tables__notes_jsonl=notes.replace(b"Plan", b"Plot")),
            "checksum",
        ),
        (
            "other tenant app",
            rewrite(
                good, tmp_path / "f.zip", manifest_json=manifest_with(good, tenant_app="guestbook")
            ),
            "tenant app",
        ),
    ]


def test_bad_backups_are_refused_with_one_line_and_nothing_changes(
    platform, cli, create_tenant, tmp_path
) -> None:
    acme = create_tenant("acme")
    fill(platform, acme.id)
    good = tmp_path / "good.zip"
    assert cli("tenants", "backup", "acme", "-o", str(good)).exit_code == 0
    storage_before = platform.storage.existing_ids()
    count = tenant_count(platform)

    for name, path, message in bad_archives(good, tmp_path):
        result = cli("tenants", "restore", str(path), "--slug", "fresh")
        assert result.exit_code == 1, (name, result.output)
        assert message in result.output, (name, result.output)
        assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
        assert tenant_count(platform) == count, name
        assert platform.storage.existing_ids() == storage_before, name

    for args, message in [
        (["tenants", "backup", "ghost", "-o", str(tmp_path / "g.zip")], "No tenant “ghost”"),
        (["tenants", "backup", "acme", "-o", str(good)], "exists already"),
        (["tenants", "backup", "acme", "-o", str(tmp_path / "no" / "x.zip")], "not a directory"),
        (["tenants", "restore", str(good), "--slug", "acme"], "is taken"),
        (["tenants", "restore", str(good), "--slug", "Not_Valid"], "letters a-z"),
        (["tenants", "clone", "ghost", "ghost-two"], "No tenant “ghost”"),
        (["tenants", "clone", "acme", "acme"], "is taken"),
    ]:
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert tenant_count(platform) == count, args
    assert not (tmp_path / "g.zip").exists()


def test_a_restore_that_fails_while_loading_leaves_nothing(
    platform, create_tenant, tmp_path
) -> None:
    acme = create_tenant("acme")
    fill(platform, acme.id)
    good = tmp_path / "good.zip"
    backups.backup_tenant(platform, "acme", good)
    # Valid checksums, but two users with one email: the unique index refuses the load.
    with zipfile.ZipFile(good) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        users = zf.read("tables/users.jsonl").replace(b"member@acme.test", b"owner@acme.test")
    import hashlib

    manifest["tables"]["users"]["sha256"] = hashlib.sha256(users).hexdigest()
    bad = rewrite(
        good,
        tmp_path / "dup.zip",
        manifest_json=json.dumps(manifest).encode(),
        **{"tables__users_jsonl": users},
    )
    storage_before = platform.storage.existing_ids()

    with pytest.raises(backups.ArchiveError, match="cannot be loaded"):
        backups.restore_tenant(platform, bad, "fresh")

    assert platform.storage.existing_ids() == storage_before
    assert not list(Path(platform.settings.instance_path).glob("*.building-*"))
    with Session(platform.engine) as session:
        row = session.execute(sa.select(Tenant).where(Tenant.slug == "fresh")).scalar_one()
    assert row.status == "failed"  # history only: the slug is free again
    assert backups.restore_tenant(platform, good, "fresh").status == "active"


def test_a_deleted_tenant_in_its_grace_can_be_backed_up(platform, create_tenant, tmp_path):
    acme = create_tenant("acme")
    fill(platform, acme.id)
    lifecycle.delete_tenant(platform, "acme")
    backups.backup_tenant(platform, "acme", tmp_path / "last.zip")
    copy = backups.restore_tenant(platform, tmp_path / "last.zip", "acme-kept")
    assert rows(platform, copy.id) == rows(platform, acme.id)
