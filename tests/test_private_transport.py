"""Kernels over each route the server allows (streamlocal, TCP forwarding only, neither: the
relay), through the real sshd: they run, the route is the expected one and is shown, the
local ends are Unix sockets in a private directory, and reconnects restore them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.core.config.model import Settings
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.ssh.connection import ConnState
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, kill_pid
from tests.ssh_helpers import connection, host_for, trust

PY = sys.executable
CONFIGS = {
    "streamlocal": "",
    "tcp": "AllowStreamLocalForwarding no",
    # MaxSessions 4: the agent, the PTY and ONE relay channel fit; a channel per socket
    # (five per kernel) would not.
    "relay": "AllowStreamLocalForwarding no\nAllowTcpForwarding no\nMaxSessions 4",
}


async def run(kernel: RemoteKernel, code: str) -> tuple[str, str | None]:
    """A cell's stdout and its result."""
    out, result = "", None
    async with asyncio.timeout(30):
        async for event in kernel.session.execute(code):
            if isinstance(event, ev.Stream) and event.name == "stdout":
                out += event.text
            elif isinstance(event, ev.ExecuteResult):
                result = str(event.data.get("text/plain"))
    return out, result


@pytest_asyncio.fixture(params=list(CONFIGS))
async def host(request: pytest.FixtureRequest, sshd_factory: Callable[..., SSHD],
               isolated_home: Path) -> AsyncIterator[tuple[str, HostKernels]]:
    mode = str(request.param)
    server = sshd_factory(extra_config=CONFIGS[mode])
    trust(server, isolated_home)
    conn, _ = connection(host_for(server, python=PY))
    service = HostKernels(conn, python=PY)
    try:
        yield mode, service
    finally:
        await service.close()
        await conn.close()


async def test_a_kernel_runs_over_each_route_and_says_which(
        host: tuple[str, HostKernels]) -> None:
    mode, service = host
    kernel = await service.start(python=PY)
    try:
        assert kernel.route == mode == service.routes.mode
        assert await run(kernel, "print('hello')\n1+1") == ("hello\n", "2")
        local = kernel.tunnel.local_info
        assert local["transport"] == "ipc" and kernel.tunnel.directory is not None
        assert kernel.tunnel.directory.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in kernel.tunnel.directory.iterdir()) == [
            "k-1", "k-2", "k-3", "k-4", "k-5"]
    finally:
        await service.shutdown(kernel)
    assert kernel.tunnel.directory is None  # the local sockets went with the forwards


async def test_the_relay_carries_three_kernels_on_one_connection(
        sshd_factory: Callable[..., SSHD], isolated_home: Path) -> None:
    server = sshd_factory(extra_config=CONFIGS["relay"])
    trust(server, isolated_home)
    conn, _ = connection(host_for(server, python=PY))
    service = HostKernels(conn, python=PY)
    started: list[RemoteKernel] = []
    try:
        for _ in range(3):
            started.append(await service.start(python=PY))
        results = await asyncio.gather(*(run(k, f"print({n})\n{n}*2")
                                         for n, k in enumerate(started)))
        assert results == [(f"{n}\n", str(n * 2)) for n in range(3)]
        assert {k.route for k in started} == {"relay"}
        assert "no more sessions" not in server.log_text()
    finally:
        for kernel in started:
            with contextlib.suppress(Exception):
                await service.shutdown(kernel)
        await service.close()
        await conn.close()


@pytest.mark.parametrize("mode", list(CONFIGS))
async def test_a_reconnect_restores_the_kernel_over_its_route(
        mode: str, sshd_factory: Callable[..., SSHD], isolated_home: Path) -> None:
    server = sshd_factory(extra_config=CONFIGS[mode])
    async with TCPRelay("127.0.0.1", server.port) as relay:
        (isolated_home / ".ssh").mkdir(exist_ok=True)
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(server.host_key_pub) + "\n")
        settings = Settings(reconnect_max_delay=0.5, connect_timeout=5)
        conn, events = connection(host_for(server, port=relay.port, python=PY),
                                  settings=settings)
        service = HostKernels(conn, python=PY)
        kernel = await service.start(python=PY)
        restored = asyncio.Event()
        kernel.tunnel.on_restored(restored.set)
        try:
            await run(kernel, "survivor = 'alive'")
            paths = sorted(kernel.tunnel.directory.iterdir())  # type: ignore[union-attr]
            relay.cut()
            await events.until(lambda e: e.state is ConnState.LOST, timeout=10)
            await asyncio.wait_for(restored.wait(), 20)
            await kernel.session.wait_ready(15)
            assert await run(kernel, "survivor") == ("", "'alive'")
            assert kernel.route == mode
            assert sorted(kernel.tunnel.directory.iterdir()) == paths  # type: ignore[union-attr]
        finally:
            await service.shutdown(kernel)
            await service.close()
            await conn.close()


@pytest.fixture
def ipc_kernel(tmp_path: Path) -> Iterator[Path]:
    """A kernel started by hand on Unix sockets (``--transport=ipc``) in a 0700 directory;
    its connection file."""
    directory = tmp_path / "ipc"
    directory.mkdir(mode=0o700)
    connection_file = directory / "kernel-handipc.json"
    proc = subprocess.Popen(
        [PY, "-m", "ipykernel_launcher", "--transport=ipc", f"--ip={directory}/k",
         "-f", str(connection_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    try:
        deadline = time.monotonic() + 30
        while not (directory / "k-5").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        yield connection_file
    finally:
        kill_pid(proc.pid)


@pytest.mark.parametrize("mode", ["streamlocal", "relay"])
async def test_a_kernel_on_unix_sockets_is_reached_and_not_called_exposed(
        mode: str, ipc_kernel: Path, sshd_factory: Callable[..., SSHD],
        isolated_home: Path, tmp_path: Path) -> None:
    server = sshd_factory(extra_config=CONFIGS[mode])
    trust(server, isolated_home)
    conn, _ = connection(host_for(server, python=PY))
    service = HostKernels(conn, python=PY)
    local_copy = tmp_path / "copy.json"
    local_copy.write_text(ipc_kernel.read_text())
    try:
        for spec in (str(ipc_kernel), str(local_copy)):  # on the host, and a local copy
            kernel = await service.attach(spec)
            assert json.loads(ipc_kernel.read_text())["transport"] == "ipc"
            assert kernel.route == mode and kernel.exposure_note is None
            assert await run(kernel, "print('via unix')\n6*7") == ("via unix\n", "42")
            await service.detach(kernel)
    finally:
        await service.close()
        await conn.close()
