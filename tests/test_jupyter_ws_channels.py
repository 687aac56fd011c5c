"""WebSocketChannels against a real jupyter_server: 1+1 over v1 and legacy, the v1 -> legacy
rule behind a proxy that drops the protocol header, a drop mid-cell through a TCP relay (the
server's replay with the same session id, no duplicates, the seam events), a kernel shut
down elsewhere, and the TCP socket helper behind TCP_QUICKACK. The restart after the kernel
dies is in test_jupyter_ws_session.py (through the session that acts on it)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from rtui.core.jupyter import wire
from rtui.core.jupyter.ws_channels import LinkGone, WebSocketChannels, quickacker, tcp_socket
from rtui.core.kernels.channels import Channel, MessageHandler
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.relay import TCPRelay

pytest.importorskip("jupyter_server")


@pytest.fixture(scope="module")
def kernel_id(jupyter_server: JupyterServerInfo) -> Iterator[str]:
    """One kernel for the module (each test has its own session id on it); the restart
    test runs last: the kernel it kills comes back."""
    status, kernel = jupyter_server.api("kernels", "POST", {"name": "python3"})
    assert status == 201, kernel
    yield str(kernel["id"])
    jupyter_server.api(f"kernels/{kernel['id']}", "DELETE")


@pytest_asyncio.fixture
async def http(jupyter_server: JupyterServerInfo) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"token {jupyter_server.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield session


def ws_connect(http: aiohttp.ClientSession, server: JupyterServerInfo, kid: str, sid: str, *,
               port: int | None = None, hide_protocol: bool = False,
               calls: list[tuple[str, ...]] | None = None) -> Any:
    """connect(protocols) as jservice wires it, optionally through a relay's port or
    behind a proxy that drops the Sec-WebSocket-Protocol reply header."""
    base = server.url.replace("http", "ws", 1)
    if port is not None:
        base = f"ws://127.0.0.1:{port}/"

    async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        if calls is not None:
            calls.append(protocols)
        ws = await http.ws_connect(f"{base}api/kernels/{kid}/channels?session_id={sid}",
                                   protocols=protocols, max_msg_size=0, autoping=False)
        if hide_protocol:
            ws._protocol = None  # what PyPI's configurable-http-proxy shows the client
        return ws

    return connect


class Inbox:
    """What the channels hand on and the events they tell, with waits on both."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def handlers(self) -> dict[Channel, MessageHandler]:
        def on(channel: str) -> MessageHandler:
            def handle(msg: dict[str, Any]) -> None:
                self.messages.append((channel, msg))
                self._changed.set()
            return handle
        return {channel: on(channel) for channel in ("shell", "control", "stdin", "iopub")}

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, found: Any, timeout: float = 20) -> Any:
        async with asyncio.timeout(timeout):
            while not (result := found()):
                self._changed.clear()
                await self._changed.wait()
        return result

    def reply(self, msg_id: str) -> dict[str, Any] | None:
        for channel, msg in self.messages:
            if channel == "shell" and msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def of(self, msg_id: str, msg_type: str) -> list[dict[str, Any]]:
        return [msg for _, msg in self.messages
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == msg_type]

    def event(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == kind), None)


def execute(channels: WebSocketChannels, code: str) -> str:
    return channels.send("shell", "execute_request", {
        "code": code, "silent": False, "store_history": False, "user_expressions": {},
        "allow_stdin": False})


async def run(channels: WebSocketChannels, inbox: Inbox, code: str) -> list[dict[str, Any]]:
    """Execute; wait for the reply and the idle status; the results."""
    msg_id = execute(channels, code)
    await inbox.wait_for(lambda: inbox.reply(msg_id) and any(
        m["content"]["execution_state"] == "idle" for m in inbox.of(msg_id, "status")))
    return inbox.of(msg_id, "execute_result")


def one_plus_one(results: list[dict[str, Any]]) -> str:
    assert len(results) == 1
    return str(results[0]["content"]["data"]["text/plain"])


async def test_one_plus_one_over_v1(
        jupyter_server: JupyterServerInfo, http: aiohttp.ClientSession, kernel_id: str,
) -> None:
    inbox = Inbox()
    sid = uuid.uuid4().hex
    channels = WebSocketChannels(ws_connect(http, jupyter_server, kernel_id, sid), name="ws",
                                 session_id=sid)
    await channels.open()
    channels.start(inbox.handlers(), inbox.on_event)
    try:
        assert channels.protocol == "v1"
        assert one_plus_one(await run(channels, inbox, "1+1")) == "2"
        assert channels.bad_signatures == 0 and channels.undecodable == 0
        assert await channels.ping(5)
        assert inbox.events == []
    finally:
        await channels.close()


async def test_legacy_behind_a_proxy_that_drops_the_protocol(
        jupyter_server: JupyterServerInfo, http: aiohttp.ClientSession, kernel_id: str,
) -> None:
    """The server spoke v1 but the client cannot know: reopen offering nothing (legacy),
    and keep legacy for the reconnects."""
    calls: list[tuple[str, ...]] = []
    inbox = Inbox()
    sid = uuid.uuid4().hex
    connect = ws_connect(http, jupyter_server, kernel_id, sid, hide_protocol=True, calls=calls)
    channels = WebSocketChannels(connect, name="ws", session_id=sid)
    await channels.open()
    channels.start(inbox.handlers(), inbox.on_event)
    try:
        assert calls == [(wire.V1_PROTOCOL,), ()]
        assert channels.protocol == "legacy"
        assert one_plus_one(await run(channels, inbox, "1+1")) == "2"
        # A stream with a date in its content (legacy JSON) and a display with buffers-less
        # data: the same message shapes as over v1.
        msg_id = execute(channels, "print('hi')")
        await inbox.wait_for(lambda: inbox.of(msg_id, "stream"))
        assert inbox.of(msg_id, "stream")[0]["content"]["text"] == "hi\n"
        assert isinstance(inbox.of(msg_id, "stream")[0]["header"]["date"], str)
    finally:
        await channels.close()


