"""A KernelSession over a real jupyter_server's websocket, where the link's events meet the
session: a kernel that dies mid-cell fails that cell as a keeper's "restarted" does, the
session carries on with the kernel the server started again, and the heartbeat is the
websocket's ping. (The console's requests over the websocket and the seam after a drop:
test_jupyter_ws_session.py; the link's own events: test_jupyter_ws_channels.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from rtui.core.errors import KernelDiedError
from rtui.core.jupyter.ws_channels import WebSocketChannels
from rtui.core.kernels.events import ExecuteResult, KernelAlive, KernelEvent
from rtui.core.kernels.session import KernelSession
from tests.harness.jupyter import JupyterServerInfo

pytest.importorskip("jupyter_server")


@pytest_asyncio.fixture
async def session(jupyter_server: JupyterServerInfo) -> AsyncIterator[KernelSession]:
    """A session on a kernel of its own (this test kills it), deleted afterwards."""
    status, kernel = jupyter_server.api("kernels", "POST", {"name": "python3"})
    assert status == 201, kernel
    kernel_id, sid = str(kernel["id"]), uuid.uuid4().hex
    ws_url = jupyter_server.url.replace("http", "ws", 1)
    url = f"{ws_url}api/kernels/{kernel_id}/channels?session_id={sid}"
    try:
        async with aiohttp.ClientSession(
                headers={"Authorization": f"token {jupyter_server.token}"}) as http:
            async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
                return await http.ws_connect(url, protocols=protocols, max_msg_size=0)

            channels = WebSocketChannels(connect, name=f"lab:{kernel_id[:8]}", session_id=sid)
            await channels.open()
            session = KernelSession(channels, name=channels.name, heartbeat_interval=0.2)
            await session.start(timeout=30)
            try:
                yield session
            finally:
                await session.close()
    finally:
        jupyter_server.api(f"kernels/{kernel_id}", "DELETE")


async def result_of(session: KernelSession, code: str) -> str:
    events = [e async for e in session.execute(code)]
    (result,) = [e for e in events if isinstance(e, ExecuteResult)]
    return str(result.data["text/plain"])


async def test_a_kernel_that_dies_mid_cell_fails_it_and_the_session_carries_on(
        session: KernelSession) -> None:
    seen: list[KernelEvent] = []
    session.subscribe(seen.append)
    await asyncio.sleep(0.5)
    assert KernelAlive(True) in seen and session.alive is True  # pinged over the websocket
    assert await result_of(session, "x = 41; x + 1") == "42"
    dying = session.execute("import os, time; time.sleep(0.2); os._exit(1)")
    with pytest.raises(KernelDiedError, match="the kernel was restarted"):
        async with asyncio.timeout(20):  # the server's restarter: ~2.3 s here
            await dying.reply()
    assert session.exited is None  # restarted, not gone
    await session.wait_ready(20)
    assert await result_of(session, "'x' in dir()") == "False"  # a new kernel, same session
