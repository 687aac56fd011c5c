"""Smoke test for the benchmarks: `python -m benchmarks --quick` runs end to end.

Figures are not checked (benchmarks are not pass/fail); only that every path produced some.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("direct", "rtui", "openssh -L", "asyncssh, no PTY")
NUMBER = r"\d+(?:\.\d+)?"


@pytest.mark.timeout(200)
def test_benchmarks_quick_run_prints_every_path() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    assert "Machine: " in result.stdout, output
    for path in PATHS:
        row = re.compile(rf"^\| {re.escape(path)} \| ({NUMBER}) \| ({NUMBER}) \| ({NUMBER})x \|",
                         re.MULTILINE)
        match = row.search(result.stdout)
        assert match, f"no figures for {path!r}\n{output}"
        p50, p95, _ratio = (float(g) for g in match.groups())
        assert 0 < p50 <= p95, f"{path}: p50 {p50} p95 {p95}\n{output}"
