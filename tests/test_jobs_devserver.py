"""The README's run command runs jobs too: the development server has a worker thread."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.jobs_support import wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_the_development_server_runs_the_nightly_job_of_the_demo_tenant(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEY"} and not k.startswith("JOBS_")
    }
    env.update(INSTANCE_PATH=str(tmp_path), PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    log = tmp_path / "devserver.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tenants.devserver",
                "--demo",
                "--no-reload",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Jobs:" in log.read_text(), 30, log.read_text())
        assert f"sqlite:///{tmp_path / 'jobs.db'}" in log.read_text()
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'platform.db'}")

        def nightly_done() -> bool:
            with engine.connect() as connection:
                states = connection.execute(
                    sa.text(
                        "SELECT state FROM jobs WHERE name = 'accounts.purge_spent_login_tokens' "
                        "AND tenant_slug = 'acme'"
                    )
                ).scalars()
                return list(states) == ["succeeded"]

        wait_for(nightly_done, 30, log.read_text())
        engine.dispose()
        wait_for(lambda: "accounts.purge_spent_login_tokens" in log.read_text(), 10)
        assert "succeeded" in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=15)
