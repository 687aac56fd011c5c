"""Streams to a kernel's keeper socket on the host, by the host's routes (streamlocal, else
the relay: see :mod:`rtui.core.kernels.routes`).

A feed calls the opener again after every drop; the opener waits for the host's connection
to be back (it reconnects by itself) and tells a keeper that is gone (the link is up, the
socket answers no longer) from a link that is down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rtui.core.errors import SSHError
from rtui.core.kernels.keeper_feed import KeeperGone, StreamOpener
from rtui.core.kernels.routes import HostRoutes
from rtui.core.ssh.connection import ConnState

log = logging.getLogger(__name__)

__all__ = ["GONE_AFTER", "LINK_WAIT", "STARTING_RETRY", "keeper_opener"]

LINK_WAIT = 30.0
"""Seconds an opener waits for the host's link before failing (the feed then tries again)."""

GONE_AFTER = 3
"""Failed opens in a row, on one live connection, that mean the keeper is gone."""

STARTING_RETRY = 0.05
"""Seconds between opens while the keeper is being started (its socket is not there yet)."""


def keeper_opener(routes: HostRoutes, path: str, *,
                  starting: asyncio.Future[Any] | None = None) -> StreamOpener:
    """A StreamOpener for the keeper socket ``path`` on ``routes``' host.

    ``starting``: the launch that starts the keeper, asked for at the same time. Until it is
    answered, a socket not there yet is a keeper still starting: the opener tries again
    (every :data:`STARTING_RETRY` s, not the feed's growing back-off) and none of those
    failures counts towards "gone"."""
    connection = routes.connection
    failed: list[int] = []  # the generations of the opens that failed in a row

    async def open_once() -> tuple[Any, Any]:
        generation = connection.generation
        try:
            # connect=False: a connection closed on purpose is not made again for output.
            stream = await routes.open_stream(("unix", path), timeout=LINK_WAIT, connect=False)
        except SSHError as exc:
            up = connection.state is ConnState.CONNECTED and connection.generation == generation
            if not up:
                failed.clear()
                raise
            failed.append(generation)
            if len(failed) >= GONE_AFTER and len(set(failed[-GONE_AFTER:])) == 1:
                raise KeeperGone(
                    f"the kernel's output keeper on {connection.name} is gone: {exc}") from exc
            raise
        failed.clear()
        return stream

    async def open_keeper() -> tuple[Any, Any]:
        while starting is not None and not starting.done():
            try:
                return await open_once()
            except SSHError as exc:
                if starting.done():
                    raise
                failed.clear()  # the keeper is still starting: no failure in a row
                log.debug("%s: the keeper is not listening yet: %s", connection.name, exc)
                await asyncio.wait({starting}, timeout=STARTING_RETRY)
        return await open_once()

    return open_keeper
