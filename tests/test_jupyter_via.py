"""A Jupyter server reached ``--via`` an SSH host (rtui/core/jupyter/route.py): REST and the
kernel websocket through a Unix socket in rtui's private runtime dir, each connection a
stream through the agent's relay (its TCP target ACKs at once), or a plain SSH channel where
the agent cannot run there. The real jupyter_server fixture behind the real loopback sshd."""

from __future__ import annotations

import json
import stat
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from jupyter_client.session import Session

from rtui.core.config.model import Config, Host
from rtui.core.jupyter.route import ViaRoute, url_target
from rtui.core.jupyter.service import ServerKernels
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.jupyter.tls import ssl_context
from rtui.core.kernels.service import HostKernels
from rtui.core.workspace import Workspace
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust
from tests.test_kernels_remote import result, run


async def _execute(ws: aiohttp.ClientWebSocketResponse, session: Session, code: str) -> Any:
    """Run ``code`` over a legacy (JSON) kernel websocket: its execute_result's text, once
    the reply and the idle status after it are in (what a console's round trip waits for)."""
    msg = session.msg("execute_request", {"code": code, "silent": False,
                                          "store_history": False, "user_expressions": {},
                                          "allow_stdin": False})
    await ws.send_str(json.dumps({**msg, "channel": "shell"}, default=str))
    result, replied, idle = None, False, False
    while not (replied and idle):
        got = json.loads((await ws.receive(timeout=30)).data)
        if got.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
            continue
        kind = got["msg_type"]
        if kind == "execute_result":
            result = got["content"]["data"]["text/plain"]
        replied = replied or kind == "execute_reply"
        idle = idle or (kind == "status" and got["content"]["execution_state"] == "idle")
    return result


async def _round_trips(via: ViaRoute, server: JupyterServerInfo, kernel_id: str,
                       count: int) -> list[float]:
    """1+1 ``count`` times over one websocket through ``via``: each round trip in ms."""
    headers = {"Authorization": f"token {server.token}"}
    sid = uuid.uuid4().hex
    session = Session(key=b"", session=sid, username="rtui")
    async with aiohttp.ClientSession(connector=await via.connector(), headers=headers) as http:
        async with http.get(f"{server.url}api/kernels/{kernel_id}") as resp:
            assert resp.status == 200
        ws_url = f"{server.url.replace('http', 'ws', 1)}api/kernels/{kernel_id}/channels"
        async with http.ws_connect(f"{ws_url}?session_id={sid}") as ws:
            assert await _execute(ws, session, "1+1") == "2"
            times = []
            for _ in range(count):
                start = time.perf_counter()
                await _execute(ws, session, "1+1")
                times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


@pytest_asyncio.fixture
async def kernel_id(jupyter_server: JupyterServerInfo) -> AsyncIterator[str]:
    status, info = jupyter_server.api("kernels", "POST", {"name": "python3"})
    assert status == 201, info
    try:
        yield str(info["id"])
    finally:
        jupyter_server.api(f"kernels/{info['id']}", "DELETE")


async def _login(sshd: SSHD, home: Path, python: str) -> HostKernels:
    trust(sshd, home)
    conn, _ = connection(host_for(sshd, python=python))
    return HostKernels(conn, python=python)


async def test_via_goes_through_the_agents_relay_then_a_plain_forward_where_it_cannot_run(
        sshd: SSHD, isolated_home: Path, jupyter_server: JupyterServerInfo, kernel_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A jupyter host whose ``via`` names an SSH host of the file: its kernels are reached
    over that host's connection, through its agent's relay; where the agent cannot run, a
    plain SSH channel does it. Nothing listening behind the via host is not taken for a
    relay that cannot run."""
    assert url_target(jupyter_server.url) == ("127.0.0.1", jupyter_server.port)
    monkeypatch.setenv("RTUI_TEST_TOKEN", jupyter_server.token)
    trust(sshd, isolated_home)
    box = host_for(sshd, python=sys.executable)
    lab = Host(name="lab", jupyter=JupyterSettings(url=jupyter_server.url, via=box.name,
                                                   token_env="RTUI_TEST_TOKEN"))
    workspace = Workspace(None, config=Config().with_host(box).with_host(lab))
    figures = {}
    try:
        kernels = await workspace.connect("lab", None)  # the via host's login, then the server
        assert isinstance(kernels, ServerKernels) and kernels.via is not None
        kernel = await kernels.attach(kernel_id)
        assert kernel.route == f"websocket via {box.name}"
        assert result(await run(kernel, "6 * 7")) == "42"
        via = kernels.via
        assert via.mode == "relay"
        path = via.path
        assert path is not None and stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # rtui's private dir
        figures["relay"] = await _round_trips(via, jupyter_server, kernel_id, 10)
        await kernels.detach(kernel)
        # Nothing listens there: the far side's refusal, not a reason to leave the relay.
        nowhere = ViaRoute(via.routes, "http://127.0.0.1:1/", name="lab")
        try:
            async with aiohttp.ClientSession(connector=await nowhere.connector()) as http:
                with pytest.raises(aiohttp.ClientError):
                    async with http.get("http://127.0.0.1:1/api"):
                        pass
            assert nowhere.mode is None
        finally:
            await nowhere.close()
    finally:
        await workspace.close()
    assert not path.exists()
    # No Python for the agent there: a plain SSH channel to the server, said once in the log.
    login = await _login(sshd, isolated_home, "/nonexistent/python3")
    via = ViaRoute(login.routes, jupyter_server.url, name="lab")
    try:
        figures["forward"] = await _round_trips(via, jupyter_server, kernel_id, 10)
        assert via.mode == "forward"
    finally:
        await via.close()
        await login.close()
        await login.connection.close()
    print("1+1 via the sshd, ms p50/p95: " + "; ".join(
        f"{kind} {t[len(t) // 2]:.1f}/{t[int(len(t) * 0.95)]:.1f}" for kind, t in figures.items()))


async def test_an_https_server_via_an_ssh_host_is_checked_against_its_certificate(
        sshd: SSHD, isolated_home: Path, jupyter_tls_server: JupyterServerInfo) -> None:
    """TLS over the local Unix socket, checked against the URL's host: the self-signed
    certificate is refused until ca_file trusts it (never unverified)."""
    assert jupyter_tls_server.ca_file is not None
    login = await _login(sshd, isolated_home, sys.executable)
    url = f"{jupyter_tls_server.url}api/kernels"
    headers = {"Authorization": f"token {jupyter_tls_server.token}"}
    untrusted = ViaRoute(login.routes, jupyter_tls_server.url, name="lab")
    trusted = ViaRoute(login.routes, jupyter_tls_server.url, name="lab",
                       ssl_context=ssl_context(str(jupyter_tls_server.ca_file)))
    try:
        async with aiohttp.ClientSession(connector=await untrusted.connector()) as http:
            with pytest.raises(aiohttp.ClientConnectorCertificateError) as refused:
                async with http.get(url, headers=headers):
                    pass
        assert refused.value.certificate_error.verify_code == 18  # type: ignore[attr-defined]
        async with aiohttp.ClientSession(connector=await trusted.connector()) as http:
            async with http.get(url, headers=headers) as resp:
                assert resp.status == 200 and isinstance(await resp.json(), list)
        assert trusted.mode == "relay"
    finally:
        for via in (untrusted, trusted):
            await via.close()
        await login.close()
        await login.connection.close()