async def test_drop_mid_cell_replays_with_the_same_session(
        jupyter_server: JupyterServerInfo, http: aiohttp.ClientSession, kernel_id: str,
) -> None:
    """The relay is cut while a cell prints and refuses for a while: the channels reopen
    with the same session id, the server replays what it kept (execute_reply on shell
    too), nothing comes twice, and the seam is told as the keeper tells it."""
    relay = await TCPRelay("127.0.0.1", jupyter_server.port).start()
    inbox = Inbox()
    sid = uuid.uuid4().hex
    calls: list[tuple[str, ...]] = []
    channels = WebSocketChannels(
        ws_connect(http, jupyter_server, kernel_id, sid, port=relay.port, calls=calls),
        name="ws", session_id=sid)
    await channels.open()
    channels.start(inbox.handlers(), inbox.on_event)
    try:
        msg_id = execute(channels, "import time\nfor i in range(16):\n"
                                   "    print(i, flush=True); time.sleep(0.1)")

        def printed() -> list[int]:
            return [int(n) for m in inbox.of(msg_id, "stream")
                    for n in m["content"]["text"].split()]

        await inbox.wait_for(lambda: 2 in printed())
        relay.refuse_new = True
        relay.cut()
        await inbox.wait_for(lambda: inbox.event("lost"))
        await asyncio.sleep(0.6)  # the cell prints on while nobody listens
        relay.refuse_new = False
        replayed = await inbox.wait_for(lambda: inbox.event("replayed"))
        reply = await inbox.wait_for(lambda: inbox.reply(msg_id))
        assert reply["content"]["status"] == "ok"
        assert replayed["count"] > 0  # the server kept them for this session id
        assert replayed["t0"] is not None and replayed["t0"] <= replayed["t1"]
        assert time.time() - 30 < replayed["t0"]
        # What the cell printed while the link was down came in the replay, in order.
        assert printed()[-1] == 15
        numbers = printed()
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        ids = [msg["msg_id"] for _, msg in inbox.messages]
        assert len(ids) == len(set(ids))
        assert channels.reconnects == 1
        assert calls == [(wire.V1_PROTOCOL,)] * len(calls) and len(calls) >= 2
        assert [e["event"] for e in inbox.events] == ["lost", "replayed"]
        assert one_plus_one(await run(channels, inbox, "1+1")) == "2"  # and it goes on
    finally:
        await channels.close()
        await relay.close()


async def test_tcp_socket_is_found_for_tcp_only(
        jupyter_server: JupyterServerInfo, http: aiohttp.ClientSession, kernel_id: str,
) -> None:
    """TCP_QUICKACK needs the socket under aiohttp's websocket: found over TCP (and the
    option set), None over a Unix socket (the --via route)."""
    ws = await ws_connect(http, jupyter_server, kernel_id, uuid.uuid4().hex)(())
    try:
        sock = tcp_socket(ws)
        assert sock is not None and sock.family == socket.AF_INET
        ack = quickacker(ws)
        if hasattr(socket, "TCP_QUICKACK"):
            assert ack is not None
            ack()
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
        else:
            assert ack is None
    finally:
        await ws.close()

    async def echo(request: web.Request) -> web.WebSocketResponse:
        wsr = web.WebSocketResponse()
        await wsr.prepare(request)
        await wsr.close()
        return wsr

    app = web.Application()
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "ws.sock")  # short: a socket path
    await web.UnixSite(runner, path).start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as unix:
            ws = await unix.ws_connect("http://localhost/ws")
            assert tcp_socket(ws) is None and quickacker(ws) is None
            await ws.close()
    finally:
        await runner.cleanup()


async def test_a_kernel_shut_down_elsewhere_is_gone(
        jupyter_server: JupyterServerInfo, http: aiohttp.ClientSession, kernel_id: str,
) -> None:
    """Shut down through REST (another client): the server keeps the socket open, iopub
    carries the kernel's shutdown_reply; that is gone, the socket is closed, sending says
    so, and nothing is reopened. (Last: it deletes the module's kernel.)"""
    inbox = Inbox()
    sid = uuid.uuid4().hex
    calls: list[tuple[str, ...]] = []
    channels = WebSocketChannels(ws_connect(http, jupyter_server, kernel_id, sid, calls=calls),
                                 name="lab:k", session_id=sid)
    await channels.open()
    tasks = channels.start(inbox.handlers(), inbox.on_event)
    try:
        async with http.delete(f"{jupyter_server.url}api/kernels/{kernel_id}") as resp:
            assert resp.status == 204
        await inbox.wait_for(lambda: inbox.event("gone"))
        assert inbox.events == [{"event": "gone", "reason": "lab:k: the kernel was shut down"}]
        async with asyncio.timeout(5):
            await tasks[0]  # the reader ends: nothing to reopen
        assert not channels.connected and len(calls) == 1
        with pytest.raises(LinkGone, match="shut down"):
            channels.send("shell", "kernel_info_request", {})
    finally:
        await channels.close()
