"""A timeout that stops counting while a person is being asked something."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

__all__ = ["PausableDeadline"]

T = TypeVar("T")


class PausableDeadline:
    """``budget`` seconds of machine time; ``paused()`` brackets time spent on a person."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._used = 0.0
        self._since: float | None = None
        self._pauses = 0
        self._resumed = asyncio.Event()
        self._resumed.set()

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        self._stop_clock()
        self._pauses += 1
        self._resumed.clear()
        try:
            yield
        finally:
            self._pauses -= 1
            if self._pauses == 0:
                self._resumed.set()
                self._start_clock()

    def _start_clock(self) -> None:
        self._since = time.monotonic()

    def _stop_clock(self) -> None:
        if self._since is not None and self._pauses == 0:
            self._used += time.monotonic() - self._since
        self._since = None

    def remaining(self) -> float:
        used = self._used
        if self._since is not None:
            used += time.monotonic() - self._since
        return self.budget - used

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``; raise TimeoutError once the unpaused time exceeds the budget."""
        task = asyncio.ensure_future(awaitable)
        self._start_clock()
        try:
            while True:
                if self._pauses:
                    waiter = asyncio.ensure_future(self._resumed.wait())
                    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                else:
                    left = self.remaining()
                    if left <= 0:
                        raise TimeoutError
                    await asyncio.wait({task}, timeout=left)
                if task.done():
                    return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._stop_clock()
