"""A lock shared by pytest-xdist's workers, so that a test marked ``alone`` runs with no other
test beside it.

The whole suite runs in two workers (most tests wait on sshd, kernels and tmux, not on the
CPU), but some tests bound how long something takes ("named within 2 s", a render's budget)
and on two cores those bounds need the CPU that a second test would take. A test marked
``alone`` holds the lock exclusively; every other test holds it shared. A turnstile (a second
lock, taken first by everyone, held by an exclusive holder until it is in) keeps a stream of
shared holders from starving an exclusive one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["held"]


@contextmanager
def held(directory: Path, exclusive: bool) -> Iterator[None]:
    """The lock in ``directory`` (the same for every worker of a run), exclusive or shared,
    for the time of the ``with``."""
    turnstile = os.open(directory / "turnstile", os.O_RDWR | os.O_CREAT, 0o600)
    main = os.open(directory / "main", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(main, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if not exclusive:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield
    finally:
        os.close(main)  # closing the last descriptor releases its flock
        os.close(turnstile)
