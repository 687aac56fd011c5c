"""The jupyter console contender (``jupyter-console --kernel python3`` from the peers' venv):
its screen. The line client (the floor of `N+1`) reads the same way."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.consoles.contender import Spec
from benchmarks.consoles.terminal import last_nonblank

__all__ = ["JUPYTER", "jupyter_input", "jupyter_prompt", "jupyter_ready", "jupyter_spec"]

JUPYTER = "jupyter console"


def jupyter_spec(python: Path, version: str) -> Spec:
    return Spec(JUPYTER, [str(python.parent / "jupyter-console"), "--kernel", "python3"],
                str(python), jupyter_prompt, jupyter_ready, jupyter_input, version=version)


def jupyter_input(rows: list[str]) -> str | None:
    match = re.match(r"In \[\d+\]: ?(.*)$", last_nonblank(rows))
    return match.group(1).strip() if match else None


def jupyter_prompt(rows: list[str]) -> bool:
    return any(row.startswith("In [1]:") for row in rows)


def jupyter_ready(rows: list[str]) -> bool:
    return bool(re.match(r"In \[\d+\]:", last_nonblank(rows)))
