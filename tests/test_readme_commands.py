"""Every shell command in the README works as written, after ``bash scripts/dev.sh``.

The commands are read out of the README's ``sh`` blocks, so a command added there is
checked here (or must be listed in ``SKIPPED`` with the reason). They run in order, with
bash, in a copy of the checkout whose ``.venv`` is this interpreter's environment, with
no SECRET_KEY, DATABASE_URL or FLASK_DEBUG: what a new user has after the first command.
That first command is stood in for by the development server itself (``--demo``, which
is what dev.sh runs once ``.venv`` is installed), stopped once it has printed its URLs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tenants.settings import PROJECT_ROOT
from tenants.testing import missing

pytestmark = pytest.mark.slow

#: Commands not run here, by how they start, and why.
SKIPPED = {
    "bash scripts/dev.sh": "a server that runs until stopped; the test starts it itself (--demo)",
    "bash scripts/test.sh": "runs this whole suite (and installs Debian packages)",
    "docker compose": "builds images and runs containers (tests/test_deploy.py checks the files)",
    'echo "SECRET_KEY=': "writes .env for docker compose, which is not run here",
    ".venv/bin/python tests/benchmarks/run.py": "benchmarks take minutes; "
    "tests/test_benchmark_smoke.py runs --quick",
    ".venv/bin/tenants jobs worker": "runs until stopped (tests/test_jobs_workers.py)",
    ".venv/bin/python -m pytest": "runs the test suite, which this test is part of",
    "bash scripts/screenshots.sh": "runs the browser tests (tests/e2e), writing docs/screenshots",
    "cp fullchain.pem": "copies your own certificate files, which a test has none of",
    "cat >> .env <<": "configures a production TLS deployment in .env, which every later "
    "command would read (tests/test_domains_tls.py runs that set-up with Caddy)",
}

_BLOCK = re.compile(r"^[ \t]*```sh\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


def readme_commands(text: str) -> list[str]:
    """The commands of the README's ``sh`` blocks: continuation lines joined, a here-document
    kept with its command (up to its terminator), comments dropped."""
    commands: list[str] = []
    for block in _BLOCK.findall(text):
        lines = iter(re.sub(r"\\\n\s*", "", block).splitlines())
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if " # " in line:
                line = re.sub(r"\s+#.*$", "", line)
            heredoc = re.search(r"<<-?\s*'?\"?(\w+)", line)
            if heredoc:
                body = []
                for more in lines:
                    body.append(more)
                    if more.strip() == heredoc.group(1):
                        break
                line = "\n".join([line, *body])
            commands.append(line)
    return commands


def skip_reason(command: str) -> str | None:
    for start, reason in SKIPPED.items():
        if command.startswith(start):
            return reason
    return None


def test_the_readme_has_commands_and_this_test_knows_each() -> None:
    commands = readme_commands((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    assert "bash scripts/dev.sh" in commands
    run = [command for command in commands if skip_reason(command) is None]
    assert any(command.startswith(".venv/bin/tenants create") for command in run)
    assert len(run) >= 10


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _checkout_copy(target: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in files)):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_every_readme_command_runs_verbatim(tmp_path: Path) -> None:
    if not (Path(sys.prefix) / "bin" / "tenants").exists():
        missing("the `tenants` console script is not installed: run `bash scripts/setup.sh`")
    clone = tmp_path / "clone"
    _checkout_copy(clone)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECRET_KEY", "DATABASE_URL", "FLASK_", "PUBLIC_", "INSTANCE_"))
    }
    # The clone's package, not the checkout the environment was installed from.
    env["PYTHONPATH"] = str(clone)
    env["JOBS_EMBEDDED_WORKER"] = "0"

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tenants.devserver", "--demo", "--no-reload", "--port", str(port)],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        printed = ""
        while "Tenant:" not in printed and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            printed += line
        assert "Tenant:" in printed, printed
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()

    commands = readme_commands((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    ran = 0
    for command in commands:
        if skip_reason(command):
            continue
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, command
        if command.startswith(".venv/bin/tenants create umbrella"):
            # The URL carries the port the development server ran on.
            assert f"http://umbrella.localhost:{port}/" in result.stdout
        ran += 1
    assert ran >= 10
