"""The README's two quick-start commands stay true: .ci/run runs exactly the second one, and
the first installs into a virtual environment (a stock distribution Python refuses `pip
install` outside one, PEP 668)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README has no Quick start block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_two_commands_install_and_demo_then_test() -> None:
    install, test = quick_start()
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install -e '.[test]'")
    assert install.endswith("rtui demo")
    assert test == ".venv/bin/python -m pytest"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, test = quick_start()
    commands = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == test
    assert "python3 -m venv .venv" in (ROOT / ".ci/run").read_text()
