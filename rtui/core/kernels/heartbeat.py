"""A kernel's heartbeat: ping its hb port, tell when it stops (or resumes) answering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import zmq
import zmq.asyncio

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)


class Heartbeat:
    """Pings every ``interval``; ``misses`` unanswered pings in a row mean dead.

    ``alive`` is None until the first ping settles it; ``on_change`` hears each transition.
    """

    def __init__(
        self,
        connect: Callable[[], zmq.asyncio.Socket],
        on_change: Callable[[bool], None],
        *,
        interval: float = 1.0,
        misses: int = 3,
        name: str = "kernel",
    ) -> None:
        self._connect = connect
        self._on_change = on_change
        self._interval = interval
        self._misses = max(1, misses)
        self._name = name
        self._alive: bool | None = None

    @property
    def alive(self) -> bool | None:
        return self._alive

    def _set_alive(self, alive: bool) -> None:
        if self._alive is not alive:
            self._alive = alive
            self._on_change(alive)

    async def run(self) -> None:
        """Ping for ever (cancel to stop); a REQ socket that missed a reply is replaced.

        REQ is lockstep: after a lost reply it can never send again, and a fresh socket is
        also what rides over a forwarded port that was re-created underneath us.
        """
        loop = asyncio.get_running_loop()
        interval = self._interval
        socket = self._connect()
        misses = 0
        try:
            while True:
                started = loop.time()
                answered = False
                try:
                    await socket.send(b"ping", zmq.NOBLOCK)
                    if await socket.poll(int(interval * 1000)):  # POLLIN
                        await socket.recv(zmq.NOBLOCK)
                        answered = True
                except zmq.ZMQError as exc:
                    log.debug("%s: heartbeat socket error: %s", self._name, exc)
                if answered:
                    misses = 0
                    self._set_alive(True)
                    await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
                    continue
                misses += 1
                socket.close(linger=0)
                socket = self._connect()
                if misses >= self._misses:
                    self._set_alive(False)
                # A send that failed at once must still pace the loop.
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        finally:
            socket.close(linger=0)
