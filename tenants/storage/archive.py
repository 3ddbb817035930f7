"""A tenant's storage as a ZIP file, and back: backups, restores, clones and exports.

An archive holds ``manifest.json`` and, per table of the tenant's storage, one JSON Lines
file (``tables/NAME.jsonl``, one object per row, keys sorted, rows in primary-key order)
and, for a customer's export, one CSV file (``tables/NAME.csv``). The manifest says what
it is (``format``, ``kind``: "backup" or "export"), whose (the tenant), which tenant app
and schema revision, when, and per table the row count and the SHA-256 of its JSONL file.

Values are written the same way from either backend (datetimes in UTC without an
offset, bytes in base64, decimals as text), so a table's checksum only depends on its
rows: a restore re-reads what it loaded, inside its transaction, and compares checksums
with the manifest before anything commits. Tables are read from the storage itself
(reflected), not from the tenant app's models, so an archive is of the revision the
storage was at, and is restored at that revision and then migrated to the head.

Streaming both ways: a table is never held in memory, only a batch of its rows.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Connection, MetaData, Table

FORMAT = "tenants-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KIND_BACKUP = "backup"
KIND_EXPORT = "export"
#: Rows read or inserted per round trip.
BATCH_ROWS = 1000
#: Bytes of JSON Lines written (and hashed) at a time.
_WRITE_BLOCK = 1 << 16
#: Per statement (``Connection.execution_options`` would change the connection for good).
_STREAM = {"yield_per": BATCH_ROWS}
#: Alembic's bookkeeping table: the manifest's ``schema_revision`` says the same.
VERSION_TABLE = "alembic_version"


def _driver_errors() -> tuple[type[Exception], ...]:
    """psycopg's own errors for rows a table refuses (COPY runs on its cursor directly)."""
    try:
        from psycopg import errors
    except ImportError:  # SQLite only
        return ()
    return (errors.IntegrityError, errors.DataError)


_DRIVER_ERRORS = _driver_errors()


class ArchiveError(ValueError):
    """The file is not a usable archive; the message says why, for a person."""


@dataclass
class TableEntry:
    rows: int
    sha256: str
    columns: list[str]


@dataclass
class Manifest:
    kind: str
    tenant: dict[str, Any]
    tenant_app: str
    schema_revision: str | None
    created_at: str
    backend: str
    tables: dict[str, TableEntry] = field(default_factory=dict)
    #: Columns left out of an export (table → columns), so the reader knows they exist.
    omitted: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "tenant": self.tenant,
                "tenant_app": self.tenant_app,
                "schema_revision": self.schema_revision,
                "created_at": self.created_at,
                "backend": self.backend,
                "tables": {
                    name: {"rows": t.rows, "sha256": t.sha256, "columns": t.columns}
                    for name, t in self.tables.items()
                },
                "omitted": self.omitted,
            },
            indent=2,
            sort_keys=True,
        )

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.tables.values())


# -- values -------------------------------------------------------------------------------


_AS_IS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A column value as JSON, the same from SQLite and PostgreSQL."""
    if type(value) in _AS_IS:  # most values: one set lookup
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)  # UUIDs, enums...


def from_plain(column: sa.Column[Any], value: Any) -> Any:
    """Back from :func:`plain`, by the column's type."""
    return None if value is None else converter(column)(value)


def _as_is(value: Any) -> Any:
    return value


def converter(column: sa.Column[Any]) -> Callable[[Any], Any]:
    """How :func:`plain`'s JSON value of ``column`` becomes a Python value (chosen once)."""
    kind = column.type
    if isinstance(kind, sa.DateTime):
        if kind.timezone:
            return lambda v: datetime.fromisoformat(v).replace(tzinfo=UTC)
        return datetime.fromisoformat
    if isinstance(kind, sa.Date):
        return date.fromisoformat
    if isinstance(kind, sa.Time):
        return time.fromisoformat
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float) and kind.asdecimal:
        return Decimal
    return _as_is


def _line(row: Mapping[str, Any], columns: Sequence[str]) -> bytes:
    record = {name: plain(row[name]) for name in columns}
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# -- reading a storage --------------------------------------------------------------------


def storage_tables(connection: Connection, schema: str | None) -> list[Table]:
    """The storage's tables as they are (reflected), parents before children."""
    metadata = MetaData()
    with warnings.catch_warnings():
        # Expression indexes (lower(email)) are not reflected; only columns matter here.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        metadata.reflect(bind=connection, schema=schema)
    return [table for table in metadata.sorted_tables if table.name != VERSION_TABLE]


def _ordered(table: Table) -> sa.Select[Any]:
    order = list(table.primary_key.columns) or list(table.columns)
    return sa.select(table).order_by(*order)


def table_lines(connection: Connection, table: Table, columns: Sequence[str]) -> Iterator[bytes]:
    result = connection.execute(_ordered(table), execution_options=_STREAM)
    for row in result.mappings():
        yield _line(row, columns)


