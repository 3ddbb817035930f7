"""Real gunicorn servers on loopback ports: many processes over one database.

Each test starts its own servers (``python -m gunicorn -c platform/gunicorn.conf.py
tenants.wsgi:application``, 2 sync workers each, the registry poll at its deployed
default of 0.5 s) and a finalizer always kills them. Requests go over real sockets;
which worker answered is read from the request log each server writes on stdout.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from tenants.settings import PROJECT_ROOT, Settings
from tests.conftest import PASSWORD, TEST_SECRET
from tests.test_deploy import free_port, nginx_binary, nginx_conf_for_this_machine

pytestmark = pytest.mark.server

ROOT = PROJECT_ROOT
VENV_BIN = Path(sys.executable).parent
WORKERS = 2
POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
# Settings the servers must not inherit from whoever runs the tests.
_INHERITED = re.compile(
    r"^(DATABASE_|TENANT_|WORKSPACE_|CONSOLE_|PUBLIC_|GUNICORN_|REGISTRY_|RATELIMIT_)"
    r"|^(BIND|PORT|PROXY_COUNT|BASE_DOMAIN|SECRET_KEY|FLASK_DEBUG|WEB_CONCURRENCY)$"
)


# -- a minimal HTTP client ---------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str
    sent_at: float
    request_id: str
    expected_tenant: str | None = None
    done_at: float = field(default_factory=time.monotonic)

    @property
    def tenant(self) -> str | None:
        return self.headers.get("x-tenant")


_ids = itertools.count()


def fetch(
    port: int,
    host: str,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout: float = 10,
) -> Reply:
    """One request on a new connection (sync workers close it after each response anyway)."""
    request_id = f"t{os.getpid()}-{next(_ids)}"
    all_headers = {"Host": host, "X-Request-ID": request_id, **(headers or {})}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    sent_at = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        reply_headers: dict[str, str] = {}
        for name, value in response.getheaders():
            name = name.lower()
            reply_headers[name] = (
                f"{reply_headers[name]}\n{value}" if name in reply_headers else value
            )
        return Reply(response.status, reply_headers, text, sent_at, all_headers["X-Request-ID"])
    finally:
        connection.close()


class Browser:
    """Cookies and CSRF tokens for one visitor of one host."""

    def __init__(self, port: int, host: str) -> None:
        self.port = port
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(self, path: str, form: dict[str, str] | None = None) -> Reply:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        reply = fetch(
            self.port,
            self.host,
            path,
            method="POST" if form is not None else "GET",
            headers=headers,
            body=body,
        )
        for line in reply.headers.get("set-cookie", "").split("\n"):
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return reply

    def csrf_token(self, path: str) -> str:
        page = self.request(path)
        match = _CSRF.search(page.body)
        assert match is not None, f"no CSRF token on {path} ({page.status})"
        return match.group(1) or match.group(2)

    def log_in(self, email: str, password: str = PASSWORD) -> None:
        token = self.csrf_token("/login")
        reply = self.request("/login", {"email": email, "password": password, "csrf_token": token})
        assert reply.status == 302, (
            f"login as {email} answered {reply.status} (request {reply.request_id}): "
            f"{reply.body[:600]}"
        )


# -- gunicorn servers --------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    label: str
    host_for_health: str = "example.com"
    _log_offset: int = 0
    _log: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, host: str, path: str = "/", **kwargs: Any) -> Reply:
        return fetch(self.port, host, path, **kwargs)

    def request_log(self) -> dict[str, dict[str, Any]]:
        """The request log lines written so far, by request id."""
        with self.stdout.open("rb") as stream:
            stream.seek(self._log_offset)
            chunk = stream.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._log_offset += len(complete)
        for line in complete.decode().splitlines():
            entry = json.loads(line)  # every stdout line is one JSON request-log line
            self._log[entry["request_id"]] = entry
        return self._log

    def workers_of(self, request_ids: Iterable[str]) -> dict[str, int]:
        """request id -> pid of the worker that answered it (the line lags the reply a little)."""
        deadline = time.monotonic() + 5
        wanted = set(request_ids)
        while True:
            log = self.request_log()
            if wanted <= log.keys() or time.monotonic() > deadline:
                return {rid: log[rid]["pid"] for rid in wanted if rid in log}
            time.sleep(0.05)

    def log_entry(self, request_id: str) -> dict[str, Any]:
        self.workers_of([request_id])
        return self.request_log()[request_id]

    def worker_pids(self) -> set[int]:
        booted = re.findall(r"Booting worker with pid: (\d+)", self.stderr.read_text())
        return {int(pid) for pid in booted}

    def output(self) -> str:
        return self.stderr.read_text()[-4000:]

    def wait_ready(self, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.label} exited at start:\n{self.output()}")
            try:
                if self.get(self.host_for_health, "/healthz", timeout=2).status == 200:
                    if len(self.worker_pids()) >= WORKERS:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.label} not ready after {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (graceful), then SIGKILL to the whole process group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def server_environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not _INHERITED.match(name)}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        DATABASE_URL=settings.database_url,
        DATABASE_POOLER=settings.database_pooler,
        SECRET_KEY=TEST_SECRET,
        BASE_DOMAIN="example.com",
        INSTANCE_PATH=str(settings.instance_path),
        WEB_CONCURRENCY=str(WORKERS),
        PASSWORD_HASH_METHOD=settings.password_hash_method,
        # Tests sign up many tenants from one loopback address.
        SIGNUP_LIMIT_PER_ADDRESS=settings.signup_limit_per_address,
        SIGNUP_LIMIT_TOTAL=settings.signup_limit_total,
    )
    env.update(extra)
    return env


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., list[Server]]]:
    """Start gunicorn servers (all at once) and wait until each answers /healthz."""
    started: list[Server] = []

    def start(
        settings: Settings, count: int = 1, command: Sequence[str] | None = None, **env: str
    ) -> list[Server]:
        servers = []
        for _ in range(count):
            port = free_port()
            label = f"gunicorn-{port}"
            stdout, stderr = tmp_path / f"{label}.out", tmp_path / f"{label}.err"
            argv = command or [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "platform" / "gunicorn.conf.py"),
                "tenants.wsgi:application",
            ]
            with stdout.open("wb") as out, stderr.open("wb") as err:
                process = subprocess.Popen(
                    list(argv),
                    cwd=ROOT,
                    env=server_environment(settings, BIND=f"127.0.0.1:{port}", **env),
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own process group: killed as one
                )
            server = Server(
                port, process, stdout, stderr, label, env.get("BASE_DOMAIN", "example.com")
            )
            started.append(server)
            servers.append(server)
        for server in servers:
            server.wait_ready()
        return servers

    yield start
    for server in started:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
        # Captured, so pytest shows it only when the test failed: why a server answered so.
        errors = server.stderr.read_text(errors="replace").splitlines()
        print(f"--- {server.label} stderr, last lines ---", *errors[-60:], sep="\n")


def poll_servers(
    servers: Sequence[Server],
    host: str,
    path: str,
    until: Callable[[list[tuple[Server, Reply]]], bool],
    clients_per_server: int = 3,
    timeout: float = 30,
) -> list[tuple[Server, Reply]]:
    """Keep every worker of every server busy until ``until(replies so far)`` is true."""
    replies: list[tuple[Server, Reply]] = []
    stop = threading.Event()

    def client(server: Server) -> None:
        while not stop.is_set():
            replies.append((server, server.get(host, path)))

    threads = [
        threading.Thread(target=client, args=(server,), daemon=True)
        for server in servers
        for _ in range(clients_per_server)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not until(list(replies)):
            assert time.monotonic() < deadline, f"still polling {host} after {timeout} s"
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    return replies


def answered_after(
    replies: list[tuple[Server, Reply]], moment: float
) -> list[tuple[Server, Reply, int | None]]:
    """(server, reply, worker pid) of the requests sent after ``moment``."""
    late = [(server, reply) for server, reply in replies if reply.sent_at >= moment]
    workers: dict[str, int] = {}
    for server in {id(s): s for s, _ in late}.values():
        workers.update(server.workers_of(reply.request_id for s, reply in late if s is server))
    return [(server, reply, workers.get(reply.request_id)) for server, reply in late]


def every_worker(servers: Sequence[Server]) -> set[tuple[int, int]]:
    return {(server.port, pid) for server in servers for pid in server.worker_pids()}


def flask_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tenants.wsgi", *args],
        cwd=ROOT,
        env=server_environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def direct_url(settings: Settings) -> str:
    """The servers' database as the tests' own observers reach it: the server itself.

    (The servers may go through a pooler, tests/test_pgbouncer.py; an operator's tools,
    sampling pg_stat_activity or ending backends, talk to PostgreSQL directly.)
    """
    return settings.database_url


def admin_engine(settings: Settings) -> sa.Engine:
    """An autocommit connection to the server's maintenance database, as a superuser."""
    url = sa.engine.make_url(direct_url(settings)).set(database="postgres")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def database_name(settings: Settings) -> str:
    return sa.engine.make_url(settings.database_url).database or ""


