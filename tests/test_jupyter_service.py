"""Kernels on a Jupyter server through ServerKernels and the Workspace (rtui/core/jupyter/
service.py): start from the server's default kernelspec, list, attach a second console,
interrupt, restart, shut down; a kernel deleted from outside named as gone; ``rtui log``'s
own websocket session; the same server ``--via`` an SSH host. The real jupyter_server
fixture (token auth) and, for --via, the real loopback sshd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from rtui.core.config.model import Config, Host
from rtui.core.errors import KernelDiedError, KernelError, RtuiError
from rtui.core.jupyter.hub import HubProgress
from rtui.core.jupyter.service import ServerKernels
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.kernels import events as ev
from rtui.core.kernels.kept_output import ServerOutputFeed, follow_output
from rtui.core.kernels.records import RemoteKernel
from rtui.core.workspace import KernelCount, Workspace, WorkspaceEvent
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.jupyterhub import HubInfo
from tests.test_kernels_remote import result, run, stdout

TOKEN_ENV = "RTUI_TEST_TOKEN"


def _lab(server: JupyterServerInfo, *, via: str | None = None) -> Host:
    return Host(name="lab", jupyter=JupyterSettings(url=server.url, token_env=TOKEN_ENV,
                                                    via=via))


@pytest_asyncio.fixture
async def workspace(jupyter_server: JupyterServerInfo,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    monkeypatch.setenv(TOKEN_ENV, jupyter_server.token)
    workspace = Workspace(None, config=Config().with_host(_lab(jupyter_server)))
    try:
        yield workspace
    finally:
        await workspace.close()


async def _server(workspace: Workspace) -> ServerKernels:
    kernels = await workspace.kernels("lab")
    assert isinstance(kernels, ServerKernels)
    assert await workspace.kernels("lab") is kernels  # one per host
    return kernels


async def _stop(kernels: ServerKernels, *started: RemoteKernel) -> None:
    for kernel in started:
        await kernels.shutdown(kernel)


async def test_start_list_attach_interrupt_restart_log_and_gone(
        workspace: Workspace, jupyter_server: JupyterServerInfo) -> None:
    kernels = await _server(workspace)
    specs = await kernels.environments()
    assert specs[0].python == "python3" and specs[0].kind == "kernelspec"
    kernel = await kernels.start(python="")  # the server's default kernelspec
    try:
        assert kernel.server is not None and kernel.tunnel is None
        assert kernel.route == "websocket" and kernel.kind == "python3"
        assert kernel.id in jupyter_server.kernel_ids()
        assert result(await run(kernel, "x = 20\nx + 1")) == "21"
        listed = {record.id: record for record in await kernels.list()}
        assert listed[kernel.id].alive and listed[kernel.id].rtui
        # A second console on the same kernel: a session id of its own, both keep working.
        second = await kernels.attach(kernel.id[:8])
        assert second.id == kernel.id and second.server is not None
        assert second.server.session_id != kernel.server.session_id
        assert result(await run(second, "x * 2")) == "40"
        assert result(await run(kernel, "x * 3")) == "60"
        # Interrupt a sleep through REST: the cell fails with KeyboardInterrupt, at once.
        sleeping = asyncio.ensure_future(run(kernel, "import time; time.sleep(30)"))
        await asyncio.sleep(0.5)
        started = asyncio.get_running_loop().time()
        await kernels.interrupt(kernel)
        events = await asyncio.wait_for(sleeping, 10)
        assert any(isinstance(e, ev.Error) and e.ename == "KeyboardInterrupt" for e in events)
        assert asyncio.get_running_loop().time() - started < 5
        # Restart: same id, state gone, the same websocket carries on.
        await kernels.restart(kernel)
        assert "NameError" in str(await run(kernel, "x"))
        assert stdout(await run(kernel, "print('after')")) == "after\n"
        await _log(kernels, kernel, second)
        # Deleted from outside (another client, the server's culler): named as gone.
        assert await kernels.gone(kernel) is None
        assert jupyter_server.api(f"kernels/{kernel.id}", "DELETE")[0] == 204
        gone = await kernels.gone(kernel)
        assert isinstance(gone, KernelDiedError)
        assert str(gone) == f"lab: kernel {kernel.id} is gone from the server"
        with pytest.raises(KernelError, match=f"no kernel {kernel.id} on lab"):
            await kernels.attach(kernel.id)
        assert kernel.id not in {record.id for record in await kernels.list()}
    finally:
        await kernels.shutdown(kernel)  # gone already: nothing to do but detach
    assert kernel.id not in jupyter_server.kernel_ids()


async def _log(kernels: ServerKernels, kernel: RemoteKernel, second: RemoteKernel) -> None:
    """``rtui log``: a websocket session of its own (the consoles keep theirs), remembered:
    what the server kept for it while no client was connected is the next log's replay."""
    seen: list[ev.KernelEvent] = []
    feed = await follow_output(kernels, kernel.id, seen.append)
    assert isinstance(feed, ServerOutputFeed)
    assert feed.note is not None and "not kept" in feed.note  # said once, the first time
    await feed.wait_replayed(20)
    assert len([e for e in seen if isinstance(e, ev.OutputReplayed)]) == 1
    assert "after" not in stdout(seen)  # what ran before the first log is not kept
    await run(kernel, "print('live one')")
    for _ in range(100):  # a console's output reaches the log's socket too
        if "live one" in stdout(seen):
            break
        await asyncio.sleep(0.05)
    assert "live one" in stdout(seen)
    await run(kernel, "import threading; threading.Timer(0.5, print, ('while away',)).start()")
    await kernels.detach(second)
    await kernels.detach(kernel)
    await feed.close()  # the last to leave: the server keeps what comes for its session id
    await asyncio.sleep(1.0)
    again: list[ev.KernelEvent] = []
    feed = await follow_output(kernels, kernel.id, again.append, tail=None)
    assert isinstance(feed, ServerOutputFeed) and feed.note is None
    try:
        await feed.wait_replayed(20)
    finally:
        await feed.close()
    marker = next(i for i, e in enumerate(again) if isinstance(e, ev.OutputReplayed))
    assert "while away" in stdout(again[:marker])
    assert again[marker] == ev.OutputReplayed(marker, again[marker].t0,  # type: ignore[union-attr]
                                              again[marker].t1)  # type: ignore[union-attr]


