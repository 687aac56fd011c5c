"""How far a transfer is: bytes and files done of the whole job, the rate (an EWMA over
about a second) and the time left, reported at most 10 times a second (STYLE rule 4)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressMeter", "TransferProgress"]

INTERVAL = 0.1  # seconds between two reports at most 10 a second
SMOOTHING = 1.0  # seconds: the rate follows the last second or so


@dataclass(frozen=True)
class TransferProgress:
    """One report of a job: ``done`` of ``total`` bytes (a resumed part counts as done),
    the file being moved now (printable), the rate in bytes/s and the seconds left (None
    while no rate is known)."""

    file: str
    done: int
    total: int
    files_done: int
    files_total: int
    rate: float
    eta: float | None


class ProgressMeter:
    """Counts a job's bytes and files and calls ``on_progress`` at most every
    ``INTERVAL`` seconds, and once more at the end (the last report reaches the total)."""

    def __init__(self, total: int, files_total: int,
                 on_progress: Callable[[TransferProgress], None] | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.files_total = files_total
        self.done = 0
        self.files_done = 0
        self.file = ""
        self.rate = 0.0
        self._on_progress = on_progress
        self._clock = clock
        self._last_report = -math.inf
        self._sample_at = clock()
        self._sample_done = 0

    def start_file(self, name: str) -> None:
        self.file = name

    def add(self, nbytes: int) -> None:
        """``nbytes`` more are through (or found already there, when resuming)."""
        self.done += nbytes
        self._maybe_report()

    def file_done(self) -> None:
        self.files_done += 1
        self._maybe_report()

    def grow(self, nbytes: int, files: int = 0) -> None:
        """The job turned out bigger (a source walked late, a file grown)."""
        self.total += nbytes
        self.files_total += files

    def finish(self) -> None:
        """The last report: done, whatever the interval says."""
        self._report(self._clock())

    def _maybe_report(self) -> None:
        now = self._clock()
        if now - self._last_report >= INTERVAL:
            self._report(now)

    def _report(self, now: float) -> None:
        elapsed = now - self._sample_at
        if elapsed > 0:
            instant = (self.done - self._sample_done) / elapsed
            weight = min(1.0, elapsed / SMOOTHING)
            self.rate = instant if self.rate == 0 else self.rate + weight * (instant - self.rate)
            self._sample_at, self._sample_done = now, self.done
        self._last_report = now
        if self._on_progress is None:
            return
        left = max(0, self.total - self.done)
        eta = left / self.rate if self.rate > 0 else (0.0 if left == 0 else None)
        self._on_progress(TransferProgress(self.file, self.done, max(self.total, self.done),
                                           self.files_done, self.files_total, self.rate, eta))
