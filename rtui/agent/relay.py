"""The relay: many streams to host-side sockets multiplexed over ONE exec channel.

For servers that forward neither Unix sockets nor TCP (``AllowTcpForwarding no`` on a
cluster): the client runs ``<python> <agent .pyz> relay`` once per connection and every
stream to a kernel's or a keeper's socket goes through it. One channel, because OpenSSH's
MaxSessions (10) is shared with the agent, the PTY and SFTP.

Framing, both ways: a 9-byte header ``>IBI`` (stream id, type, payload length), then the
payload (at most MAX_PAYLOAD bytes). The client picks stream ids (never reused). Types:

- OPEN (client): JSON ``{"unix": PATH}`` or ``{"tcp": [HOST, PORT]}``; with ``"quickack":
  true`` a TCP target's socket gets TCP_NODELAY, and TCP_QUICKACK after each read: a server
  that never sets TCP_NODELAY (jupyter_server's kernel websocket) sends a reply and a small
  status as two writes, and Nagle holds the second until the ACK that Linux delays 40 ms.
- OPENED (host): the stream is connected.
- DATA: bytes for the other end.
- EOF: the sender will send no more DATA (its reading side ended).
- CLOSE: the stream is gone (the receiver drops it, answering nothing).
- ERROR (host): UTF-8 reason; the stream is gone (its open failed, or its socket did).
- CREDIT: ``>I`` bytes the receiver has passed on; the sender may send that many more.

Flow control: each direction of each stream may have at most WINDOW bytes sent and not yet
credited. A stream whose reader is slow stops at WINDOW (memory stays bounded), and since
every frame is at most CHUNK bytes and each stream waits its turn for the channel, a flood on
one stream cannot starve the others. Standard library only (Python >= 3.8).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADER = struct.Struct(">IBI")
OPEN, OPENED, DATA, EOF, CLOSE, ERROR, CREDIT = 1, 2, 3, 4, 5, 6, 7
WINDOW = 256 * 1024
CHUNK = 32 * 1024
MAX_PAYLOAD = 64 * 1024
CONNECT_TIMEOUT = 10.0
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only: elsewhere the 40 ms stays


def frame(sid: int, kind: int, payload: bytes = b"") -> bytes:
    """One frame, header and payload, to be written in one piece."""
    return HEADER.pack(sid, kind, len(payload)) + payload


class _Stream:
    """One relayed stream: its socket, what came for it, and what it may still send."""

    def __init__(self, relay: Relay, sid: int) -> None:
        self.relay = relay
        self.sid = sid
        self.credit = WINDOW  # bytes we may still send to the client
        self.credited = asyncio.Event()
        self.credited.set()
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queued = 0  # bytes in inbox: the client may not exceed WINDOW
        self.tasks: list[asyncio.Task[None]] = []
        self.writer: asyncio.StreamWriter | None = None
        self.ended = 0  # directions finished (2: the stream is done)
        # A TCP target's socket ACKed at once after each read (Linux clears TCP_QUICKACK
        # again as it acks), when the client asked and the system can.
        self.quick: Any = None

    async def run(self, target: dict[str, Any]) -> None:
        try:
            reader, self.writer = await asyncio.wait_for(_connect(target), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:  # noqa: UP041 (not TimeoutError before 3.11)
            await self.fail(f"cannot connect to {_describe(target)} within "
                            f"{CONNECT_TIMEOUT:g} s")
            return
        except (OSError, ValueError, TypeError, KeyError) as e:
            reason = getattr(e, "strerror", None) or e
            await self.fail(f"cannot connect to {_describe(target)}: {reason}")
            return
        if self.relay.streams.get(self.sid) is not self:  # closed while connecting
            self.close_socket()
            return
        if target.get("quickack"):
            self.quick = _quickack_socket(self.writer)
        await self.relay.send(frame(self.sid, OPENED))
        loop = asyncio.get_event_loop()
        self.tasks += [loop.create_task(self.up(reader)), loop.create_task(self.down())]

    async def up(self, reader: asyncio.StreamReader) -> None:
        """Socket to client, within the credit the client gives."""
        quick = self.quick
        try:
            while True:
                await self.credited.wait()
                data = await reader.read(min(self.credit, CHUNK))
                if not data:
                    await self.relay.send(frame(self.sid, EOF))
                    break
                if quick is not None:
                    quick.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                self.credit -= len(data)
                if self.credit <= 0:
                    self.credited.clear()
                await self.relay.send(frame(self.sid, DATA, data))
        except OSError as e:
            await self.fail(f"lost the socket: {e.strerror or e}")
            return
        await self.finish_one()

    async def down(self) -> None:
        """Client to socket; credit goes back once the socket took the bytes."""
        assert self.writer is not None
        try:
            while True:
                data = await self.inbox.get()
                if data is None:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    break
                self.queued -= len(data)
                self.writer.write(data)
                await self.writer.drain()
                await self.relay.send(frame(self.sid, CREDIT, struct.pack(">I", len(data))))
        except OSError as e:
            await self.fail(f"lost the socket: {e.strerror or e}")
            return
        await self.finish_one()

    def receive(self, kind: int, payload: bytes) -> None:
        if kind == DATA:
            self.queued += len(payload)
            if self.queued > WINDOW:  # the client ignored its window: drop the stream
                self.tasks.append(asyncio.get_event_loop().create_task(
                    self.fail("the client overran its window")))
                return
            self.inbox.put_nowait(payload)
        elif kind == EOF:
            self.inbox.put_nowait(None)
        elif kind == CREDIT and len(payload) == 4:
            self.credit += struct.unpack(">I", payload)[0]
            if self.credit > 0:
                self.credited.set()
        elif kind == CLOSE:
            self.drop()

    async def finish_one(self) -> None:
        self.ended += 1
        if self.ended == 2 and self.relay.streams.pop(self.sid, None) is self:
            await self.relay.send(frame(self.sid, CLOSE))
            self.close_socket()

    async def fail(self, reason: str) -> None:
        if self.relay.streams.pop(self.sid, None) is self:
            await self.relay.send(frame(self.sid, ERROR, reason.encode("utf-8", "replace")))
        self.drop()

    def drop(self) -> None:
        self.relay.streams.pop(self.sid, None)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        self.close_socket()

    def close_socket(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Relay:
    """The host end: frames from stdin, frames to stdout."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, _Stream] = {}
        self.write_lock = asyncio.Lock()  # one drain at a time (3.8 allows no more)

    async def send(self, data: bytes) -> None:
        async with self.write_lock:
            self.writer.write(data)
            await self.writer.drain()

    async def serve(self) -> None:
        loop = asyncio.get_event_loop()
        while True:
            try:
                sid, kind, size = HEADER.unpack(await self.reader.readexactly(HEADER.size))
                if size > MAX_PAYLOAD:
                    sys.stderr.write(f"rtui relay: a frame of {size} bytes; stopping\n")
                    return
                payload = await self.reader.readexactly(size)
            except (asyncio.IncompleteReadError, OSError):
                return  # the channel closed: the client is gone
            if kind == OPEN:
                if sid in self.streams:
                    continue
                stream = _Stream(self, sid)
                self.streams[sid] = stream
                try:
                    target = json.loads(payload.decode("utf-8"))
                except ValueError:
                    target = None
                if not isinstance(target, dict):
                    stream.tasks.append(loop.create_task(stream.fail("a bad OPEN request")))
                    continue
                stream.tasks.append(loop.create_task(stream.run(target)))
            else:
                found = self.streams.get(sid)
                if found is not None:
                    found.receive(kind, payload)

    def close(self) -> None:
        for stream in list(self.streams.values()):
            stream.drop()


