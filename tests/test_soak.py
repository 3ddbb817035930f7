"""The soak script in its short CI form: real gunicorn, mixed traffic, every response checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "soak" / "run.py"


@pytest.mark.server
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_short_soak_has_no_5xx_no_cross_tenant_and_stable_memory(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    args = [
        "--seconds",
        "8",
        "--tenants",
        "60",
        "--connections",
        "8",
        "--json",
        str(tmp_path / "s.json"),
    ]
    if backend == "postgres":
        request.getfixturevalue("postgres_url")  # skips (or fails in CI) without a server
        args.append("--postgres")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["requests"] > 0
    assert summary["server_errors"] == 0
    assert summary["wrong_tenant"] == 0
    assert summary["unexpected"] == 0
    assert summary["memory_stable"] is True
    assert {"tenant-page", "unknown-host", "login", "signup"} <= summary["by_kind"].keys()
