"""What this machine remembers of the kernels on a Jupyter server: which ones rtui started
(``rtui kernels`` marks them, as the agent's list does on SSH hosts) and the websocket
session id ``rtui log`` reads each with (the server keeps what a session id missed only
for the last one that disconnected: a stable id lets the next ``rtui log`` get it).

One small private (0600) JSON file per run's state dir; losing it costs only the marks.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

from rtui.core import locations
from rtui.core.private import write_private

__all__ = ["ServerMemory"]

log = logging.getLogger(__name__)

_MAX_ENTRIES = 500  # kernels remembered; the least recently saved are forgotten first


class ServerMemory:
    """Per (host, kernel id): ``{"rtui": bool, "log": session id}``, read and written whole."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or locations.state_dir() / "jupyter-kernels.json"

    def started(self, host: str, kernel_id: str) -> bool:
        """Whether rtui started this kernel (here, or on a machine sharing the state)."""
        return bool(self._load().get(_key(host, kernel_id), {}).get("rtui"))

    def mark_started(self, host: str, kernel_id: str) -> None:
        self._update(host, kernel_id, rtui=True)

    def log_session(self, host: str, kernel_id: str) -> tuple[str, bool]:
        """The session id ``rtui log`` reads this kernel with, and whether it is new (made
        now: the server kept nothing for it)."""
        entry = self._load().get(_key(host, kernel_id), {})
        session = entry.get("log")
        if isinstance(session, str) and session:
            return session, False
        session = f"rtui-log-{uuid.uuid4().hex}"
        self._update(host, kernel_id, log=session)
        return session, True

    def forget(self, host: str, kernel_id: str) -> None:
        entries = self._load()
        if entries.pop(_key(host, kernel_id), None) is not None:
            self._save(entries)

    def _update(self, host: str, kernel_id: str, **fields: Any) -> None:
        entries = self._load()
        key = _key(host, kernel_id)
        entry = {**entries.pop(key, {}), **fields}
        entries[key] = entry  # last saved last: trimming drops the oldest
        while len(entries) > _MAX_ENTRIES:
            del entries[next(iter(entries))]
        self._save(entries)

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            write_private(self.path, json.dumps(entries, indent=0).encode())
        except OSError as exc:
            log.warning("cannot save %s: %s", self.path, exc)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def _key(host: str, kernel_id: str) -> str:
    return f"{host}/{kernel_id}"