async def _connect(target: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if "unix" in target:
        return await asyncio.open_unix_connection(str(target["unix"]), limit=CHUNK)
    host, port = target["tcp"]
    return await asyncio.open_connection(str(host), int(port), limit=CHUNK)


def _quickack_socket(writer: asyncio.StreamWriter | None) -> Any:
    """The TCP socket under ``writer``, set to send at once (TCP_NODELAY: asyncio sets it
    too, an older one may not) and ACK at once (TCP_QUICKACK); None when the system cannot
    (not Linux) or it is no TCP socket."""
    sock = writer.get_extra_info("socket") if writer is not None else None
    if _QUICKACK is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    except OSError:
        return None
    return sock


def _describe(target: dict[str, Any]) -> str:
    if "unix" in target:
        return str(target["unix"])
    tcp = target.get("tcp") or ["?", "?"]
    return f"{tcp[0]}:{tcp[1]}"


async def _main() -> None:
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader(limit=MAX_PAYLOAD * 2)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(0, "rb", buffering=0, closefd=False))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(1, "wb", buffering=0, closefd=False))
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    relay = Relay(reader, writer)
    try:
        await relay.serve()
    finally:
        relay.close()


def main() -> None:
    """``<python> <agent .pyz> relay``: serve until the channel closes."""
    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass
    os._exit(0)
