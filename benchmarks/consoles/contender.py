"""What one contender is (how to start it and read its screen) and what was measured of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.consoles.terminal import Terminal

__all__ = ["IN_PROMPT", "Figures", "Launcher", "Probe", "Spec", "last_in_row"]

IN_PROMPT = re.compile(r"In \[(\d+)\]:")

# Start the console in the pane (its shell is at a prompt) and note the launch figures.
Launcher = Callable[["Terminal", "Spec", "Figures"], None]


@dataclass
class Spec:
    """How to start one console and read its screen."""

    name: str
    argv: list[str]
    kernel_python: str
    prompt: Callable[[list[str]], bool]  # the input prompt is on screen
    ready: Callable[[list[str]], bool]  # kernel idle, input accepted
    input_text: Callable[[list[str]], str | None]  # what the input line holds
    root_only: bool = False  # RSS of the pane's process alone (rtui: children are "remote")
    input_anywhere: bool = False  # the input may be drawn away from its prompt (euporie)
    version: str = ""
    launch: Launcher | None = None  # its own way to launch (rtui: through its host list)


@dataclass
class Probe:
    """One key typed during the flood."""

    char: str
    sent: float = 0.0
    offset: int = 0  # bytes in the terminal stream file when it was sent
    baseline: int = 0  # times the char was on screen just before
    shown: float | None = None
    during: bool = True  # typed before the flood was over


@dataclass
class Figures:
    spec: Spec | None
    name: str
    skipped: str | None = None  # not installed (not a crash)
    error: str | None = None  # crashed
    launch: float | None = None
    hosts_painted: float | None = None  # rtui: process start -> host list
    host_ok: float | None = None  # rtui: process start -> its host checked ok
    kernel_ready: float | None = None  # euporie: prompt shown before the kernel is ready
    results: list[float] = field(default_factory=list)
    floods: list[float] = field(default_factory=list)  # every flood's time, in order
    flood_timeout: float | None = None  # set when the flood did not end in time
    drain: float | None = None
    drain_label: str = ""
    floor: list[float] = field(default_factory=list)  # `N+1` of the line client (no UI)
    floor_label: str = ""
    probes: list[Probe] = field(default_factory=list)
    kept: int | None = None
    corrupt: list[str] = field(default_factory=list)
    peak_rss: int | None = None
    written: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flood(self) -> float | None:
        """The better of the floods run (the reference's is the best of two too)."""
        return min(self.floods) if self.floods else None


def last_in_row(rows: list[str]) -> tuple[int, str] | None:
    """The last row with an ``In [n]:`` prompt, and its index."""
    for index in range(len(rows) - 1, -1, -1):
        if IN_PROMPT.search(rows[index]):
            return index, rows[index]
    return None
