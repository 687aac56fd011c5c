"""A kernel's heartbeat: ping it, tell when it stops (or resumes) answering."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Heartbeat", "Ping"]

Ping = Callable[[float], Awaitable[bool]]
"""One ping: whether the kernel answered within the given seconds (KernelChannels.ping:
zmq's REQ/REP heartbeat port, or a websocket's PING/PONG)."""


class Heartbeat:
    """Pings every ``interval``; ``misses`` unanswered pings in a row mean dead.

    ``alive`` is None until the first ping settles it; ``on_change`` hears each transition.
    """

    def __init__(
        self,
        ping: Ping,
        on_change: Callable[[bool], None],
        *,
        interval: float = 1.0,
        misses: int = 3,
    ) -> None:
        self._ping = ping
        self._on_change = on_change
        self._interval = interval
        self._misses = max(1, misses)
        self._alive: bool | None = None

    @property
    def alive(self) -> bool | None:
        return self._alive

    def _set_alive(self, alive: bool) -> None:
        if self._alive is not alive:
            self._alive = alive
            self._on_change(alive)

    async def run(self) -> None:
        """Ping for ever (cancel to stop), one ping per ``interval`` at most."""
        loop = asyncio.get_running_loop()
        interval = self._interval
        misses = 0
        while True:
            started = loop.time()
            if await self._ping(interval):
                misses = 0
                self._set_alive(True)
            else:
                misses += 1
                if misses >= self._misses:
                    self._set_alive(False)
            # A ping that failed at once must still pace the loop.
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
