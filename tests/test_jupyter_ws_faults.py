"""WebSocketChannels' fault paths that a real server does not show on demand: a message sent
twice, a server that refuses for good, one that never comes back (unit tests: an in-process
aiohttp websocket and connect functions that fail)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from jupyter_client.session import Session

from rtui.core.jupyter import wire
from rtui.core.jupyter.ws_channels import LinkGone, WebSocketChannels


class Refused(Exception):
    """aiohttp's handshake error for a 404 has this status."""

    status = 404


class Untrusted(Exception):
    """As jupyter/errors.py's TLSProblem: a certificate retrying will not fix."""

    error_kind = "tls"


@pytest_asyncio.fixture
async def echo_twice() -> AsyncIterator[str]:
    """A v1 websocket that answers each message with one iopub message, sent twice."""
    session = Session(key=b"", session="server")

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=(wire.V1_PROTOCOL,))
        await ws.prepare(request)
        async for frame in ws:
            _, asked = wire.decode_v1(frame.data)
            msg = session.msg("stream", {"name": "stdout", "text": "x"},
                              parent={"header": asked["header"]})
            for _ in range(2):
                await ws.send_bytes(wire.encode_v1("iopub", msg))
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"ws://127.0.0.1:{port}/ws"
    await runner.cleanup()


async def test_a_message_that_comes_twice_is_handed_on_once(echo_twice: str) -> None:
    got: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
            return await http.ws_connect(echo_twice, protocols=protocols)

        channels = WebSocketChannels(connect, name="ws", session_id="s")
        await channels.open()
        channels.start({"iopub": got.append}, lambda event: None)
        try:
            for _ in range(2):
                channels.send("shell", "execute_request", {"code": ""})
            async with asyncio.timeout(10):
                while channels.duplicates < 2:
                    await asyncio.sleep(0.01)
            assert len(got) == 2 and got[0]["msg_id"] != got[1]["msg_id"]
            assert channels.decoded == 2
        finally:
            await channels.close()


@pytest.mark.parametrize("refusal", [Refused, Untrusted])
async def test_a_refusal_is_final_at_once(refusal: type[Exception]) -> None:
    calls: list[tuple[str, ...]] = []

    async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        calls.append(protocols)
        raise refusal("kernel k is gone from the server")

    events: list[dict[str, Any]] = []
    channels = WebSocketChannels(connect, name="lab:k", session_id="s", give_up=30)
    with pytest.raises(refusal):
        await channels.open()  # the first socket's error comes to the caller as it is
    tasks = channels.start({}, events.append)
    async with asyncio.timeout(5):
        await tasks[0]
    assert len(calls) == 2
    assert events == [{"event": "gone", "reason": "lab:k: the server refused the kernel's "
                       "websocket: kernel k is gone from the server"}]
    await channels.close()


async def test_a_server_that_never_answers_is_given_up_with_a_clear_error() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        calls.append(loop.time())
        raise ConnectionRefusedError("Connect call failed ('127.0.0.1', 1)")

    events: list[dict[str, Any]] = []
    channels = WebSocketChannels(connect, name="lab:k", session_id="s", give_up=0.5)
    tasks = channels.start({}, events.append)
    async with asyncio.timeout(5):
        await tasks[0]
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) >= 3 and gaps[0] >= 0.1 and gaps[1] >= 0.2  # backing off
    assert [e["event"] for e in events] == ["gone"]
    assert "could not open the kernel's websocket within 0.5 s" in events[0]["reason"]
    assert "Connect call failed" in events[0]["reason"]
    with pytest.raises(LinkGone, match=r"within 0\.5 s"):
        channels.send("shell", "kernel_info_request", {})
    await channels.close()


async def test_a_socket_silent_for_three_pings_is_opened_again() -> None:
    """A link that died without a FIN or RST: the pings go unanswered, the channels drop
    the socket and open another with the same session id."""
    opened: list[str] = []

    async def handle(request: web.Request) -> web.WebSocketResponse:
        opened.append(request.query["session_id"])
        ws = web.WebSocketResponse(protocols=(wire.V1_PROTOCOL,), autoping=False)
        await ws.prepare(request)
        async for _ in ws:  # PINGs come here, and nobody answers them
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    events: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
            return await http.ws_connect(f"ws://127.0.0.1:{port}/ws?session_id=s1",
                                         protocols=protocols)

        channels = WebSocketChannels(connect, name="ws", session_id="s1")
        await channels.open()
        channels.start({}, events.append)
        try:
            assert [await channels.ping(0.05) for _ in range(3)] == [False] * 3
            async with asyncio.timeout(10):
                while channels.reconnects < 1:
                    await asyncio.sleep(0.01)
            assert events[0] == {"event": "lost", "reason": "no answer to 3 pings"}
            assert opened == ["s1", "s1"]
        finally:
            await channels.close()
            await runner.cleanup()


async def test_a_reset_on_reopening_an_http_url_is_retried(echo_twice: str) -> None:
    """tls.py reads a reset on an http:// URL as "is it https?" (right on a first try); on a
    link that worked, the same reset is a proxy or NAT dropping new connections a moment:
    the channels try again instead of calling the kernel gone."""
    from rtui.core.jupyter.tls import tls_problem

    resets = 2
    events: list[dict[str, Any]] = []
    got: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
            nonlocal resets
            if resets:
                resets -= 1
                guess = tls_problem("lab", "http://127.0.0.1:1/",
                                    ConnectionResetError(104, "Connection reset by peer"))
                assert guess is not None and guess.error_kind == "tls"
                raise guess
            return await http.ws_connect(echo_twice, protocols=protocols)

        channels = WebSocketChannels(connect, name="lab:k", session_id="s", give_up=30)
        channels.start({"iopub": got.append}, events.append)
        try:
            channels.send("shell", "execute_request", {"code": ""})
            async with asyncio.timeout(10):
                while not got:
                    await asyncio.sleep(0.01)
            assert resets == 0 and "gone" not in [e["event"] for e in events]
        finally:
            await channels.close()
