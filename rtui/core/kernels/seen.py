"""How far this machine's consoles have read each kernel's kept output.

A console that attaches again asks the kernel's keeper for everything after the last
message it saw (a new one asks for the last lines); the number is kept per host and kernel
in one small private file (0600) under rtui's state dir. Losing it costs only a replay of
the tail instead of the exact gap.
"""

from __future__ import annotations

from pathlib import Path

from rtui.core import locations
from rtui.core.kernel_notes import KernelNotes

__all__ = ["SeenStore"]


class SeenStore:
    """The last keeper seq seen per (host, kernel id) (see KernelNotes)."""

    def __init__(self, path: Path | None = None) -> None:
        self._notes: KernelNotes[int] = KernelNotes(
            path or locations.state_dir() / "seen.json",
            lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 0)

    @property
    def path(self) -> Path:
        return self._notes.path

    def get(self, host: str, kernel_id: str) -> int | None:
        """The last seq a console here saw of this kernel, None when none did."""
        return self._notes.get(host, kernel_id)

    def put(self, host: str, kernel_id: str, seq: int) -> None:
        """Remember ``seq``; errors are logged, never raised (it is a convenience)."""
        self._notes.put(host, kernel_id, seq)
