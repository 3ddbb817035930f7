"""Engines: one shared, bounded pool per process for the platform database.

On PostgreSQL the registry and every tenant schema are served through this one
pool (tenants get a lightweight ``Engine.execution_options`` copy that shares it).
On SQLite each database file gets its own small engine, because SQLite cannot
attach more than ten files to one connection.

No engine puts data in its error messages (see ``redact_database_errors``): a failed
INSERT of a user must not write that user's email and password hash into the error log.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import OperationalError

#: May SQLite transactions begun in this context write? Then they take the write lock up
#: front. Read-only requests clear it, so their readers run side by side under WAL.
sqlite_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=True)


def create_platform_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_recycle: int = 600,
    transaction_pooler: bool = False,
) -> Engine:
    """The process's engine for the platform database.

    ``transaction_pooler``: the URL goes through a transaction-mode pooler (PgBouncer).
    psycopg 3 then never prepares statements on the server: it would after five runs of
    one query on a connection, and behind such a pooler the next transaction may run on
    another server connection, where ``_pg3_0`` does not exist (PgBouncer before 1.21,
    or without ``max_prepared_statements``, cannot follow them).
    """
    if url.startswith("sqlite"):
        return create_sqlite_engine(url)
    connect_args: dict[str, Any] = {"connect_timeout": 3, "application_name": "tenants-platform"}
    if transaction_pooler:
        connect_args["prepare_threshold"] = None
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A connection killed by the server (restart, failover, pg_terminate_backend) is
        # found and replaced before a request uses it.
        pool_pre_ping=True,
        # PostgreSQL keeps a catalog cache per connection for every schema it touched:
        # recycling bounds the server's memory with thousands of tenant schemas.
        pool_recycle=pool_recycle,
        pool_timeout=10,
        connect_args=connect_args,
        hide_parameters=True,
    )
    redact_database_errors(engine)
    event.listen(engine, "handle_error", _lost_connection_is_operational)
    return engine


def _lost_connection_is_operational(context: ExceptionContext) -> OperationalError | None:
    """A lost connection is an OperationalError (a 503 "try again"), whatever class reported it.

    Behind PgBouncer, a server connection ended at the wrong moment (a restart,
    ``pg_terminate_backend``) can reach psycopg as an ``InternalError`` ("received 2
    results from command 'BEGIN'") while SQLAlchemy rightly sees a disconnect and
    invalidates the connection. The DB-API's class for a lost connection is
    OperationalError; the apps answer it with a 503 page and the next request gets a
    fresh connection.
    """
    error = context.sqlalchemy_exception
    if not context.is_disconnect or error is None or isinstance(error, OperationalError):
        return None
    replacement = OperationalError(
        context.statement,
        None,
        context.original_exception,  # type: ignore[arg-type]
        hide_parameters=True,
        connection_invalidated=True,
    )
    replacement.__cause__ = context.original_exception
    return replacement


def create_sqlite_engine(url: str) -> Engine:
    """An engine for one SQLite file: WAL, a busy timeout and foreign keys on every connection."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=2, max_overflow=8, pool_timeout=10, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    redact_database_errors(engine)
    return engine


def redact_database_errors(engine: Engine) -> None:
    """Keep row data out of this engine's exceptions, so out of every log that prints them.

    ``hide_parameters`` (set on every engine here) drops the statement's parameters from
    SQLAlchemy's message. PostgreSQL adds its own copy of the data to an error's text:
    a unique violation's ``DETAIL: Key (email)=(…)``, a NOT NULL or CHECK violation's
    ``DETAIL: Failing row contains (…)`` with every column, password hash included, and
    ``CONTEXT`` lines. This keeps the primary message and the hint: for a constraint
    they name the constraint, not a value (only a type error's primary message quotes
    the input it could not convert). The full diagnostics stay on ``error.orig.diag``
    for code that needs them. Exceptions keep their types, so callers catch them as
    before.
    """
    event.listen(engine, "handle_error", _redact_error)


def _redact_error(context: ExceptionContext) -> None:
    original = context.original_exception
    diag = getattr(original, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        return  # not a server error with diagnostics (SQLite, a lost connection): no row data
    text = primary if not diag.message_hint else f"{primary}\nHINT:  {diag.message_hint}"
    original.args = (text,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args:
        cls = type(original)
        wrapped.args = (f"({cls.__module__}.{cls.__name__}) {text}", *wrapped.args[1:])


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer writes; the busy timeout makes a second
    # writer (another gunicorn worker) wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads and then writes
    # cannot fail half-way with SQLITE_BUSY; it waits (busy_timeout) for its turn instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE" if sqlite_write_intent.get() else "BEGIN")