# -- many processes over one PostgreSQL ----------------------------------------------------------


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_suspension_and_a_new_tenant_reach_every_worker_of_both_servers_within_a_second(
    settings: Settings, create_tenant, serve
) -> None:
    create_tenant("acme")
    servers = serve(settings, count=2)
    workers = every_worker(servers)
    assert len(workers) == 2 * WORKERS

    def every_worker_answered(after: float, status: int | None = None) -> Callable[..., bool]:
        """An ``until`` for poll_servers: each worker answered a request sent after ``after``."""

        def until(replies: list[tuple[Server, Reply]]) -> bool:
            if time.monotonic() < after:
                return False
            seen = {
                (server.port, pid)
                for server, reply, pid in answered_after(replies, after)
                if status is None or reply.status == status
            }
            return seen >= workers

        return until

    # Warm up: every worker of both servers serves acme.
    poll_servers(servers, "acme.example.com", "/login", until=every_worker_answered(0, status=200))

    # Suspend through the CLI (another process) while both servers are under load; the
    # change is committed when the command returns.
    suspended_at: list[float] = []

    def suspend_then_wait(replies: list[tuple[Server, Reply]]) -> bool:
        if not suspended_at:
            result = flask_cli(settings, "tenants", "suspend", "acme")
            assert result.returncode == 0, result.stderr
            suspended_at.append(time.monotonic())
        return every_worker_answered(suspended_at[0] + 1.0)(replies)

    replies = poll_servers(servers, "acme.example.com", "/login", until=suspend_then_wait)
    for _, reply in replies:
        assert reply.status in (200, 403)
        assert reply.tenant == ("acme" if reply.status == 200 else None)
    late = answered_after(replies, suspended_at[0] + 1.0)
    assert {(server.port, pid) for server, _, pid in late} == workers
    assert all(reply.status == 403 for _, reply, _ in late)
    assert all("Workspace suspended" in reply.body for _, reply, _ in late)

    # A tenant created now (by this process) is served by every worker of both.
    create_tenant("globex")
    created_at = time.monotonic()
    replies = poll_servers(
        servers, "globex.example.com", "/login", until=every_worker_answered(created_at + 1.0)
    )
    late = answered_after(replies, created_at + 1.0)
    assert {(server.port, pid) for server, _, pid in late} == workers
    assert all(reply.status == 200 and reply.tenant == "globex" for _, reply, _ in late)
    for _, reply in replies:
        assert reply.status in (200, 404) and reply.tenant in (None, "globex")


