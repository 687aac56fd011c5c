"""A KernelSession over WebSocketChannels on a real jupyter_server: the console's requests
(execute, input(), completion), the seam after the link drops mid-cell and a kernel that
dies and is restarted by the server, as an SSH kernel's session does them over zmq."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio

from rtui.core.errors import KernelDiedError
from rtui.core.jupyter.ws_channels import WebSocketChannels
from rtui.core.kernels.events import (
    ExecuteResult,
    InputRequest,
    KernelEvent,
    LinkLost,
    OutputReplayed,
    Stream,
)
from rtui.core.kernels.session import KernelSession
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.relay import TCPRelay

pytest.importorskip("jupyter_server")


@pytest.fixture(scope="module")
def kernel_id(jupyter_server: JupyterServerInfo) -> Iterator[str]:
    status, kernel = jupyter_server.api("kernels", "POST", {"name": "python3"})
    assert status == 201, kernel
    yield str(kernel["id"])
    jupyter_server.api(f"kernels/{kernel['id']}", "DELETE")


@pytest_asyncio.fixture
async def relay(jupyter_server: JupyterServerInfo) -> AsyncIterator[TCPRelay]:
    async with TCPRelay("127.0.0.1", jupyter_server.port) as relay:
        yield relay


@pytest_asyncio.fixture
async def session(jupyter_server: JupyterServerInfo, kernel_id: str,
                  relay: TCPRelay) -> AsyncIterator[KernelSession]:
    """A session whose websocket goes through a relay the test may cut."""
    sid = uuid.uuid4().hex
    url = (f"ws://127.0.0.1:{relay.port}/api/kernels/{kernel_id}/channels?session_id={sid}")
    async with aiohttp.ClientSession(
            headers={"Authorization": f"token {jupyter_server.token}"}) as http:
        async def connect(protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
            return await http.ws_connect(url, protocols=protocols, max_msg_size=0)

        channels = WebSocketChannels(connect, name="lab:k", session_id=sid)
        await channels.open()
        session = KernelSession(channels, name="lab:k")
        await session.start(timeout=30)
        try:
            yield session
        finally:
            await session.close()


def texts(events: list[KernelEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, Stream))


async def test_execute_input_and_completion(session: KernelSession) -> None:
    events = [e async for e in session.execute("1+1")]
    (result,) = [e for e in events if isinstance(e, ExecuteResult)]
    assert result.data["text/plain"] == "2"

    execution = session.execute("x = input('name? '); print('hello', x)")
    events = []
    async with asyncio.timeout(15):
        async for event in execution:
            events.append(event)
            if isinstance(event, InputRequest):
                assert event.prompt == "name? "
                await session.input_reply("ada")
    assert "hello ada\n" in texts(events)

    completion = await session.complete("import o", 8)
    assert "os" in completion.matches


async def test_a_drop_mid_cell_leaves_a_seam_and_the_cell_ends(
        session: KernelSession, relay: TCPRelay) -> None:
    seen: list[KernelEvent] = []
    session.subscribe(seen.append)
    execution = session.execute(
        "import time\nfor i in range(12):\n    print(i, flush=True); time.sleep(0.1)")
    events: list[KernelEvent] = []
    cut = False
    async with asyncio.timeout(30):
        async for event in execution:
            events.append(event)
            if "2" in texts(events).split() and not cut:
                cut = relay.refuse_new = True
                relay.cut()
                asyncio.get_running_loop().call_later(0.5, setattr, relay, "refuse_new", False)
    assert texts(events).split()[-1] == "11"  # the reply came, after the replayed output
    link = [e for e in seen if isinstance(e, LinkLost | OutputReplayed)]
    assert [type(e) for e in link] == [LinkLost, OutputReplayed]
    seam = link[1]
    assert isinstance(seam, OutputReplayed) and seam.reconnected
    assert seam.count > 0 and seam.describe().startswith(f"replayed {seam.count} message")


async def test_a_kernel_that_dies_fails_its_cell_and_comes_back(session: KernelSession) -> None:
    """os._exit in a cell: iopub says the server restarts the kernel, the cell fails as the
    keeper's "restarted" fails it, and the same socket carries the new kernel. (Last: it
    restarts the module's kernel.)"""
    seen: list[KernelEvent] = []
    session.subscribe(seen.append)
    await session.execute("1").reply()  # up and answering before it dies
    with pytest.raises(KernelDiedError, match=r"restarted \(the kernel died and the server "
                                              r"restarted it\)"):
        async with asyncio.timeout(30):
            await session.execute("import os; os._exit(1)").reply()
    assert not [e for e in seen if isinstance(e, LinkLost | OutputReplayed)]
    results = [e async for e in session.execute("1+1") if isinstance(e, ExecuteResult)]
    assert [r.data["text/plain"] for r in results] == ["2"]
