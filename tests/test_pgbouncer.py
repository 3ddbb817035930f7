"""PgBouncer in transaction mode in front of PostgreSQL: the platform's promises still hold.

A session fixture starts Debian's ``pgbouncer`` on a loopback port, in transaction mode
with a server pool smaller than the number of clients, in front of the test database.
Every isolation, serving (real gunicorn) and registry-change test that uses PostgreSQL
then runs again here with the platform's URL pointing at PgBouncer and
``DATABASE_POOLER=transaction``: tenants' schemas are compiled into each statement, so
a server connection that serves another client next carries nothing of the previous
tenant; and psycopg prepares no statement on the server (PgBouncer 1.18, Debian 12's,
cannot follow them across server connections: the first test below shows what breaks).

Without ``pgbouncer`` these tests are skipped, except in CI (``CI`` or
``REQUIRE_POSTGRES`` set), where they fail: ``scripts/test.sh`` installs it.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from tenants.database import create_platform_engine
from tenants.settings import Settings
from tests import test_isolation, test_registry_propagation, test_serving
from tests.conftest import postgres_required
from tests.test_serving import serve  # noqa: F401 - a fixture the adopted tests use

pytestmark = [pytest.mark.postgres, pytest.mark.server]

#: The server pool per database and user: fewer than the clients, so they really share.
POOL_SIZE = 4


@dataclass(frozen=True)
class PgBouncer:
    port: int
    user: str
    log: Path

    def url_for(self, direct_url: str) -> str:
        """``direct_url`` (a database on the PostgreSQL server) through PgBouncer."""
        url = sa.engine.make_url(direct_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def admin(self) -> psycopg.Connection:
        """PgBouncer's own console (SHOW POOLS, SHOW STATS, ...)."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="pgbouncer", autocommit=True
        )


def pgbouncer_binary() -> str | None:
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pgbouncer_ini(port: int, server: sa.engine.URL, auth_file: Path) -> str:
    """The configuration the README recommends, on a loopback port (see its PgBouncer section)."""
    return f"""\
[databases]
* = host={server.host or "127.0.0.1"} port={server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
admin_users = {server.username}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 500
; Used in session mode only: in transaction mode a server connection is never reset,
; which is safe because the platform leaves nothing on it (no SET, no prepared statement).
server_reset_query =
; After a failed server login (the database restarting), try again soon.
server_login_retry = 0.5
; A client waits at most this long for a server connection, then gets an error (a 503
; page): when the database refuses connections, requests fail in seconds, not minutes.
query_wait_timeout = 5
"""