def checksums(connection: Connection, schema: str | None) -> dict[str, tuple[int, str]]:
    """Per table: (rows, SHA-256 of its JSONL), as an archive of this storage would say."""
    found = {}
    for table in storage_tables(connection, schema):
        digest = hashlib.sha256()
        rows = 0
        for line in table_lines(connection, table, [c.name for c in table.columns]):
            digest.update(line)
            rows += 1
        found[table.name] = (rows, digest.hexdigest())
    return found


def write_archive(
    connection: Connection,
    schema: str | None,
    target: Path,
    manifest: Manifest,
    *,
    include: Mapping[str, Iterable[str]] | None = None,
    with_csv: bool = False,
) -> Manifest:
    """Write the storage read through ``connection`` to ``target`` (a new ZIP file).

    The caller holds ``connection`` in one transaction (a consistent snapshot).
    ``include`` (table → columns) keeps only those tables and columns (the manifest
    lists what was left out); None keeps everything. ``with_csv`` adds a CSV file per
    table beside its JSON Lines.
    """
    wanted = None if include is None else {t: set(c) for t, c in include.items()}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for table in storage_tables(connection, schema):
            if wanted is not None and table.name not in wanted:
                manifest.omitted[table.name] = ["*"]
                continue
            columns = [
                c.name for c in table.columns if wanted is None or c.name in wanted[table.name]
            ]
            left_out = sorted(set(table.columns.keys()) - set(columns))
            if left_out:
                manifest.omitted[table.name] = left_out
            digest = hashlib.sha256()
            rows = 0
            with zf.open(f"tables/{table.name}.jsonl", "w") as member:
                block = bytearray()
                for line in table_lines(connection, table, columns):
                    block += line
                    rows += 1
                    if len(block) >= _WRITE_BLOCK:
                        member.write(block)
                        digest.update(block)
                        block.clear()
                member.write(block)
                digest.update(block)
            manifest.tables[table.name] = TableEntry(rows, digest.hexdigest(), columns)
            if with_csv:
                _write_csv(zf, connection, table, columns)
        zf.writestr(MANIFEST, manifest.to_json())
    return manifest


