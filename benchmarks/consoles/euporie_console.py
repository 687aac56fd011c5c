"""The euporie-console contender (``euporie-console --kernel-name python3`` from the peers'
venv): its screen, where the status bar tells when the kernel is idle."""

from __future__ import annotations

from pathlib import Path

from benchmarks.consoles.contender import IN_PROMPT, Spec, last_in_row
from benchmarks.consoles.terminal import last_nonblank

__all__ = ["EUPORIE", "euporie_spec"]

EUPORIE = "euporie-console"
IDLE_MARK = "\u25cb"  # euporie's status bar: kernel idle


def euporie_spec(python: Path, version: str) -> Spec:
    return Spec(EUPORIE, [str(python.parent / "euporie-console"), "--kernel-name", "python3"],
                str(python), _prompt, _ready, _input, input_anywhere=True, version=version)


def _input(rows: list[str]) -> str | None:
    found = last_in_row(rows)
    if found is None:
        return None
    text = IN_PROMPT.split(found[1])[-1]
    return text.rsplit("\u2595", 1)[-1].strip()  # after the "▏>▕" marker


def _prompt(rows: list[str]) -> bool:
    return any("In [1]:" in row for row in rows)


def _ready(rows: list[str]) -> bool:
    """The status bar shows the kernel idle and a prompt comes after the last result."""
    last_in = last_in_row(rows)
    last_out = max((i for i, row in enumerate(rows) if "Out[" in row), default=-1)
    return IDLE_MARK in last_nonblank(rows) and last_in is not None and last_in[0] > last_out
