"""The Jupyter clients against a real jupyter_server (the session fixture, token auth): a
wrong token named with its source, kernelspecs, a kernel started, listed, reached over the
v1 websocket, interrupted, restarted and shut down, then gone (404); and the host check."""

from __future__ import annotations

import asyncio
import socket

import pytest
from jupyter_server import __version__ as SERVER_VERSION

from rtui.core.config.model import Host
from rtui.core.jupyter.check import check_server
from rtui.core.jupyter.errors import KernelNotFound, ServerTimeout, TokenRejected
from rtui.core.jupyter.http import ServerClient
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.settings import JupyterSettings
from tests.harness.jupyter import JupyterServerInfo

V1 = "v1.kernel.websocket.jupyter.org"


def lab(url: str, monkeypatch: pytest.MonkeyPatch, token: str) -> tuple[Host, TokenSource]:
    monkeypatch.setenv("RT_LAB_TOKEN", token)
    settings = JupyterSettings(url=url, token_env="RT_LAB_TOKEN")
    return Host("lab", jupyter=settings), TokenSource("lab", settings)


async def idle(client: ServerClient, kernel_id: str) -> None:
    async with asyncio.timeout(60):
        while (await client.kernel(kernel_id)).execution_state != "idle":
            await asyncio.sleep(0.05)


async def test_a_wrong_token_is_named_with_its_source(
        jupyter_server: JupyterServerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    host, tokens = lab(jupyter_server.url, monkeypatch, "not-the-token")
    client = ServerClient("lab", jupyter_server.url, tokens)
    try:
        with pytest.raises(TokenRejected) as caught:
            await client.kernels()
    finally:
        await client.close()
    assert str(caught.value) == "lab refused the token (HTTP 403); it comes from $RT_LAB_TOKEN"
    status = await check_server(host, tokens, timeout=10)
    assert (status.ok, status.failed_step, status.error_kind) == (False, "auth", "token")
    assert status.tcp_ms is not None


async def test_a_kernels_life_over_rest_and_the_websocket(
        jupyter_server: JupyterServerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    host, tokens = lab(jupyter_server.url, monkeypatch, jupyter_server.token)
    client = ServerClient("lab", jupyter_server.url, tokens)
    try:
        specs = await client.kernelspecs()
        assert specs.default == "python3" and "python3" in specs.specs
        started = await client.start_kernel("python3")
        assert started.name == "python3"
        assert started.id in {k.id for k in await client.kernels()}
        status = await check_server(host, tokens, timeout=10)
        assert status.ok and status.failed_step is None, status.error
        assert status.server_version == SERVER_VERSION
        assert status.kernels >= 1 and status.rtt_ms is not None
        ws = await client.open_websocket(started.id, "rtui-test-session", protocols=(V1,))
        try:
            assert ws.protocol == V1
        finally:
            await ws.close()
        # A SIGINT while the kernel still imports kills it: wait until it has booted.
        await idle(client, started.id)
        await client.interrupt(started.id)
        await client.restart(started.id)
        assert (await client.kernel(started.id)).id == started.id
        await client.delete(started.id)
        for call in (client.kernel, client.delete, client.interrupt, client.restart):
            with pytest.raises(KernelNotFound, match=f"lab: kernel {started.id} is gone from "
                                                     f"the server"):
                await call(started.id)
        with pytest.raises(KernelNotFound):
            await client.open_websocket(started.id, "rtui-test-session", protocols=(V1,))
    finally:
        await client.close()
        jupyter_server.delete_all_kernels()


async def test_check_of_a_server_that_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host, tokens = lab(f"http://127.0.0.1:{port}/", monkeypatch, "x")
    status = await check_server(host, tokens, timeout=5)
    assert (status.ok, status.failed_step, status.error_kind) == (False, "tcp", "unreachable")
    assert status.error and status.error.startswith(
        f"lab: nothing answers at http://127.0.0.1:{port}/")


async def test_https_spoken_to_the_http_server_is_named(
        jupyter_server: JupyterServerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    # tornado waits for a request line that a TLS hello never ends: no answer, bounded.
    url = jupyter_server.url.replace("http://", "https://")
    host, tokens = lab(url, monkeypatch, jupyter_server.token)
    client = ServerClient("lab", url, tokens, connect_timeout=1)
    try:
        with pytest.raises(ServerTimeout, match="if it serves plain http, the url must start "
                                                "with http://"):
            await client.version()
    finally:
        await client.close()
    status = await check_server(host, tokens, timeout=1)
    assert (status.failed_step, status.error_kind) == ("tls", "timeout")
    assert status.error and "no TLS answer" in status.error