def _write_csv(
    zf: zipfile.ZipFile, connection: Connection, table: Table, columns: Sequence[str]
) -> None:
    with zf.open(f"tables/{table.name}.csv", "w") as member:
        text = io.TextIOWrapper(member, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(columns)
        result = connection.execute(_ordered(table), execution_options=_STREAM)
        for row in result.mappings():
            values = [plain(row[name]) for name in columns]
            writer.writerow(
                [json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in values]
            )
        text.flush()
        text.detach()


# -- reading an archive -------------------------------------------------------------------


@dataclass
class Archive:
    """An archive whose every table was read and matched its manifest's checksum."""

    path: Path
    manifest: Manifest


def open_archive(path: Path, *, kind: str = KIND_BACKUP) -> Archive:
    """Read ``path`` through and check it; raise ArchiveError saying what is wrong.

    Every member is read (zip CRCs) and hashed against the manifest before the caller
    changes anything, so a corrupted file is refused before a restore begins.
    """
    if not path.is_file():
        raise ArchiveError(f"{path} does not exist or is not a file.")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _manifest(zf, path, kind)
            for name, entry in manifest.tables.items():
                digest = hashlib.sha256()
                rows = 0
                with zf.open(f"tables/{name}.jsonl") as member:
                    for line in member:
                        digest.update(line)
                        rows += 1
                if (rows, digest.hexdigest()) != (entry.rows, entry.sha256):
                    raise ArchiveError(
                        f"{path} is corrupted: table {name} has {rows} rows or a checksum "
                        f"that does not match its manifest ({entry.rows} rows)."
                    )
    except zipfile.BadZipFile as error:
        raise ArchiveError(f"{path} is not a backup, or it is corrupted ({error}).") from None
    except KeyError as error:
        raise ArchiveError(f"{path} is incomplete: {error.args[0]}.") from None
    except (OSError, EOFError, ValueError, zlib.error, NotImplementedError) as error:
        if isinstance(error, ArchiveError):
            raise
        raise ArchiveError(f"{path} cannot be read: it is corrupted ({error}).") from None
    return Archive(path, manifest)


def _manifest(zf: zipfile.ZipFile, path: Path, kind: str) -> Manifest:
    try:
        raw = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise ArchiveError(f"{path} is not a backup: it has no {MANIFEST}.") from None
    except json.JSONDecodeError:
        raise ArchiveError(f"{path} is not a backup: its {MANIFEST} is not JSON.") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArchiveError(f"{path} is not a backup made by 'tenants backup'.")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"{path} is in archive format {raw.get('format_version')}; this platform reads "
            f"format {FORMAT_VERSION}. Restore it with the platform version that made it."
        )
    if raw.get("kind") != kind:
        raise ArchiveError(
            f"{path} is a {raw.get('kind')}, not a {kind}"
            + (
                " (a customer's export leaves secrets out, so it cannot be restored)."
                if raw.get("kind") == KIND_EXPORT
                else "."
            )
        )
    try:
        tables = {
            str(name): TableEntry(int(t["rows"]), str(t["sha256"]), [str(c) for c in t["columns"]])
            for name, t in raw["tables"].items()
        }
        return Manifest(
            kind=raw["kind"],
            tenant=dict(raw["tenant"]),
            tenant_app=str(raw["tenant_app"]),
            schema_revision=raw["schema_revision"],
            created_at=str(raw["created_at"]),
            backend=str(raw["backend"]),
            tables=tables,
            omitted=dict(raw.get("omitted") or {}),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ArchiveError(f"{path} has an unreadable manifest ({error!r}).") from None


def load_archive(archive: Archive, connection: Connection, schema: str | None) -> None:
    """Insert the archive's rows into the empty storage on ``connection``, then verify.

    The storage's tables must be at the archive's revision. After loading, the tables
    are read back and their counts and checksums compared with the manifest; any
    difference raises ArchiveError (the caller's transaction then rolls back).
    """
    tables = {table.name: table for table in storage_tables(connection, schema)}
    missing = sorted(set(archive.manifest.tables) - set(tables))
    if missing:
        raise ArchiveError(
            f"{archive.path} has tables the storage at revision "
            f"{archive.manifest.schema_revision} does not: {', '.join(missing)}."
        )
    with zipfile.ZipFile(archive.path) as zf:
        for name in [t for t in tables if t in archive.manifest.tables]:
            table = tables[name]
            try:
                with zf.open(f"tables/{name}.jsonl") as member:
                    _insert(connection, table, member)
            except (sa.exc.IntegrityError, sa.exc.DataError, ValueError, *_DRIVER_ERRORS) as error:
                if isinstance(error, ArchiveError):
                    raise
                reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
                raise ArchiveError(
                    f"The rows of table {name} in {archive.path} cannot be loaded ({reason}); "
                    "nothing was restored."
                ) from None
    if connection.dialect.name == "postgresql":
        _advance_sequences(connection, schema, tables.values())
    found = checksums(connection, schema)
    for name, entry in archive.manifest.tables.items():
        if found.get(name) != (entry.rows, entry.sha256):
            rows = found.get(name, (0, ""))[0]
            raise ArchiveError(
                f"Restoring {archive.path} did not reproduce table {name}: {rows} rows read "
                f"back, {entry.rows} in the backup, or their checksums differ. Nothing was "
                "restored."
            )


def _insert(connection: Connection, table: Table, member: IO[bytes]) -> None:
    """Insert the JSON Lines of ``member`` into ``table`` (PostgreSQL: with ``COPY``)."""
    columns = {column.name: column for column in table.columns}
    converters = {name: converter(column) for name, column in columns.items()}
    names = list(columns)
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # COPY sends what psycopg adapts: JSON documents need its wrapper
        from psycopg.types.json import Jsonb

        for name, column in columns.items():
            if isinstance(column.type, sa.JSON):
                converters[name] = Jsonb
    batch: list[Any] = []

    def flush() -> None:
        if not batch:
            return
        if postgres:
            _copy_rows(connection, table, names, batch)
        else:
            connection.execute(table.insert(), batch)
        batch.clear()

    for line in member:
        record = json.loads(line)
        unknown = record.keys() - columns.keys()
        if unknown:
            raise ArchiveError(
                f"Table {table.name} has no column {', '.join(sorted(unknown))} at this revision."
            )
        values = {
            name: None if value is None else converters[name](value)
            for name, value in record.items()
        }
        batch.append(tuple(values.get(name) for name in names) if postgres else values)
        if len(batch) >= BATCH_ROWS:
            flush()
    flush()


def _copy_rows(connection: Connection, table: Table, names: list[str], rows: list[Any]) -> None:
    """``COPY ... FROM STDIN`` the rows (tuples in ``names`` order): one round trip."""
    target = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
    columns = ", ".join(f'"{name}"' for name in names)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _advance_sequences(connection: Connection, schema: str | None, tables: Any) -> None:
    """Move each serial/identity sequence past the ids just inserted with explicit values."""
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            qualified = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
            connection.execute(
                sa.text(
                    f'SELECT setval(seq, (SELECT max("{column.name}") FROM {qualified})) '
                    "FROM pg_get_serial_sequence(:table, :column) AS seq "
                    "WHERE seq IS NOT NULL "
                    f"AND EXISTS (SELECT 1 FROM {qualified})"
                ),
                {"table": qualified, "column": column.name},
            )


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def exports_directory(instance_path: Path, tenant_id: int) -> Path:
    """Where a tenant's customer exports are kept until their links expire."""
    return Path(instance_path) / "exports" / f"tenant-{int(tenant_id)}"