@pytest.mark.parametrize("backend", POSTGRES)
def test_200_tenants_served_by_two_servers_stay_within_the_connection_budget(
    settings: Settings, platform, create_tenant, serve, record_property
) -> None:
    slugs = [f"t{n:03d}" for n in range(200)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create_tenant, slugs))
    platform.engine.dispose()  # this process's own pool: not counted below
    servers = serve(settings, count=2)

    # Autocommit: PostgreSQL keeps one pg_stat_activity snapshot per transaction.
    watcher = sa.create_engine(
        direct_url(settings), poolclass=sa.NullPool, isolation_level="AUTOCOMMIT"
    )
    counts: list[int] = []
    done = threading.Event()

    def sample() -> None:
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        with watcher.connect() as connection:
            while not done.is_set():
                counts.append(connection.execute(query).scalar_one())
                time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def visit(slug: str) -> list[Reply]:
        replies = []
        for server in servers:
            reply = server.get(f"{slug}.example.com", "/login")
            reply.expected_tenant = slug
            replies.append(reply)
        return replies

    try:
        with ThreadPoolExecutor(6) as pool:
            replies = [reply for batch in pool.map(visit, slugs) for reply in batch]
    finally:
        done.set()
        sampler.join(10)
        watcher.dispose()

    assert len(replies) == 400
    assert all(r.status == 200 and r.tenant == r.expected_tenant for r in replies)
    budget = settings.pool_size * WORKERS * len(servers)
    record_property("max_postgres_connections", max(counts))
    print(f"\nPostgreSQL connections while serving 200 tenants: max {max(counts)}, budget {budget}")
    assert len(counts) > 10 and max(counts) >= 1
    assert max(counts) <= budget


