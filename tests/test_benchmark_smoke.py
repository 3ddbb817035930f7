"""The benchmark script still runs and reports every figure (never how fast anything is)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.harness import CATALOGUE, ROOT

pytestmark = pytest.mark.server  # starts gunicorn processes on loopback ports


def test_quick_run_reports_every_figure_with_value_goal_and_met(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.json"
    completed = subprocess.run(
        [sys.executable, "tests/benchmarks/run.py", "--quick", "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # A few minutes on an idle machine; the limit only catches a hang, on a busy one too.
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Figure" in completed.stdout and "Met?" in completed.stdout

    report = json.loads(output.read_text())
    assert report["mode"] == "quick"
    assert {"nproc", "cpu", "python"} <= report["machine"].keys()
    figures = {figure["key"]: figure for figure in report["figures"]}
    assert list(figures) == [key for key, *_ in CATALOGUE]
    for key, figure in figures.items():
        assert {"value", "goal", "met"} <= figure.keys(), key
        if figure["goal"] is None or figure["value"] is None:
            assert figure["met"] is None, key
        else:
            assert figure["met"] in (True, False), key
        # A figure without a value says why (skipped, not available yet) and is never an error.
        if figure["value"] is None:
            assert figure["note"], key
        assert not figure["note"].startswith("error"), f"{key}: {figure['note']}"
