"""The client end of the relay (``rtui/agent/relay.py`` has the framing): streams to host
sockets multiplexed over one exec channel, each with asyncio-style reader and writer.

Flow control as the host's: at most ``WINDOW`` bytes of a stream in flight each way; a
stream's reader gives credit back as it is read, its writer waits (``drain``) for credit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
from collections.abc import Callable

import asyncssh

from rtui.agent.relay import (
    CHUNK,
    CLOSE,
    CREDIT,
    DATA,
    EOF,
    ERROR,
    HEADER,
    MAX_PAYLOAD,
    OPEN,
    OPENED,
    WINDOW,
    frame,
)
from rtui.core.errors import SSHError, TargetUnreachableError

__all__ = ["RelayChannel", "RelayReader", "RelayWriter", "Target"]

log = logging.getLogger(__name__)

Target = tuple[str, str] | tuple[str, str, int]  # ("unix", path) | ("tcp", host, port)
_CREDIT_AT = WINDOW // 4  # give credit back in batches of this many bytes read


class RelayReader:
    """What the host socket sent, as asyncio's StreamReader reads it (read, readexactly,
    readline, at_eof); reading gives the host credit to send more."""

    def __init__(self, give_credit: Callable[[int], None]) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._give_credit = give_credit
        self._owed = 0  # bytes read and not yet credited

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._wake()

    def feed_eof(self, error: Exception | None = None) -> None:
        self._eof = True
        self._error = self._error or error
        self._wake()

    def at_eof(self) -> bool:
        return self._eof and not self._buffer

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet (at most the window: the host waits for credit)."""
        return len(self._buffer)

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all there are when ``n`` < 0); b"" at the end."""
        while not self._buffer and not self._eof:
            await self._wait()
        if not self._buffer and self._error is not None:
            raise self._error
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        return self._take(size)

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if self._eof:
                if self._error is not None and not self._buffer:
                    raise self._error  # the stream broke: say why, not "incomplete"
                partial = self._take(len(self._buffer))
                raise asyncio.IncompleteReadError(partial, n)
            await self._wait()
        return self._take(n)

    async def readline(self) -> bytes:
        while b"\n" not in self._buffer and not self._eof:
            await self._wait()
        end = self._buffer.find(b"\n")
        return self._take(len(self._buffer) if end < 0 else end + 1)

    def _take(self, n: int) -> bytes:
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        self._owed += n
        if self._owed and (self._owed >= _CREDIT_AT or not self._buffer) and not self._eof:
            owed, self._owed = self._owed, 0
            self._give_credit(owed)
        return data

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class RelayWriter:
    """Bytes for the host socket, as asyncio's StreamWriter takes them; ``drain`` waits
    until the host has room (its credit) and the channel took them."""

    def __init__(self, channel: RelayChannel, sid: int) -> None:
        self._channel = channel
        self._sid = sid
        self._pending = bytearray()
        self._credit = WINDOW
        self._closed = False
        self._eof_asked = False
        self._eof_sent = False
        self._room: asyncio.Event = asyncio.Event()
        self._room.set()
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionResetError("the relayed stream is closed")
        self._pending += data
        self._flush()

    def write_eof(self) -> None:
        self._eof_asked = True
        self._flush()

    def can_write_eof(self) -> bool:
        return True

    async def drain(self) -> None:
        while self._pending and not self._closed:
            self._room.clear()
            await self._room.wait()
        if self._closed and self._pending:
            raise ConnectionResetError("the relayed stream closed before its data was sent")
        await self._channel.drain()

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._channel.close_stream(self._sid)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._done)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def add_credit(self, n: int) -> None:
        self._credit += n
        self._flush()

    def closed(self) -> None:
        """The stream is gone (either side): wake every drain, refuse further writes."""
        self._closed = True
        self._room.set()
        if not self._done.done():
            self._done.set_result(None)

    def _flush(self) -> None:
        while self._pending and self._credit > 0 and not self._closed:
            size = min(len(self._pending), self._credit, CHUNK)
            self._channel.send(frame(self._sid, DATA, bytes(self._pending[:size])))
            del self._pending[:size]
            self._credit -= size
        if not self._pending:
            self._room.set()
            if self._eof_asked and not self._eof_sent and not self._closed:
                self._eof_sent = True
                self._channel.send(frame(self._sid, EOF))


class _Stream:
    def __init__(self, channel: RelayChannel, sid: int) -> None:
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reader = RelayReader(lambda n: channel.send(frame(sid, CREDIT, struct.pack(">I", n))))
        self.writer = RelayWriter(channel, sid)


class RelayChannel:
    """One ``relay`` process on the host, over one exec channel, and its streams."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes], name: str) -> None:
        self.name = name
        self._process = process
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._reason = "the relay closed"
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self, target: Target, *, timeout: float,
                   quickack: bool = False) -> tuple[RelayReader, RelayWriter]:
        """A new stream to ``target`` on the host; SSHError naming why it cannot be.
        ``quickack``: the host end ACKs a TCP target's data at once (see the agent's relay)."""
        if self._closed:
            raise SSHError(f"the relay to {self.name} is closed: {self._reason}")
        sid = next(self._ids)
        stream = _Stream(self, sid)
        self._streams[sid] = stream
        spec: dict[str, object] = (
            {"unix": target[1]} if target[0] == "unix" else {"tcp": list(target[1:])})
        if quickack and target[0] == "tcp":
            spec["quickack"] = True
        self.send(frame(sid, OPEN, json.dumps(spec).encode()))
        try:
            await asyncio.wait_for(asyncio.shield(stream.opened), timeout)
        except TimeoutError:
            self.close_stream(sid)
            raise SSHError(f"the relay on {self.name} did not open {describe(target)} "
                           f"within {timeout:g} s") from None
        except BaseException:
            self.close_stream(sid)
            raise
        return stream.reader, stream.writer

    def send(self, data: bytes) -> None:
        if not self._closed:
            try:
                self._process.stdin.write(data)
            except (asyncssh.Error, OSError) as exc:
                self._close(f"cannot write to the relay: {exc}")

    async def drain(self) -> None:
        if not self._closed:
            with contextlib.suppress(asyncssh.Error, OSError):
                await self._process.stdin.drain()

    def close_stream(self, sid: int) -> None:
        stream = self._streams.pop(sid, None)
        if stream is None:
            return
        self.send(frame(sid, CLOSE))
        self._end(stream, None)

    def close(self) -> None:
        self._close("closed")
        self._reader.cancel()
        with contextlib.suppress(Exception):
            self._process.close()

    def _end(self, stream: _Stream, error: Exception | None) -> None:
        if not stream.opened.done():
            stream.opened.set_exception(error or SSHError("the relayed stream closed"))
            stream.opened.exception()
        stream.reader.feed_eof(error)
        stream.writer.closed()

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed, self._reason = True, reason
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            self._end(stream, ConnectionResetError(f"the relay to {self.name} closed: {reason}"))

    async def _read(self) -> None:
        stdout = self._process.stdout
        reason = "the relay exited"
        try:
            while True:
                sid, kind, size = HEADER.unpack(await stdout.readexactly(HEADER.size))
                if size > MAX_PAYLOAD:
                    reason = f"the relay sent a frame of {size} bytes"
                    break
                payload = await stdout.readexactly(size) if size else b""
                self._dispatch(sid, kind, payload)
        except asyncio.IncompleteReadError:
            pass
        except (asyncssh.Error, OSError) as exc:
            reason = str(exc)
        finally:
            self._close(reason)
            with contextlib.suppress(Exception):
                self._process.close()

    def _dispatch(self, sid: int, kind: int, payload: bytes) -> None:
        stream = self._streams.get(sid)
        if stream is None:
            return
        if kind == OPENED:
            if not stream.opened.done():
                stream.opened.set_result(None)
        elif kind == DATA:
            stream.reader.feed(payload)
        elif kind == EOF:
            stream.reader.feed_eof()
        elif kind == CREDIT and len(payload) == 4:
            stream.writer.add_credit(struct.unpack(">I", payload)[0])
        elif kind in (CLOSE, ERROR):
            self._streams.pop(sid, None)
            message = payload.decode("utf-8", "replace")
            error = (TargetUnreachableError(f"{self.name}: {message}") if kind == ERROR
                     else None)
            if error is not None and stream.opened.done():
                self._end(stream, ConnectionResetError(message))
            else:
                self._end(stream, error)


def describe(target: Target) -> str:
    """A target as people read it: a path, or host:port."""
    return ":".join(str(part) for part in target[1:])