@pytest.mark.parametrize("backend", POSTGRES)
def test_killed_connections_recover_within_a_second_and_never_cross_tenants(
    settings: Settings, create_tenant, serve, record_property
) -> None:
    create_tenant("acme")
    create_tenant("globex")
    [server] = serve(settings)
    browsers = []
    for slug in ("acme", "globex") * 2:
        browser = Browser(server.port, f"{slug}.example.com")
        browser.log_in(f"owner@{slug}.test")
        browsers.append((slug, browser))

    killer = admin_engine(settings)
    kills: list[tuple[float, float]] = []  # (started, done) of each round of kills
    replies: list[Reply] = []
    stop = threading.Event()

    def load(slug: str, browser: Browser) -> None:
        while not stop.is_set():
            # The home page reads the tenant's schema (its user) on every request.
            reply = browser.request("/")
            reply.expected_tenant = slug
            replies.append(reply)

    threads = [threading.Thread(target=load, args=pair, daemon=True) for pair in browsers]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            time.sleep(0.5)
            started = time.monotonic()
            with killer.connect() as connection:
                killed = connection.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND application_name = 'tenants-platform'"
                    ),
                    {"db": database_name(settings)},
                ).scalar_one()
            assert killed >= 1
            kills.append((started, time.monotonic()))
            time.sleep(1.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        killer.dispose()

    # Never another tenant's page, whatever happened to the connections.
    for reply in replies:
        assert reply.tenant in (None, reply.expected_tenant)
        if reply.status == 200:
            assert reply.tenant == reply.expected_tenant
            assert f"owner@{reply.expected_tenant}.test" in reply.body
    # A second after each kill, every request succeeds again (until the next kill).
    ends = [started for started, _ in kills[1:]] + [float("inf")]
    for (_, killed_at), next_kill in zip(kills, ends, strict=True):
        window = [r for r in replies if killed_at + 1.0 <= r.sent_at and r.done_at < next_kill]
        assert window, "no requests were made after a kill"
        assert all(r.status == 200 for r in window), [r.status for r in window]
    failed = [r.status for r in replies if r.status != 200]
    record_property("requests_failed_during_kills", len(failed))
    print(f"\n{len(replies)} requests, {len(failed)} failed around 3 kills: {sorted(set(failed))}")
    # Only requests in flight at a kill fail, and they say "try again": 503, not 500.
    assert all(status == 503 for status in failed), failed


@pytest.mark.parametrize("backend", POSTGRES)
def test_registry_database_unreachable_is_a_503_page_then_recovers(
    settings: Settings, create_tenant, platform, serve
) -> None:
    """Real outage: the database stops accepting connections and loses the ones it had.

    ``ALTER DATABASE ... ALLOW_CONNECTIONS false`` refuses every new connection, and
    ``pg_terminate_backend`` ends the open ones: from the app's side the registry
    database is gone, exactly as when its server is down, yet the test can bring it
    back. (A server pointed at a port where nothing listens is tested in test_deploy.)
    """
    create_tenant("acme")
    platform.engine.dispose()
    [server] = serve(settings)
    assert server.get("acme.example.com", "/login").tenant == "acme"
    name = database_name(settings)
    admin = admin_engine(settings)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"
                ),
                {"db": name},
            )
        blocked_at = time.monotonic()
        time.sleep(1.0)
        for _ in range(10):
            page = server.get("acme.example.com", "/login")
            assert page.status == 503 and page.tenant is None
            assert "cannot reach its registry" in page.body
            assert page.headers["retry-after"] == "5"
        assert server.get("example.com", "/readyz").status == 503
        assert server.get("example.com", "/healthz").status == 200
        assert time.monotonic() - blocked_at < 30
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()
    back_at = time.monotonic()
    replies = poll_servers(
        [server],
        "acme.example.com",
        "/login",
        until=lambda replies: time.monotonic() > back_at + 1.5,
    )
    late = [reply for _, reply in replies if reply.sent_at >= back_at + 1.0]
    assert late and all(r.status == 200 and r.tenant == "acme" for r in late)
    assert server.get("example.com", "/readyz").status == 200


