"""The README's first command: the development server with a demo tenant."""

from __future__ import annotations

import http.client
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_devserver_serves_the_platform_and_the_demo_tenant(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(INSTANCE_PATH=str(tmp_path), PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    server = subprocess.Popen(
        [sys.executable, "-m", "tenants.devserver", "--demo", "--no-reload", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.time() + 30
        while time.time() < deadline and not any("Tenant:" in line for line in lines):
            lines.append(server.stdout.readline())
        printed = "".join(lines)
        assert f"http://acme.localhost:{port}/" in printed
        assert f"http://localhost:{port}/admin/" in printed

        def get(host: str, path: str) -> int:
            for _ in range(50):
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    connection.request("GET", path, headers={"Host": host})
                    return connection.getresponse().status
                except ConnectionRefusedError:
                    time.sleep(0.1)
            raise AssertionError("the development server never answered")

        assert get(f"localhost:{port}", "/") == 200
        assert get(f"acme.localhost:{port}", "/login") == 200
        assert get(f"nope.localhost:{port}", "/login") == 404
        assert (tmp_path / "platform.db").exists()
        # The demo workspace is in use: a second member and notes by both.
        assert "left empty" not in printed and "member@acme.test" in printed
        with sqlite3.connect(tmp_path / "tenant-1.db") as tenant:
            users = dict(tenant.execute("SELECT email, role FROM users"))
            notes = tenant.execute(
                "SELECT count(*), count(DISTINCT author_id) FROM notes"
            ).fetchone()
        assert users == {"owner@acme.test": "owner", "member@acme.test": "member"}
        assert notes == (3, 2)
        # The CLI's URLs use the port this server is on.
        assert (tmp_path / "devserver.port").read_text().strip() == str(port)
    finally:
        server.terminate()
        server.communicate(timeout=10)