@pytest.fixture(scope="session")
def pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    binary = pgbouncer_binary()
    if binary is None:
        message = "pgbouncer is not installed: apt-get install -y pgbouncer"
        if postgres_required():
            pytest.fail(message + " (CI requires it; scripts/test.sh installs it)")
        pytest.skip(message)
    server = sa.engine.make_url(postgres_url)
    # Readable by the unprivileged user PgBouncer switches to when started as root.
    directory = Path(tempfile.mkdtemp(prefix="tenants-pgbouncer-"))
    directory.chmod(0o755)
    auth_file = directory / "userlist.txt"
    auth_file.write_text(f'"{server.username}" "{server.password or ""}"\n')
    port = free_port()
    ini = directory / "pgbouncer.ini"
    ini.write_text(pgbouncer_ini(port, server, auth_file))
    for path in (auth_file, ini):
        path.chmod(0o644)
    argv = [binary, str(ini)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        argv[1:1] = ["-u", "nobody"]
    log = directory / "pgbouncer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    bouncer = PgBouncer(port, server.username or "postgres", log)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"pgbouncer exited at start:\n{log.read_text()[-2000:]}")
            try:
                bouncer.admin().close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"pgbouncer did not answer:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield bouncer
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


# -- the platform through PgBouncer: these override the fixtures of tests/conftest.py -------


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(database_url: str, pgbouncer: PgBouncer) -> str:
    """The test database (emptied directly on the server), as the platform reaches it."""
    return pgbouncer.url_for(database_url)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(database_pooler="transaction")


@pytest.fixture(autouse=True)
def observers_connect_directly(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    """The tests' own observers (pg_stat_activity, pg_terminate_backend) skip the pooler."""
    server = sa.engine.make_url(postgres_url)

    def direct_url(settings: Settings) -> str:
        url = sa.engine.make_url(settings.database_url).set(host=server.host, port=server.port)
        return url.render_as_string(hide_password=False)

    monkeypatch.setattr(test_serving, "direct_url", direct_url)


# -- why DATABASE_POOLER=transaction ------------------------------------------------------------

_REPEATED = "SELECT count(*) FROM pg_class WHERE relname = %s"


def in_threads(client: Callable[[], None], count: int = 6) -> None:
    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_repeatedly(dsn: str, **options: object) -> list[str]:
    """Clients run one query often, each run its own transaction; the errors they meet."""
    errors: list[str] = []

    def client() -> None:
        with psycopg.connect(dsn, **options) as connection:  # type: ignore[arg-type]
            for _ in range(20):
                try:
                    with connection.transaction():
                        connection.execute(_REPEATED, ("pg_class",)).fetchone()
                except psycopg.Error as error:
                    errors.append(type(error).__name__ + ": " + str(error).splitlines()[0])

    in_threads(client)
    return errors


def test_server_side_prepared_statements_break_behind_this_pgbouncer(
    pgbouncer: PgBouncer, postgres_url: str
) -> None:
    """psycopg's default (prepare after 5 runs) fails here; the pooler setting does not."""
    url = sa.engine.make_url(pgbouncer.url_for(postgres_url))
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    prepared = run_repeatedly(dsn)
    assert any("_pg3_" in error for error in prepared), prepared
    assert run_repeatedly(dsn, prepare_threshold=None) == []

    # The platform's engine with DATABASE_POOLER=transaction asks for exactly that.
    engine = create_platform_engine(pgbouncer.url_for(postgres_url), transaction_pooler=True)
    errors: list[str] = []

    def client() -> None:
        with engine.connect() as connection:
            for _ in range(20):
                try:
                    with connection.begin():
                        connection.exec_driver_sql(_REPEATED, ("pg_class",)).scalar_one()
                except sa.exc.DBAPIError as error:
                    errors.append(str(error.orig))

    try:
        in_threads(client)
    finally:
        engine.dispose()
    assert errors == []


def test_many_clients_share_a_few_server_connections(
    pgbouncer: PgBouncer, platform, create_tenant
) -> None:
    """The point of the pooler, and proof that these tests really go through it."""
    slugs = [f"pooled{n}" for n in range(8)]
    for slug in slugs:
        create_tenant(slug)
    errors: list[str] = []

    def visit(slug: str) -> None:
        client = Client(platform)
        for _ in range(5):
            response = client.get("/login", headers={"Host": f"{slug}.example.com"})
            if response.status_code != 200 or response.headers.get("X-Tenant") != slug:
                errors.append(f"{slug}: {response.status_code} {response.headers.get('X-Tenant')}")

    pending = iter(slugs)
    in_threads(lambda: visit(next(pending)), count=len(slugs))
    assert errors == []
    database = sa.engine.make_url(platform.settings.database_url).database
    with pgbouncer.admin() as admin:
        cursor = admin.execute("SHOW POOLS")
        columns = [column.name for column in cursor.description]
        pools = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    [pool] = [pool for pool in pools if pool["database"] == database]
    servers = sum(pool[name] for name in ("sv_active", "sv_idle", "sv_used", "sv_tested"))
    assert 1 <= servers <= POOL_SIZE
    assert pool["pool_mode"] == "transaction"


def test_a_server_connection_lost_mid_use_is_always_an_operational_error(
    pgbouncer: PgBouncer, postgres_url: str
) -> None:
    """So the apps answer it with a 503 "try again", never a 500.

    Ending PgBouncer's server connections while clients use them reaches psycopg in
    several forms; some are not OperationalErrors ("received 2 results from command
    'BEGIN'" is an InternalError). The engine reports every lost connection as one.
    """
    engine = create_platform_engine(pgbouncer.url_for(postgres_url), transaction_pooler=True)
    kinds: list[tuple[str, bool]] = []
    ok = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal ok
        while not stop.is_set():
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT pg_sleep(0.001)")
                    connection.commit()
                ok += 1
            except sa.exc.DBAPIError as error:
                kinds.append((type(error).__name__, error.connection_invalidated))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    killer = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with killer.connect() as connection:
            for _ in range(40):
                time.sleep(0.05)
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'tenants-platform' AND datname = current_database()"
                )
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        killer.dispose()
        engine.dispose()
    assert ok > 0 and kinds, "the kills must have hit connections in use"
    assert set(kinds) == {("OperationalError", True)}, sorted(set(kinds))


# -- the isolation, serving and registry-change tests, again through PgBouncer ----------------

_NEEDS_DATABASE = {"platform", "client", "settings", "create_tenant", "make_platform"}


def _only_sqlite(test: Callable[..., object]) -> bool:
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0] == "backend":
            values = [getattr(value, "values", (value,))[0] for value in mark.args[1]]
            return "postgres" not in values
    return False


def _adopt(*modules: object) -> None:
    for module in modules:
        for name, test in vars(module).items():
            if not name.startswith("test_") or not inspect.isfunction(test):
                continue
            if _only_sqlite(test) or not _NEEDS_DATABASE & set(inspect.signature(test).parameters):
                continue
            if name in globals():
                raise RuntimeError(f"{name} is defined twice; rename one")
            globals()[name] = test


_adopt(test_isolation, test_registry_propagation, test_serving)
