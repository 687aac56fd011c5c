"""What this machine remembers of the kernels on a Jupyter server: which ones rtui started
(``rtui kernels`` marks them, as the agent's list does on SSH hosts) and the websocket
session id ``rtui log`` reads each with (the server keeps what a session id missed only
for the last one that disconnected: a stable id lets the next ``rtui log`` get it).

One small private (0600) JSON file per run's state dir; losing it costs only the marks.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from rtui.core import locations
from rtui.core.kernel_notes import KernelNotes

__all__ = ["ServerMemory"]


class ServerMemory:
    """Per (host, kernel id): ``{"rtui": bool, "log": session id}`` (see KernelNotes)."""

    def __init__(self, path: Path | None = None) -> None:
        self._notes: KernelNotes[dict[str, Any]] = KernelNotes(
            path or locations.state_dir() / "jupyter-kernels.json",
            lambda value: isinstance(value, dict))

    @property
    def path(self) -> Path:
        return self._notes.path

    def started(self, host: str, kernel_id: str) -> bool:
        """Whether rtui started this kernel (here, or on a machine sharing the state)."""
        return bool((self._notes.get(host, kernel_id) or {}).get("rtui"))

    def mark_started(self, host: str, kernel_id: str) -> None:
        self._update(host, kernel_id, rtui=True)

    def log_session(self, host: str, kernel_id: str) -> tuple[str, bool]:
        """The session id ``rtui log`` reads this kernel with, and whether it is new (made
        now: the server kept nothing for it)."""
        session = (self._notes.get(host, kernel_id) or {}).get("log")
        if isinstance(session, str) and session:
            return session, False
        session = f"rtui-log-{uuid.uuid4().hex}"
        self._update(host, kernel_id, log=session)
        return session, True

    def forget(self, host: str, kernel_id: str) -> None:
        self._notes.forget(host, kernel_id)

    def _update(self, host: str, kernel_id: str, **fields: Any) -> None:
        self._notes.put(host, kernel_id, {**(self._notes.get(host, kernel_id) or {}), **fields})
