"""Streams to a kernel's keeper socket on the host, over the host's one SSH connection.

A feed calls the opener again after every drop; the opener waits for the connection to be
back (it reconnects by itself: starting an attempt here would cancel its backoff) and tells
a keeper that is gone (the host answers, its socket does not) from a link that is down.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncssh

from rtui.core.errors import SSHError
from rtui.core.kernels.keeper_feed import KeeperGone, StreamOpener
from rtui.core.ssh.connection import ConnState, HostConnection, StateChange

__all__ = ["keeper_opener", "linked"]

LINK_WAIT = 30.0
"""Seconds an opener waits for the host's link before failing (the feed then tries again)."""


def keeper_opener(connection: HostConnection, path: str) -> StreamOpener:
    """A StreamOpener for the keeper socket ``path`` on ``connection``'s host."""

    async def open_keeper() -> tuple[Any, Any]:
        conn = await linked(connection)
        generation = connection.generation
        try:
            return await conn.open_unix_connection(path)
        except asyncssh.ChannelOpenError as exc:
            up = connection.state is ConnState.CONNECTED and connection.generation == generation
            if up and exc.code == asyncssh.OPEN_CONNECT_FAILED:
                raise KeeperGone(
                    f"the kernel's output keeper on {connection.name} is gone ({path})"
                ) from exc
            raise

    return open_keeper


def _is_up(connection: HostConnection) -> bool:
    return connection.state is ConnState.CONNECTED


async def linked(
    connection: HostConnection, wait: float = LINK_WAIT
) -> asyncssh.SSHClientConnection:
    """The host's connection once it is up, without starting an attempt; SSHError after
    ``wait`` seconds."""
    if _is_up(connection):
        return connection.conn
    up = asyncio.Event()

    def on_change(change: StateChange) -> None:
        if change.state is ConnState.CONNECTED:
            up.set()

    unsubscribe = connection.subscribe(on_change)
    try:
        if not _is_up(connection):
            async with asyncio.timeout(wait):
                await up.wait()
    except TimeoutError:
        raise SSHError(f"{connection.name} is not connected ({connection.state})") from None
    finally:
        unsubscribe()
    return connection.conn