async def test_a_jupyter_host_in_the_workspace(
        workspace: Workspace, jupyter_server: JupyterServerInfo) -> None:
    """Files and environments are SSH's; a changed URL on reload drops the service."""
    kernels = await _server(workspace)
    for use in (workspace.files, workspace.environments):
        with pytest.raises(RtuiError, match="not available for a Jupyter server"):
            await use("lab")
    assert await workspace.connect("lab", None) is kernels
    await workspace.count_kernels("lab")  # no status yet: nothing counted, no error
    events: list[WorkspaceEvent] = []
    workspace.subscribe(events.append)
    status, = await workspace.check(["lab"], prompter=None, timeout=30)
    assert status.ok and status.server_version, status
    assert workspace.statuses["lab"] is status
    await workspace.count_kernels("lab")  # checked now: counted through the REST list
    assert [e for e in events if isinstance(e, KernelCount)] == [
        KernelCount("lab", len(jupyter_server.kernel_ids()))]
    workspace._fixed_config = Config().with_host(_lab(jupyter_server))
    await workspace.reload()
    assert await workspace.kernels("lab") is kernels  # same settings: kept
    other = Host(name="lab", jupyter=JupyterSettings(url=jupyter_server.url + "other/",
                                                     token_env=TOKEN_ENV))
    workspace._fixed_config = Config().with_host(other)
    await workspace.reload()
    assert await workspace.kernels("lab") is not kernels


async def test_a_hub_host_has_the_users_server_started_first(
        jupyterhub: HubInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A jupyterhub host: the user's server is started when it is not running (the hub's
    progress events go to the caller), then its kernels are those of a plain server."""
    monkeypatch.setenv(TOKEN_ENV, jupyterhub.token)
    hub = Host(name="hub", jupyter=JupyterSettings(url=jupyterhub.url, hub=True,
                                                   token_env=TOKEN_ENV))
    running = bool(jupyterhub.servers().get("", {}).get("ready"))
    workspace = Workspace(None, config=Config().with_host(hub))
    seen: list[HubProgress] = []
    try:
        kernels = await workspace.connect("hub", None, on_progress=seen.append)
        assert isinstance(kernels, ServerKernels) and kernels.client is not None
        assert kernels.client.base_url == jupyterhub.server_url("")
        assert running or (seen and seen[-1].ready), seen  # started here: told as it went
        assert isinstance(await kernels.list(), list)
        assert (await kernels.environments())[0].kind == "kernelspec"
    finally:
        await workspace.close()
