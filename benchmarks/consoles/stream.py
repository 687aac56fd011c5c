"""What a console wrote to its terminal during the flood (pipe-pane's file): a typed key is
shown once it appears there as text, even when the screen scrolls past it between two polls."""

from __future__ import annotations

import re
import time
from pathlib import Path

from benchmarks.consoles.contender import Probe

__all__ = ["StreamWatch", "settled_size"]

_ESCAPE = (  # CSI, OSC, DCS/APC/PM/SOS strings, two- or three-byte sequences
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[P_^X][^\x1b]*\x1b\\"
    rb"|[ -/]*[0-~])"
)
_TOKENS = re.compile(_ESCAPE + rb"|[^\x1b]+|\x1b", re.S)
_ESCAPE_RE = re.compile(_ESCAPE, re.S)


class StreamWatch:
    """Reads what the program wrote to the terminal (pipe-pane's file) as it grows and notes
    when a typed key first appears in it as text (escape sequences skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        self._pos = 0  # stream offset of self._held[0]
        self._held = b""

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def scan(self, probes: list[Probe], now: float) -> None:
        data = self._held + self._file.read()
        if not data:
            return
        cut = len(data)
        last_esc = data.rfind(b"\x1b", max(0, len(data) - 4096))
        if last_esc >= 0 and _ESCAPE_RE.match(data, last_esc) is None:
            cut = last_esc  # an escape sequence cut in two: keep it for the next read
        pending = [p for p in probes if p.shown is None]
        if pending:
            for token in _TOKENS.finditer(data, 0, cut):
                if token.group().startswith(b"\x1b"):
                    continue
                start = self._pos + token.start()
                for probe in pending:
                    if probe.shown is not None:
                        continue
                    index = token.group().find(probe.char.encode())
                    while index >= 0 and start + index < probe.offset:
                        index = token.group().find(probe.char.encode(), index + 1)
                    if index >= 0:
                        probe.shown = now
        self._pos += cut
        self._held = data[cut:]

    def close(self) -> None:
        self._file.close()


def settled_size(path: Path, timeout: float = 5) -> int:
    """The file's size once ``cat`` has written everything (unchanged for 200 ms)."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = path.stat().st_size
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since > 0.2:
            break
        time.sleep(0.02)
    return size
