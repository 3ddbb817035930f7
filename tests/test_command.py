"""The ``tenants`` console script, the URLs it prints, dev.sh's install stamp, a busy port.

What a new user types after ``bash scripts/dev.sh`` must work as written: no ``flask``,
no ``--app``, no activated environment, no SECRET_KEY on the embedded default database,
and URLs that carry the port the development server is actually on.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tenants.devserver import port_in_use
from tenants.settings import PROJECT_ROOT, development_port, record_development_port
from tenants.testing import missing
from tests.conftest import FAST_HASH, TEST_SECRET

OWNER = ["--name", "Umbrella", "--owner-email", "o@umbrella.test", "--owner-password", "a long pw"]


def tenants(tmp_path: Path, *args: str, **changes: str | None) -> subprocess.CompletedProcess[str]:
    """``tenants ARGS`` (the console script's code) on an embedded database in ``tmp_path``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "FLASK_DEBUG", "DATABASE_URL", "PUBLIC_PORT", "BASE_DOMAIN"}
    }
    env.update(INSTANCE_PATH=str(tmp_path), PASSWORD_HASH_METHOD=FAST_HASH)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", "from tenants.command import main; main()", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow  # eight CLI processes
def test_works_without_a_key_on_the_embedded_database_and_prints_the_dev_port(
    tmp_path: Path,
) -> None:
    upgraded = tenants(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    # The tenant commands stand at the top: `tenants create`, not `tenants tenants create`.
    created = tenants(tmp_path, "create", "umbrella", *OWNER)
    assert created.returncode == 0, created.stderr
    # The development server's default port, since it alone can serve this database.
    assert created.stdout.strip() == "Created umbrella: http://umbrella.localhost:5000/"
    # The port the development server last served on, once it has run (--port 5123).
    record_development_port(tmp_path, "5123")
    listing = tenants(tmp_path, "list")
    assert listing.returncode == 0, listing.stderr
    assert "http://umbrella.localhost:5123/" in listing.stdout
    # PUBLIC_PORT, when set, wins.
    assert "http://umbrella.localhost:8080/" in tenants(tmp_path, "list", PUBLIC_PORT="8080").stdout
    # The group's own spelling still works (docker compose and the entrypoint use it).
    assert tenants(tmp_path, "tenants", "list").returncode == 0
    assert "admin" in tenants(tmp_path, "--help").stdout


def test_a_named_database_needs_a_key_in_one_line(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    refused = tenants(tmp_path, "list", DATABASE_URL=database)
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: SECRET_KEY is missing")
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr
    assert (
        tenants(tmp_path, "db", "upgrade", DATABASE_URL=database, SECRET_KEY=TEST_SECRET).returncode
        == 0
    )
    # With a real key there is no development server to point at: no port is made up.
    created = tenants(
        tmp_path, "create", "umbrella", *OWNER, DATABASE_URL=database, SECRET_KEY=TEST_SECRET
    )
    assert created.stdout.strip() == "Created umbrella: http://umbrella.localhost/"


def test_a_user_error_is_one_line(tmp_path: Path) -> None:
    assert tenants(tmp_path, "db", "upgrade").returncode == 0
    refused = tenants(tmp_path, "suspend", "nobody")
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "nobody" in refused.stderr


def test_the_development_port_file(tmp_path: Path) -> None:
    assert development_port(tmp_path) == "5000"
    record_development_port(tmp_path / "new", "5001")
    assert development_port(tmp_path / "new") == "5001"
    (tmp_path / "new" / "devserver.port").write_text("garbage")
    assert development_port(tmp_path / "new") == "5000"


def test_a_busy_port_says_how_to_pick_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = port_in_use("127.0.0.1", port)
    assert message is not None
    assert f"Port {port} is in use" in message and f"--port {port + 1}" in message
    assert port_in_use("127.0.0.1", port) is None  # free again once closed


def test_the_development_server_stops_in_one_line_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tenants.devserver", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "INSTANCE_PATH": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Port {port} is in use (another development server?). Stop it, or pick another "
        f"port: bash scripts/dev.sh --port {port + 1}"
    )


FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../pip-calls"
if [[ "$*" == *"-e .[dev]"* ]]; then
  printf '#!/bin/sh\\n' > "$(dirname "$0")/tenants"; chmod +x "$(dirname "$0")/tenants"
fi
"""


def test_setup_installs_only_when_the_dependencies_change(tmp_path: Path) -> None:
    """scripts/setup.sh with a stand-in interpreter that records what pip was asked."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "platform").mkdir()
    shutil.copy(PROJECT_ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    shutil.copy(PROJECT_ROOT / "platform" / "constraints.txt", tmp_path / "platform")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = tmp_path / ".venv" / "pip-calls"

    def setup() -> int:
        subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, check=True, timeout=60)
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    assert setup() == 2  # pip upgrade, then the project
    assert setup() == 2  # nothing changed: nothing installed
    with (tmp_path / "pyproject.toml").open("a") as file:
        file.write("\n# a change\n")
    assert setup() == 4
    assert setup() == 4
    (tmp_path / ".venv" / "bin" / "tenants").unlink()  # an install that did not finish
    assert setup() == 6


def test_the_installed_console_script_runs(tmp_path: Path) -> None:
    if not (Path(sys.prefix) / "bin" / "tenants").exists():
        missing("the `tenants` console script is not installed: run `bash scripts/setup.sh`")
    result = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "tenants"), "--help"],
        env={**os.environ, "INSTANCE_PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "create" in result.stdout and "migrate" in result.stdout


def test_the_list_keeps_its_columns(tmp_path: Path) -> None:
    assert tenants(tmp_path, "db", "upgrade").returncode == 0
    assert tenants(tmp_path, "create", "a-rather-long-subdomain-name", *OWNER).returncode == 0
    lines = tenants(tmp_path, "list").stdout.splitlines()
    header, row = lines[0], lines[1]
    # Each column starts where its heading does, however long the values.
    for heading, value in (("STATUS", "active"), ("REVISION", "0"), ("URL", "http://")):
        assert row.index(value) == header.index(heading), (header, row)
