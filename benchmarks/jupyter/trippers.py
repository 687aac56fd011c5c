"""The ``1+1`` round trip over each path: one open client of a kernel that can time it.

A round trip is the execute_request until both its execute_reply (shell) and its iopub
``status: idle`` are in, as benchmarks.roundtrip times it. Paths:

- rtui's ``KernelSession`` (the SSH kernel's, and over ``WebSocketChannels`` once the session
  takes channels): ``KernelSession.execute`` iterated to its end;
- rtui's ``WebSocketChannels`` alone: its handlers see the reply and the idle;
- a bare aiohttp client (jupyter_client's ``Session`` for the headers, the v1 framing): what
  the wire costs with nothing of rtui in it, QUICKACK set after every receive or not.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from jupyter_client.session import Session

from benchmarks.slurm.rtui_side import check_answer, roundtrip
from rtui.core.jupyter import wire
from rtui.core.jupyter.http import ServerClient
from rtui.core.jupyter.ws_channels import WebSocketChannels, quickacker
from rtui.core.kernels.session import KernelSession

__all__ = ["CODE", "Tripper", "bare_ws", "rtui_channels", "rtui_session", "session_tripper"]

CODE = "1+1"
SAMPLE_TIMEOUT = 10.0
OPEN_TIMEOUT = 30.0
EXECUTE = {"code": CODE, "silent": False, "store_history": False, "user_expressions": {},
           "allow_stdin": False, "stop_on_error": True}


class Tripper(Protocol):
    """An open path to a kernel."""

    async def check(self) -> None:
        """``1+1`` answers 2 (the path really reaches the kernel)."""

    async def roundtrip(self) -> float:
        """Seconds for one round trip."""


class SessionTripper:
    """rtui's KernelSession (the console's own client of a kernel)."""

    def __init__(self, session: KernelSession) -> None:
        self.session = session

    async def check(self) -> None:
        await check_answer(self.session)

    async def roundtrip(self) -> float:
        return await roundtrip(self.session)


@asynccontextmanager
async def session_tripper(session: KernelSession) -> AsyncIterator[Tripper]:
    """A session opened elsewhere (rtui's own for its kernel), left open."""
    yield SessionTripper(session)


@dataclass
class _Waiting:
    """One execute_request's answers as they come."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    reply: dict[str, Any] | None = None
    idle: bool = False
    result: str | None = None

    def seen(self) -> None:
        if self.reply is not None and self.idle:
            self.done.set()


class _Answers:
    """Collects replies and iopub by parent msg_id."""

    def __init__(self) -> None:
        self.waiting: dict[str, _Waiting] = {}

    def on_shell(self, msg: dict[str, Any]) -> None:
        waiting = self.waiting.get(msg.get("parent_header", {}).get("msg_id", ""))
        if waiting is not None and msg.get("msg_type") == "execute_reply":
            waiting.reply = msg
            waiting.seen()

    def on_iopub(self, msg: dict[str, Any]) -> None:
        waiting = self.waiting.get(msg.get("parent_header", {}).get("msg_id", ""))
        if waiting is None:
            return
        kind, content = msg.get("msg_type"), msg.get("content", {})
        if kind == "status" and content.get("execution_state") == "idle":
            waiting.idle = True
            waiting.seen()
        elif kind == "execute_result":
            waiting.result = content.get("data", {}).get("text/plain")

    async def wait(self, msg_id: str, waiting: _Waiting) -> _Waiting:
        try:
            async with asyncio.timeout(SAMPLE_TIMEOUT):
                await waiting.done.wait()
        finally:
            self.waiting.pop(msg_id, None)
        reply = waiting.reply or {}
        if reply.get("content", {}).get("status") != "ok":
            raise RuntimeError(f"`{CODE}` did not end with an ok execute_reply: {reply!r}")
        return waiting


class ChannelsTripper:
    """rtui's WebSocketChannels, without a session over it."""

    def __init__(self, channels: WebSocketChannels) -> None:
        self.channels = channels
        self.answers = _Answers()

    async def _execute(self) -> tuple[float, _Waiting]:
        waiting = _Waiting()
        started = time.perf_counter()
        msg_id = self.channels.send("shell", "execute_request", dict(EXECUTE))
        self.answers.waiting[msg_id] = waiting
        await self.answers.wait(msg_id, waiting)
        return time.perf_counter() - started, waiting

    async def check(self) -> None:
        _, waiting = await self._execute()
        if waiting.result != "2":
            raise RuntimeError(f"`{CODE}` answered {waiting.result!r}, not '2'")

    async def roundtrip(self) -> float:
        return (await self._execute())[0]


@asynccontextmanager
async def rtui_channels(client: ServerClient, kernel_id: str, *,
                        quickack: bool) -> AsyncIterator[Tripper]:
    """A fresh WebSocketChannels (its own session id) on the kernel, closed after."""
    channels = _ws_channels(client, kernel_id, quickack=quickack)
    tripper = ChannelsTripper(channels)
    try:
        async with asyncio.timeout(OPEN_TIMEOUT):
            await channels.open()
        channels.start({"shell": tripper.answers.on_shell, "iopub": tripper.answers.on_iopub},
                       lambda event: None)
        yield tripper
    finally:
        await channels.close()


def _ws_channels(client: ServerClient, kernel_id: str, *,
                 quickack: bool) -> WebSocketChannels:
    """rtui's channels on the kernel with a session id of their own."""
    session_id = uuid.uuid4().hex

    async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        return await client.open_websocket(kernel_id, session_id, protocols=protocols)

    return WebSocketChannels(connect, name=f"bench:{kernel_id[:8]}", session_id=session_id,
                             quickack=quickack)


@asynccontextmanager
async def rtui_session(client: ServerClient, kernel_id: str, *,
                       quickack: bool) -> AsyncIterator[Tripper]:
    """rtui's KernelSession over fresh WebSocketChannels: the console's own path."""
    channels = _ws_channels(client, kernel_id, quickack=quickack)
    session = KernelSession(channels, name=f"bench:{kernel_id[:8]}")
    try:
        async with asyncio.timeout(OPEN_TIMEOUT):
            await channels.open()
        await session.start(timeout=OPEN_TIMEOUT)
        yield SessionTripper(session)
    finally:
        await session.close()
        await channels.close()


class BareTripper:
    """A bare aiohttp websocket client: nothing of rtui but the v1 framing functions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session_id: str, *,
                 quickack: bool) -> None:
        self.ws = ws
        self.session = Session(key=b"unsigned", session=session_id, username="bench")
        self.ack = quickacker(ws) if quickack else None

    async def _execute(self) -> tuple[float, str | None]:
        msg = self.session.msg("execute_request", dict(EXECUTE))
        msg_id = msg["header"]["msg_id"]
        reply: dict[str, Any] | None = None
        idle, result = False, None
        async with asyncio.timeout(SAMPLE_TIMEOUT):
            started = time.perf_counter()
            await self.ws.send_bytes(wire.encode_v1("shell", msg))
            while reply is None or not idle:
                frame = await self.ws.receive()
                if self.ack is not None:
                    self.ack()
                if frame.type != aiohttp.WSMsgType.BINARY:
                    raise RuntimeError(f"the websocket ended: {frame.type.name} {frame.data}")
                channel, got = wire.decode_v1(frame.data)
                if got.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = got.get("msg_type")
                if channel == "shell" and kind == "execute_reply":
                    reply = got
                elif kind == "status" and got["content"].get("execution_state") == "idle":
                    idle = True
                elif kind == "execute_result":
                    result = got["content"].get("data", {}).get("text/plain")
            elapsed = time.perf_counter() - started
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"`{CODE}` did not end with an ok execute_reply: {reply!r}")
        return elapsed, result

    async def check(self) -> None:
        _, result = await self._execute()
        if result != "2":
            raise RuntimeError(f"`{CODE}` answered {result!r}, not '2'")

    async def roundtrip(self) -> float:
        return (await self._execute())[0]


@asynccontextmanager
async def bare_ws(base_url: str, token: str, kernel_id: str, *,
                  quickack: bool) -> AsyncIterator[Tripper]:
    """A bare v1 websocket on the kernel (its own session id), closed after."""
    session_id = uuid.uuid4().hex
    url = (base_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
           f"?session_id={session_id}")
    async with aiohttp.ClientSession(headers={"Authorization": f"token {token}"}) as http:
        async with asyncio.timeout(OPEN_TIMEOUT):
            ws = await http.ws_connect(url, protocols=(wire.V1_PROTOCOL,), max_msg_size=0)
        if ws.protocol != wire.V1_PROTOCOL:
            await ws.close()
            raise RuntimeError(f"the server did not take the v1 subprotocol ({ws.protocol})")
        try:
            yield BareTripper(ws, session_id, quickack=quickack)
        finally:
            await ws.close()
