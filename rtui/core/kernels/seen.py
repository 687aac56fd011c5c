"""How far this machine's consoles have read each kernel's kept output.

A console that attaches again asks the kernel's keeper for everything after the last
message it saw (a new one asks for the last lines); the number is kept per host and kernel
in one small private file (0600) under rtui's state dir. Losing it costs only a replay of
the tail instead of the exact gap.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rtui.core import locations
from rtui.core.private import write_private

__all__ = ["SeenStore"]

log = logging.getLogger(__name__)

_MAX_ENTRIES = 500  # kernels remembered; the least recently saved are forgotten first


class SeenStore:
    """The last keeper seq seen per (host, kernel id), read and written whole (it is tiny)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or locations.state_dir() / "seen.json"

    def get(self, host: str, kernel_id: str) -> int | None:
        """The last seq a console here saw of this kernel, None when none did."""
        value = self._load().get(_key(host, kernel_id))
        return value if isinstance(value, int) and value >= 0 else None

    def put(self, host: str, kernel_id: str, seq: int) -> None:
        """Remember ``seq``; errors are logged, never raised (it is a convenience)."""
        entries = self._load()
        key = _key(host, kernel_id)
        entries.pop(key, None)
        entries[key] = seq  # last saved last: trimming drops the oldest
        while len(entries) > _MAX_ENTRIES:
            del entries[next(iter(entries))]
        try:
            write_private(self.path, json.dumps(entries, indent=0).encode())
        except OSError as exc:
            log.warning("cannot save %s: %s", self.path, exc)

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, int)}


def _key(host: str, kernel_id: str) -> str:
    return f"{host}/{kernel_id}"
