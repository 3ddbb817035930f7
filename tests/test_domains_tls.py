"""HTTPS on demand through Debian's caddy, with the Caddyfile from ``platform/``.

gunicorn serves the platform; caddy (its internal CA, ``local_certs``) terminates TLS and
asks the app's ``/_platform/tls-ask`` before issuing a certificate for a name. A verified
custom domain gets a certificate and is served by its tenant; an unverified or unknown
name gets none (the handshake is refused), and verifying it later is all it takes: the ask
endpoint is the only thing that decides.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tenants.settings import PROJECT_ROOT
from tenants.testing import missing
from tests.test_deploy import free_port
from tests.test_serving import POSTGRES, serve  # noqa: F401 - the gunicorn fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.server,
]


@pytest.fixture(autouse=True)
def caddy_installed() -> None:
    if shutil.which("caddy") is None:
        missing("Debian's caddy is not installed: apt-get install -y caddy")


@pytest.fixture
def tenants_settings_overrides(dns_server):
    return {"dns_resolver": dns_server.address}


def https_get(port: int, name: str, root: Path, path: str = "/login") -> tuple[int, str]:
    """GET https://<name><path> through 127.0.0.1:<port>, SNI and Host ``name``."""
    context = ssl.create_default_context(cafile=str(root))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()
            )
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8", "replace")


def handshake_refused(port: int, name: str, root: Path) -> bool:
    try:
        https_get(port, name, root)
    except (ssl.SSLError, ConnectionResetError):
        return True
    return False


@pytest.fixture
def caddy(tmp_path: Path):
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: str) -> tuple[int, Path]:
        https_port, http_port = free_port(), free_port()
        home = tmp_path / "caddy-home"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "BASE_DOMAIN": "example.com",
            "APP_UPSTREAM": upstream,
            "CADDY_GLOBAL_OPTIONS": "\n".join(
                [
                    "local_certs",
                    "skip_install_trust",
                    "admin off",
                    "default_bind 127.0.0.1",
                    f"http_port {http_port}",
                    f"https_port {https_port}",
                ]
            ),
        }
        with (tmp_path / "caddy.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    "caddy",
                    "run",
                    "--config",
                    str(PROJECT_ROOT / "platform" / "Caddyfile"),
                    "--adapter",
                    "caddyfile",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        root = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError((tmp_path / "caddy.log").read_text()[-3000:])
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                if root.exists():
                    return https_port, root
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("caddy did not start:\n" + (tmp_path / "caddy.log").read_text())

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("backend", POSTGRES)
def test_https_on_demand_only_for_verified_domains(
    platform,
    create_tenant,
    dns_server,
    serve,  # noqa: F811 - the fixture imported above
    caddy,
) -> None:
    acme, globex = create_tenant("acme", name="Acme Notes"), create_tenant("globex")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    dns_server.zone.publish_txt(view.challenge_name, view.token)
    assert platform.domains.check(acme.id, view.id, actor="o").status == "verified"
    platform.domains.set_primary(acme.id, view.id, actor="o")
    pending = platform.domains.add(globex.id, "wiki.globex.org", actor="g")

    (server,) = serve(
        platform.settings, PUBLIC_SCHEME="https", PROXY_COUNT="1", DNS_RESOLVER=dns_server.address
    )
    port, root = caddy(f"127.0.0.1:{server.port}")

    status, body = https_get(port, "notes.acme.org", root)
    assert status == 200
    assert "Acme Notes" in body
    # The subdomain (the platform's certificate) redirects to the primary address.
    status, _ = https_get(port, "acme.example.com", root, "/login?x=1")
    assert status == 301

    assert handshake_refused(port, "wiki.globex.org", root)  # pending: no certificate
    assert handshake_refused(port, "unknown.example.org", root)

    # Verified now: the ask endpoint says yes, and the next handshake gets its certificate.
    dns_server.zone.publish_txt(pending.challenge_name, pending.token)
    assert platform.domains.check(globex.id, pending.id, actor="g").status == "verified"
    platform.domains.set_primary(globex.id, pending.id, actor="g")
    deadline = time.monotonic() + 15
    while True:
        try:
            status, body = https_get(port, "wiki.globex.org", root)
            break
        except (ssl.SSLError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert status == 200
    assert "Globex" in body


def test_the_caddyfile_is_valid_as_deployed(tmp_path: Path) -> None:
    """With Let's Encrypt (no local CA) and the compose file's variables, caddy accepts it."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "BASE_DOMAIN": "example.com",
        "APP_UPSTREAM": "app:8000",
        "ACME_EMAIL": "ops@example.com",
    }
    result = subprocess.run(
        [
            "caddy",
            "validate",
            "--config",
            str(PROJECT_ROOT / "platform" / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Valid configuration" in result.stdout + result.stderr
