"""A small private JSON file of notes per (host, kernel id), read and written whole.

What this machine remembers of kernels (how far a console read one, which ones rtui started
on a Jupyter server...) is a few hundred entries at most: one 0600 file, replaced atomically
at each change, the least recently saved entries dropped first past a bound. Losing it costs
only the notes, so errors are logged, never raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from rtui.core.private import write_private
from rtui.core.safe_read import read_regular_file

__all__ = ["KernelNotes"]

log = logging.getLogger(__name__)

_V = TypeVar("_V")

MAX_ENTRIES = 500  # kernels remembered; the least recently saved are forgotten first
MAX_FILE_BYTES = 4 << 20  # 500 entries take ~100 KB; a bigger file is not ours


class KernelNotes(Generic[_V]):
    """Entries of one type (``valid`` tells a well-formed one) keyed by host and kernel id."""

    def __init__(self, path: Path, valid: Callable[[Any], bool]) -> None:
        self.path = path
        self._valid = valid

    def get(self, host: str, kernel_id: str) -> _V | None:
        value: _V | None = self.load().get(_key(host, kernel_id))
        return value

    def put(self, host: str, kernel_id: str, value: _V) -> None:
        """Save ``value`` as the entry saved last (trimming drops the oldest)."""
        entries = self.load()
        key = _key(host, kernel_id)
        entries.pop(key, None)
        entries[key] = value
        while len(entries) > MAX_ENTRIES:
            del entries[next(iter(entries))]
        self.save(entries)

    def forget(self, host: str, kernel_id: str) -> None:
        entries = self.load()
        if entries.pop(_key(host, kernel_id), None) is not None:
            self.save(entries)

    def load(self) -> dict[str, _V]:
        try:
            data = json.loads(read_regular_file(self.path, MAX_FILE_BYTES))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if self._valid(v)}

    def save(self, entries: dict[str, _V]) -> None:
        try:
            write_private(self.path, json.dumps(entries, indent=0).encode())
        except OSError as exc:
            log.warning("cannot save %s: %s", self.path, exc)


def _key(host: str, kernel_id: str) -> str:
    return f"{host}/{kernel_id}"
