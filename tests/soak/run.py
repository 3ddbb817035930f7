"""Load and soak: real gunicorn on loopback, many tenants, a mix of traffic, every response checked.

    python tests/soak/run.py                     # 60 s, 32 connections, 1,000 tenants (SQLite)
    python tests/soak/run.py --postgres          # the same over a throw-away PostgreSQL database
    python tests/soak/run.py --seconds 10 --tenants 100 --connections 8   # the CI form

Traffic: tenant pages of known tenants (each must name the tenant asked for, in the
``X-Tenant`` header and the page), unknown and malformed hosts (must be 404/400),
logins, and signups. The run fails (exit 1) on any 5xx, any response from the wrong
tenant, or worker memory that keeps growing (RSS at the end more than 25 % and 20 MiB
above RSS after warm-up). It prints one summary line per check and a JSON summary.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PASSWORD = "soak-password-123"
DOMAIN = "example.com"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    wrong_tenant: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, kind: str, status: int, problem: str | None = None, wrong: bool = False
    ) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.kinds[kind] += 1
            if status >= 500:
                self.server_errors.append(f"{kind}: {status}")
            if wrong:
                self.wrong_tenant.append(problem or kind)
            elif problem:
                self.unexpected.append(problem)


def cookies_of(response: http.client.HTTPResponse, previous: str = "") -> str:
    """The Cookie header a browser would send next: previous cookies updated by Set-Cookie."""
    jar = dict(part.split("=", 1) for part in previous.split("; ") if "=" in part)
    for header in response.msg.get_all("Set-Cookie") or []:
        name, _, value = header.split(";", 1)[0].partition("=")
        if value:
            jar[name] = value
        else:
            jar.pop(name, None)
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(database_url: str, instance: Path, tenants: int) -> list[str]:
    """Migrate the platform database and create the tenants (in this process)."""
    os.environ.update(_server_env(database_url, instance, 0))
    from tenants import lifecycle
    from tenants.kernel import Platform
    from tenants.settings import Settings
    from tenants.storage import migrations

    platform = Platform(Settings.from_environ(load_dotenv=False))
    with platform.engine.begin() as connection:
        migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
    slugs = [f"soak{i:04d}" for i in range(tenants)]
    for slug in slugs:
        lifecycle.provision_tenant(
            platform, lifecycle.NewTenant(slug, f"Soak {slug}", f"owner@{slug}.test", PASSWORD)
        )
    platform.close()
    return slugs


def _server_env(database_url: str, instance: Path, port: int) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "BASE_DOMAIN": DOMAIN,
        "INSTANCE_PATH": str(instance),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "TENANT_APP_CACHE_SIZE": "256",
    }


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    config = ROOT / "platform" / "gunicorn.conf.py"
    command = [sys.executable, "-m", "gunicorn"]
    if config.exists():
        command += ["-c", str(config)]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    command += ["--access-logfile", "/dev/null", "tenants.wsgi:application"]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz", headers={"Host": DOMAIN})
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not answer /healthz within 30 s:\n" + log.read_text()[-5000:])


def worker_rss_kib(server: subprocess.Popen[bytes]) -> int:
    """The summed RSS of the gunicorn workers (children of the master)."""
    total = 0
    for child in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


class Visitor:
    """One keep-alive connection sending a random mix of requests, checking each answer."""

    def __init__(self, port: int, slugs: list[str], tally: Tally, seed: int) -> None:
        self.port = port
        self.slugs = slugs
        self.tally = tally
        self.random = random.Random(seed)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method: str, path: str, host: str, body: str | None = None, cookie: str = ""):
        headers = {"Host": host}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            headers["Cookie"] = cookie
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response, response.read().decode("utf-8", "replace")
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def tenant_page(self) -> None:
        slug = self.random.choice(self.slugs)
        response, body = self.send("GET", "/login", f"{slug}.{DOMAIN}")
        named = response.getheader("X-Tenant")
        wrong = response.status == 200 and (named != slug or f'data-tenant="{slug}"' not in body)
        if wrong:
            problem: str | None = f"{slug} answered by {named}"
        else:
            problem = None if response.status == 200 else f"{slug}: {response.status}"
        self.tally.record("tenant-page", response.status, problem, wrong)

    def unknown_host(self) -> None:
        host = self.random.choice(
            [
                f"nobody{self.random.randrange(10**9)}.{DOMAIN}",
                f"x.{self.random.choice(self.slugs)}.{DOMAIN}",
                f"{self.random.choice(self.slugs)}{DOMAIN}",
                "evil.test",
                "bad_host",
                "a..b",
            ]
        )
        response, _ = self.send("GET", "/", host)
        wrong = response.getheader("X-Tenant") is not None
        problem = None if response.status in {400, 404} else f"{host}: {response.status}"
        self.tally.record(
            "unknown-host", response.status, problem or (f"{host} served" if wrong else None), wrong
        )

    def login(self) -> None:
        slug = self.random.choice(self.slugs)
        host = f"{slug}.{DOMAIN}"
        page, body = self.send("GET", "/login", host)
        cookie = cookies_of(page)
        token = _CSRF.search(body)
        if token is None:
            self.tally.record("login", page.status, f"{slug}: no login form ({page.status})")
            return
        form = urlencode(
            {"email": f"owner@{slug}.test", "password": PASSWORD, "csrf_token": token.group(1)}
        )
        response, _ = self.send("POST", "/login", host, form, cookie)
        cookie = cookies_of(response, cookie)
        problem = None if response.status == 302 else f"login {slug}: {response.status}"
        self.tally.record("login", response.status, problem)
        home, home_body = self.send("GET", "/", host, cookie=cookie)
        wrong = home.status == 200 and home.getheader("X-Tenant") != slug
        self.tally.record(
            "home",
            home.status,
            None if home.status == 200 else f"home {slug}: {home.status}",
            wrong,
        )

    def signup(self) -> None:
        page, body = self.send("GET", "/signup", DOMAIN)
        cookie = cookies_of(page)
        token = _CSRF.search(body)
        slug = f"new{secrets.token_hex(5)}"
        form = urlencode(
            {
                "name": f"New {slug}",
                "subdomain": slug,
                "email": f"o@{slug}.test",
                "password": PASSWORD,
                "csrf_token": token.group(1) if token else "",
            }
        )
        response, _ = self.send("POST", "/signup", DOMAIN, form, cookie)
        problem = None if response.status == 200 else f"signup {slug}: {response.status}"
        self.tally.record("signup", response.status, problem)

    def run(self, until: float) -> None:
        actions = (
            [self.tenant_page] * 60
            + [self.unknown_host] * 25
            + [self.login] * 12
            + [self.signup] * 3
        )
        while time.time() < until:
            self.random.choice(actions)()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load and soak the platform under gunicorn.")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument(
        "--postgres", action="store_true", help="use a throw-away PostgreSQL database"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    instance = Path(tempfile.mkdtemp(prefix="soak-"))
    admin = None
    database_name = None
    if args.postgres:
        admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        database_name = f"tenants_soak_{os.getpid()}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{database_name}"')
        database_url = (
            sa.engine.make_url(args.postgres_url)
            .set(database=database_name)
            .render_as_string(hide_password=False)
        )
    else:
        database_url = f"sqlite:///{instance / 'platform.db'}"

    server = None
    try:
        started = time.time()
        slugs = prepare(database_url, instance, args.tenants)
        print(f"prepared {len(slugs)} tenants in {time.time() - started:.1f} s", flush=True)
        port = free_port()
        log = instance / "gunicorn.log"
        server = start_server(_server_env(database_url, instance, port), port, log)
        tally = Tally()
        warm_until = time.time() + min(5.0, args.seconds / 4)
        visitors = [Visitor(port, slugs, tally, seed) for seed in range(args.connections)]
        threads = [threading.Thread(target=v.run, args=(warm_until,)) for v in visitors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss_warm = worker_rss_kib(server)
        until = time.time() + args.seconds
        threads = [threading.Thread(target=v.run, args=(until,)) for v in visitors]
        samples = [rss_warm]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            samples.append(worker_rss_kib(server))
        rss_end = worker_rss_kib(server)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        if admin is not None:
            with admin.connect() as connection:
                connection.exec_driver_sql(
                    f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'
                )
            admin.dispose()

    total = sum(tally.statuses.values())
    growth = rss_end - rss_warm
    memory_stable = growth <= max(20 * 1024, rss_warm // 4)
    summary = {
        "seconds": args.seconds,
        "connections": args.connections,
        "tenants": args.tenants,
        "backend": "postgresql" if args.postgres else "sqlite",
        "requests": total,
        "requests_per_second": round(total / args.seconds, 1),
        "by_kind": dict(tally.kinds),
        "by_status": {str(k): v for k, v in sorted(tally.statuses.items())},
        "server_errors": len(tally.server_errors),
        "wrong_tenant": len(tally.wrong_tenant),
        "unexpected": len(tally.unexpected),
        "worker_rss_kib": {"after_warmup": rss_warm, "end": rss_end, "max": max(samples)},
        "memory_stable": memory_stable,
    }
    print(json.dumps(summary, indent=2))
    for label, problems in (
        ("5xx", tally.server_errors),
        ("cross-tenant", tally.wrong_tenant),
        ("unexpected", tally.unexpected),
    ):
        print(f"{label}: {len(problems)}" + (f" e.g. {problems[:5]}" if problems else ""))
    print(
        f"worker memory: {rss_warm} KiB after warm-up, {rss_end} KiB at the end "
        f"({'stable' if memory_stable else 'GROWING'})"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    ok = (
        not tally.server_errors
        and not tally.wrong_tenant
        and not tally.unexpected
        and memory_stable
    )
    if tally.server_errors:
        text = log.read_text(errors="replace")
        start = text.find("Traceback")
        print("server log, around the first traceback:")
        print(text[max(0, start - 500) : start + 4000] if start >= 0 else text[-4000:])
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