# -- SQLite, the default -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_takes_concurrent_writes_from_two_workers(
    settings: Settings, create_tenant, serve
) -> None:
    tenant = create_tenant("acme")
    [server] = serve(settings)

    def write_notes(thread: int) -> list[Reply]:
        browser = Browser(server.port, "acme.example.com")
        browser.log_in("owner@acme.test")
        token = browser.csrf_token("/notes/new")
        return [
            browser.request(
                "/notes/new",
                {"title": f"note {thread}-{n}", "body": "written under load", "csrf_token": token},
            )
            for n in range(25)
        ]

    with ThreadPoolExecutor(8) as pool:
        replies = [reply for batch in pool.map(write_notes, range(8)) for reply in batch]

    assert len(replies) == 200
    assert {reply.status for reply in replies} == {302}, sorted({r.status for r in replies})
    with sqlite3.connect(settings.instance_path / f"tenant-{tenant.id}.db") as db:
        assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 200
    assert "database is locked" not in server.stdout.read_text() + server.stderr.read_text()
    workers = {entry["pid"] for entry in server.request_log().values() if entry["method"] == "POST"}
    assert len(workers) == WORKERS  # both processes wrote


@pytest.mark.parametrize("backend", ["sqlite"])
def test_one_json_line_per_request_health_check_and_graceful_stop(
    settings: Settings, create_tenant, serve
) -> None:
    create_tenant("acme")
    [server] = serve(settings)
    sent = [
        server.get("acme.example.com", "/login"),
        server.get("example.com", "/"),
        server.get("nope.example.com", "/"),
        server.get("acme.example.com", "/login", headers={"X-Request-ID": "trace-42"}),
        server.get("acme.example.com", "/login", headers={"X-Request-ID": "bad id"}),
    ]
    assert sent[3].headers["x-request-id"] == "trace-42"
    assert sent[4].headers["x-request-id"] != "bad id"
    ids = [reply.headers["x-request-id"] for reply in sent]
    for request_id in ids:
        server.log_entry(request_id)
    # Every stdout line is a request-log line, and each request has exactly one.
    lines = [json.loads(line) for line in server.stdout.read_text().splitlines()]
    assert sorted(e["request_id"] for e in lines if e["request_id"] in ids) == sorted(ids)
    log = server.request_log()
    trace = log["trace-42"]
    assert (trace["tenant"], trace["method"], trace["path"], trace["status"]) == (
        "acme",
        "GET",
        "/login",
        200,
    )
    assert trace["duration_ms"] > 0 and trace["pid"] in server.worker_pids()
    assert log[ids[1]]["tenant"] is None
    assert (log[ids[2]]["tenant"], log[ids[2]]["status"]) == ("nope", 404)

    # The image's HEALTHCHECK script, against this server.
    def healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "platform" / "healthcheck.py")],
            env={**os.environ, "PORT": str(server.port), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert healthcheck(BASE_DOMAIN="example.com").returncode == 0
    assert healthcheck(BASE_DOMAIN="elsewhere.test").returncode == 1  # 404: not our platform

    # docker stop sends SIGTERM: workers finish and the master exits cleanly.
    assert server.stop() == 0
    assert "Shutting down: Master" in server.stderr.read_text()
    unhealthy = healthcheck(BASE_DOMAIN="example.com")
    assert unhealthy.returncode == 1 and "unhealthy" in unhealthy.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_entrypoint_migrates_then_serves(settings: Settings, serve, tmp_path: Path) -> None:
    fresh = settings.with_changes(
        database_url=f"sqlite:///{tmp_path / 'fresh' / 'platform.db'}",
        instance_path=tmp_path / "fresh",
    )
    [server] = serve(fresh, command=[str(ROOT / "platform" / "entrypoint.sh")])
    output = server.stderr.read_text()
    assert "Platform database at revision" in server.stdout.read_text() + output
    assert server.get("example.com", "/readyz").status == 200
    assert server.stop() == 0


# -- behind nginx ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])
def test_nginx_in_front_routes_tenants_and_forwards_the_client(
    settings: Settings, create_tenant, serve, tmp_path: Path
) -> None:
    nginx = nginx_binary()
    create_tenant("acme")
    [app] = serve(settings, BASE_DOMAIN="localhost", PROXY_COUNT="1")
    port = free_port()
    conf = nginx_conf_for_this_machine(tmp_path, f"127.0.0.1:{app.port}", port)
    with (tmp_path / "nginx.out").open("wb") as out:
        proxy = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", f"{tmp_path}/", "-e", str(tmp_path / "nginx.err")]
            + ["-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                fetch(port, "localhost", "/healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "nginx.err").read_text()
                time.sleep(0.1)

        spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "globex.localhost"}
        tenant = fetch(port, f"acme.localhost:{port}", "/login", headers=spoofed)
        assert tenant.status == 200 and tenant.tenant == "acme"
        platform_page = fetch(port, f"localhost:{port}", "/")
        assert platform_page.status == 200 and platform_page.tenant is None
        entry = app.log_entry(tenant.request_id)
        assert entry["tenant"] == "acme"
        # ProxyFix believed only nginx's hop: the client's own X-Forwarded-For is ignored.
        assert entry["remote_addr"] == "127.0.0.1"

        # nginx makes up an id when the client sends none; the app logs and returns it.
        anonymous = fetch(port, "acme.localhost", "/login", headers={"X-Request-ID": ""})
        nginx_id = anonymous.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", nginx_id)
        assert app.log_entry(nginx_id)["tenant"] == "acme"

        # Names nginx does not serve get no answer at all; the app never sees them.
        for host in ("evil.test", "a.b.localhost"):
            with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
                fetch(port, host, "/")
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(10)
