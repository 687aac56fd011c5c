"""The agent relay's TCP target with ``quickack`` (rtui/agent/relay.py), in-process: the
socket to the target sends at once (TCP_NODELAY) and is ACKed at once after each read, so a
server that writes a reply and a small status apart (jupyter_server's kernel websocket) is
not held 40 ms by Nagle; without the flag nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest_asyncio

from rtui.agent.relay import CREDIT, DATA, HEADER, OPEN, OPENED, Relay, frame


class _Client:
    """The client end of an in-process relay: frames over a socket pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, sid: int, kind: int, payload: bytes = b"") -> None:
        self.writer.write(frame(sid, kind, payload))
        await self.writer.drain()

    async def receive(self) -> tuple[int, int, bytes]:
        """The next frame that is not credit for what we sent."""
        while True:
            sid, kind, size = HEADER.unpack(await self.reader.readexactly(HEADER.size))
            payload = await self.reader.readexactly(size)
            if kind != CREDIT:
                return sid, kind, payload


@pytest_asyncio.fixture
async def relayed() -> AsyncIterator[tuple[Relay, _Client, int]]:
    """A relay serving one end of a socket pair, its client, and an echo server's port."""
    handlers: list[asyncio.Task[None]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ours, theirs = socket.socketpair()
    relay = Relay(*await asyncio.open_connection(sock=theirs))
    serving = asyncio.ensure_future(relay.serve())
    client = _Client(*await asyncio.open_connection(sock=ours))
    try:
        yield relay, client, port
    finally:
        relay.close()  # closes its sockets to the echo server: its handlers end
        serving.cancel()
        client.writer.close()
        server.close()
        if handlers:
            await asyncio.wait(handlers, timeout=5)


async def _open(client: _Client, sid: int, spec: dict[str, object]) -> None:
    await client.send(sid, OPEN, json.dumps(spec).encode())
    assert await asyncio.wait_for(client.receive(), 10) == (sid, OPENED, b"")


def _quick(relay: Relay, sid: int) -> socket.socket | None:
    """The socket the relay ACKs at once after each read (None: it is left alone)."""
    quick = relay.streams[sid].quick
    assert quick is None or int(quick.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return quick  # type: ignore[no-any-return]


async def test_a_quickack_target_sends_at_once_and_carries_the_bytes(
        relayed: tuple[Relay, _Client, int]) -> None:
    relay, client, port = relayed
    await _open(client, 1, {"tcp": ["127.0.0.1", port], "quickack": True})
    await _open(client, 2, {"tcp": ["127.0.0.1", port]})
    quick = _quick(relay, 1)
    assert quick is not None and quick.getpeername()[1] == port  # the socket to the target
    assert _quick(relay, 2) is None  # a plain TCP target is left as it was
    for sid in (1, 2):
        for n in range(3):  # each read is followed by a QUICKACK: the stream goes on
            await client.send(sid, DATA, f"ping {n}".encode())
            got, kind, payload = await asyncio.wait_for(client.receive(), 10)
            assert (got, kind, payload) == (sid, DATA, f"ping {n}".encode())
