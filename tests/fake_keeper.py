"""A stand-in for the host's output keeper, for unit tests of the client side: the keeper
protocol of DESIGN15.md on a local Unix socket, fed by hand or by a real kernel's iopub.

The integration tests use the real keeper (rtui/agent/keeper.py) through the real sshd."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

__all__ = ["FakeKeeper", "encode_event", "encode_message"]


def encode_message(seq: int, received: float, frames: list[bytes]) -> bytes:
    body = struct.pack(">BQdH", 1, seq, received, len(frames))
    body += b"".join(struct.pack(">I", len(f)) + f for f in frames)
    return struct.pack(">I", len(body)) + body


def encode_event(event: dict[str, Any]) -> bytes:
    body = b"\x02" + json.dumps(event).encode()
    return struct.pack(">I", len(body)) + body


class FakeKeeper:
    """Keeps every message it is given (numbered from ``first_seq``), serves ``follow``."""

    def __init__(self, path: Path, *, first_seq: int = 1) -> None:
        self.path = path
        self.kept: list[tuple[int, float, list[bytes]]] = []
        self.next = first_seq
        self.lag = 0.0
        """Seconds each live message takes to reach a follower (a slow iopub path)."""
        self.requests: list[dict[str, Any]] = []
        self.refuse = False
        self.exit: dict[str, Any] | None = None  # set: the kernel has exited
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._sub_task: asyncio.Task[None] | None = None
        self._ctx: zmq.asyncio.Context | None = None

    async def start(self) -> FakeKeeper:
        self._server = await asyncio.start_unix_server(self._serve, str(self.path))
        return self

    def subscribe(self, iopub_url: str) -> None:
        """Keep a real kernel's iopub (as the keeper does: SUB, no high-water mark)."""
        self._ctx = zmq.asyncio.Context()
        sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(iopub_url)

        async def pump() -> None:
            while True:
                self.add(await sub.recv_multipart())

        self._sub_task = asyncio.create_task(pump())

    def add(self, frames: list[bytes]) -> int:
        seq = self.next
        self.next += 1
        record = (seq, time.time(), frames)
        self.kept.append(record)
        data = encode_message(*record)
        for writer in list(self._clients):
            self._send(writer, data)
        return seq

    def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if self.lag:  # the hop to the client, made long: same delay each, order kept
            asyncio.get_running_loop().call_later(self.lag, writer.write, data)
        else:
            writer.write(data)

    def event(self, event: dict[str, Any]) -> None:
        data = encode_event(event)
        for writer in list(self._clients):
            writer.write(data)

    def drop_clients(self) -> None:
        """Every follower's stream ends abruptly (a link cut, as far as the client knows)."""
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()

    @property
    def followers(self) -> int:
        return len(self._clients)

    async def wait_followers(self, n: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while len(self._clients) < n:
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        self.drop_clients()
        if self._sub_task is not None:
            self._sub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sub_task
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        request = json.loads(line)
        self.requests.append(request)
        if request.get("op") == "status":
            writer.write(json.dumps({"ok": True, "next": self.next}).encode() + b"\n")
            writer.close()
            return
        if self.refuse:
            writer.write(b'{"ok": false, "error": "no such kernel"}\n')
            writer.close()
            return
        first = self.kept[0][0] if self.kept else self.next
        header = {"ok": True, "first": first, "next": self.next,
                  "state": "exited" if self.exit else "running", "exit": self.exit}
        writer.write(json.dumps(header).encode() + b"\n")
        since, tail = request.get("since"), int(request.get("tail") or 0)
        if since is None:
            backlog = self.kept[-tail:] if tail else []
            dropped = 0
        else:
            backlog = [r for r in self.kept if r[0] > since]
            dropped = max(0, first - since - 1)
        for record in backlog:
            writer.write(encode_message(*record))
        writer.write(encode_event({
            "event": "replayed", "count": len(backlog),
            "t0": backlog[0][1] if backlog else None, "t1": backlog[-1][1] if backlog else None,
            "dropped": dropped}))
        self._clients.add(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the client goes
        self._clients.discard(writer)
        writer.close()

    def opener(self) -> Callable[[], Any]:
        """A StreamOpener for this keeper's socket."""
        async def open_stream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_unix_connection(str(self.path))

        return open_stream
