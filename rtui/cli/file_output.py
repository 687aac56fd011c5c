"""What ``rtui files`` and ``rtui cp`` print: listing rows, stat lines, JSON objects and the
progress line. Pure functions (and one small printer), so the shapes are tested without a host.
"""

from __future__ import annotations

import stat as statmod
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

from rtui.core.files.model import LINK, Entry
from rtui.core.files.paths import printable
from rtui.core.units import byte_size, clock

__all__ = ["ProgressLike", "ProgressLine", "entry_json", "listing_rows", "progress_line",
           "stat_line"]

_REDRAW_EVERY = 0.1  # seconds: at most 10 redraws a second


def _mtime(ts: float, *, seconds: bool = False) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M",
                         time.localtime(ts))


def _shown_name(name: str, target: str | None) -> str:
    """``name``, and ``-> target`` for a link, each safe on one line."""
    return printable(name) if target is None else f"{printable(name)} -> {printable(target)}"


def listing_rows(entries: Sequence[Entry]) -> list[str]:
    """``ls -l``'s columns: mode, size (right-aligned over the listing), mtime, name (a link's
    ``-> target``); control characters and bytes that are not UTF-8 escaped, so one entry is
    one line whatever its name holds."""
    width = max((len(str(e.size)) for e in entries), default=1)
    return [f"{statmod.filemode(e.mode)}  {e.size:>{width}}  {_mtime(e.mtime)}  "
            f"{_shown_name(e.name, e.target if e.kind == LINK else None)}" for e in entries]


def stat_line(path: str, entry: Entry, *, target: str | None = None) -> str:
    """One line about ``path``: kind, size, mode (octal and ls's letters), mtime to the
    second; ``target``: ``path`` is a link to it (and ``entry`` what it leads to)."""
    mode = statmod.S_IMODE(entry.mode)
    return (f"{_shown_name(path, target)}: {entry.kind}, {entry.size} bytes, mode {mode:04o} "
            f"({statmod.filemode(entry.mode)}), modified {_mtime(entry.mtime, seconds=True)}")


def entry_json(entry: Entry, path: str | None = None) -> dict[str, Any]:
    """An entry for ``--json``: names as they are (JSON escapes what a terminal would not
    show; bytes that are not UTF-8 stay lone surrogates, ``\\udcff``)."""
    shown: dict[str, Any] = {"path": path} if path is not None else {}
    return shown | {"name": entry.name, "kind": entry.kind, "size": entry.size,
                    "mtime": entry.mtime, "mode": entry.mode, "target": entry.target,
                    "target_kind": entry.target_kind}


class ProgressLike(Protocol):
    """What the progress line reads of a transfer's progress (``TransferProgress``)."""

    @property
    def file(self) -> str: ...
    @property
    def done(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def files_done(self) -> int: ...
    @property
    def files_total(self) -> int: ...
    @property
    def rate(self) -> float: ...
    @property
    def eta(self) -> float | None: ...


def progress_line(p: ProgressLike, width: int = 80, *, elapsed: float | None = None,
                  name: str | None = None) -> str:
    """``name  45%  120 MiB  85 MiB/s  ETA 0:03`` fitted to ``width`` columns (the name is
    cut on the left, its end is what tells files apart). ``elapsed``: the job is over, the
    time it took replaces the ETA. With several files, ``3/10`` comes after the name.
    ``name``: shown instead of the file's (a folder's name once it is all there)."""
    percent = 100 if p.total <= 0 else min(100, p.done * 100 // p.total)
    if elapsed is not None:
        tail = clock(elapsed)
    else:
        tail = "ETA " + (clock(p.eta) if p.eta is not None else "--:--")
    count = f"  {p.files_done}/{p.files_total}" if p.files_total > 1 else ""
    rate = byte_size(p.rate) + "/s"
    # Fixed widths, so the figures do not jump about; packed when the terminal is narrow.
    stats = f"{count}  {percent:3d}%  {byte_size(p.done):>8}  {rate:>10}  {tail:<11}"
    if width - 1 - len(stats) < 8:
        stats = f"{count}  {percent:3d}%  {byte_size(p.done)}  {rate}  {tail}"
    room = max(8, width - 1 - len(stats))  # the last column left free: no wrap
    shown = name if name is not None else p.file
    shown = printable(shown.rstrip("/").rsplit("/", 1)[-1] or shown)
    if len(shown) > room:
        shown = "…" + shown[-(room - 1):]
    return f"{shown:<{room}}{stats}"[:max(1, width - 1)]  # a narrow terminal loses the end


class ProgressLine:
    """The progress line on a terminal: redrawn in place (``\\r``) at most 10 times a second,
    ended with a newline by :meth:`finish`. Nothing is written while no update came."""

    def __init__(self, stream: TextIO, *, width: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.width = width
        self.clock = clock
        self.started = clock()
        self.last: ProgressLike | None = None
        self._drawn_at: float | None = None
        self._drawn_len = 0

    def update(self, p: ProgressLike) -> None:
        self.last = p
        now = self.clock()
        if self._drawn_at is not None and now - self._drawn_at < _REDRAW_EVERY:
            return
        self._drawn_at = now
        self._draw(progress_line(p, self.width()))

    def finish(self, *, complete: bool, name: str | None = None) -> None:
        """End the line: the last figures, with the time taken when ``complete``; ``name``
        instead of the last file's (what the job copied: a folder)."""
        if self.last is None:
            return
        elapsed = self.clock() - self.started if complete else None
        self._draw(progress_line(self.last, self.width(), elapsed=elapsed, name=name))
        self.stream.write("\n")
        self.stream.flush()
        self.last, self._drawn_at, self._drawn_len = None, None, 0

    def _draw(self, line: str) -> None:
        pad = " " * max(0, self._drawn_len - len(line))
        self.stream.write(f"\r{line}{pad}")
        self.stream.flush()
        self._drawn_len = len(line)

