"""The Jupyter clients against the run's https jupyter_server (self-signed) and its real
JupyterHub: the certificate named and trusted through ca_file, http spoken to the https port;
a hub server started (the POST and the progress stream together, a start past its bound
left starting and then followed to ready), the user server reached through the proxy with
the same token, a wrong hub token, and a hub that is down."""

from __future__ import annotations

import logging
import socket

import pytest

from rtui.core.config.model import Host
from rtui.core.jupyter.check import check_server
from rtui.core.jupyter.errors import ServerStartTimeout, TLSProblem, TokenRejected
from rtui.core.jupyter.http import ServerClient
from rtui.core.jupyter.hub import HubClient, HubProgress
from rtui.core.jupyter.secrets import TokenSource
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.jupyter.tls import ssl_context
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.jupyterhub import HubInfo

SERVER = "jrest"  # a named server of alice's of this module's own: others keep theirs


def host(url: str, monkeypatch: pytest.MonkeyPatch, token: str, **kwargs: object,
         ) -> tuple[Host, TokenSource]:
    monkeypatch.setenv("RT_TOKEN", token)
    settings = JupyterSettings(url=url, token_env="RT_TOKEN", **kwargs)  # type: ignore[arg-type]
    return Host("lab", jupyter=settings), TokenSource("lab", settings)


@pytest.mark.xdist_group("tls")
async def test_a_self_signed_server_is_named_then_trusted_by_ca_file(
        jupyter_tls_server: JupyterServerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    url, token = jupyter_tls_server.url, jupyter_tls_server.token
    lab, tokens = host(url, monkeypatch, token)
    client = ServerClient("lab", url, tokens)
    with pytest.raises(TLSProblem, match="lab's certificate is self-signed: set ca_file to a "
                                         "file that holds it"):
        await client.kernels()
    await client.close()
    status = await check_server(lab, tokens, timeout=10)
    assert (status.ok, status.failed_step, status.error_kind) == (False, "tls", "tls")

    ca_file = str(jupyter_tls_server.ca_file)
    lab, tokens = host(url, monkeypatch, token, ca_file=ca_file)
    client = ServerClient("lab", url, tokens, ssl=ssl_context(ca_file))
    try:
        assert isinstance(await client.kernels(), list)
    finally:
        await client.close()
    status = await check_server(lab, tokens, timeout=10)
    assert status.ok and status.server_version, status.error

    plain = url.replace("https://", "http://")
    client = ServerClient("lab", plain, tokens)
    with pytest.raises(TLSProblem, match="the url must start with https://"):
        await client.version()
    await client.close()


@pytest.mark.xdist_group("hub")
async def test_a_hub_server_started_past_its_bound_then_followed_to_ready(
        jupyterhub: HubInfo, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtui.core.jupyter.http")
    hub_host, tokens = host(jupyterhub.url, monkeypatch, jupyterhub.token, hub=True,
                            server=SERVER)
    hub = HubClient("hub", jupyterhub.url, tokens)
    seen: list[HubProgress] = []
    stopped = False
    try:
        assert (await hub.user())["name"] == jupyterhub.user
        assert await hub.server_state(SERVER) is None
        with pytest.raises(ServerStartTimeout, match=f"hub: the hub did not start the server "
                                                     f"'{SERVER}' within 0.2 s"):
            await hub.ensure_server(SERVER, timeout=0.2)
        # Left starting: the next call follows the same spawn (no second POST needed).
        url = await hub.ensure_server(SERVER, timeout=120, on_progress=seen.append)
        assert url == f"{jupyterhub.url}user/{jupyterhub.user}/{SERVER}/"
        assert f"GET hub/api/users/alice/servers/{SERVER}/progress -> 200" in caplog.text
        assert jupyterhub.token not in caplog.text
        assert seen and seen[-1].ready and seen[-1].url == f"/user/alice/{SERVER}/"
        assert all(not e.failed for e in seen)
        # The user server answers through the proxy with the same token.
        server = ServerClient("hub", url, tokens)
        try:
            assert await server.version()
            assert isinstance(await server.kernels(), list)
        finally:
            await server.close()
        status = await check_server(hub_host, tokens, timeout=10)
        assert status.ok and status.server_version and status.failed_step is None, status.error
        await hub.stop_server(SERVER)
        stopped = True
        state = await hub.server_state(SERVER)
        assert state is None or not state.ready
    finally:
        await hub.close()
        if not stopped:
            jupyterhub.stop_server(SERVER)


@pytest.mark.xdist_group("hub")
async def test_a_wrong_hub_token_and_a_hub_that_is_down(
        jupyterhub: HubInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    hub_host, tokens = host(jupyterhub.url, monkeypatch, "not-alices", hub=True)
    hub = HubClient("hub", jupyterhub.url, tokens)
    with pytest.raises(TokenRejected, match=r"^hub refused the token \(HTTP 403\); it comes "
                                            r"from \$RT_TOKEN$"):
        await hub.ensure_server(timeout=10)
    await hub.close()
    status = await check_server(hub_host, tokens, timeout=10)
    assert (status.failed_step, status.error_kind) == ("auth", "token")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    hub_host, tokens = host(down, monkeypatch, jupyterhub.token, hub=True)
    status = await check_server(hub_host, tokens, timeout=5)
    assert (status.ok, status.failed_step, status.error_kind) == (False, "tcp", "unreachable")
    assert status.error == f"lab: nothing answers at {down} (Connection refused)"
