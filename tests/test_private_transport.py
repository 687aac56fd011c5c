"""Kernels over each route the server allows (streamlocal, TCP forwarding only, neither: the
relay), through the real sshd: they run, the route is the expected one and is shown, the
local ends are Unix sockets in a private directory, and reconnects restore them."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from textual.widgets import Static

from rtui.core.config.model import Settings
from rtui.core.config.store import HostStore
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.kernels.tunnel import PORT_NAMES
from rtui.core.ssh.connection import ConnState
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ChoiceScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests import reliability
from tests.harness.accounts import Account
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, kill_pid, pids_mentioning
from tests.proc_scan import tcp_listeners
from tests.ssh_helpers import connection, host_for, trust
from tests.tui_helpers import output, until

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


@dataclass
class Host:
    mode: str  # the route its server's configuration leaves
    service: HostKernels
    server: SSHD


@pytest_asyncio.fixture(params=list(CONFIGS))
async def host(request: pytest.FixtureRequest, sshd_factory: Callable[..., SSHD],
               isolated_home: Path) -> AsyncIterator[Host]:
    mode = str(request.param)
    server = sshd_factory(extra_config=CONFIGS[mode])
    trust(server, isolated_home)
    conn, _ = connection(host_for(server, python=PY))
    service = HostKernels(conn, python=PY)
    try:
        yield Host(mode, service, server)
    finally:
        await service.close()
        await conn.close()


async def test_a_kernel_runs_over_each_route_and_says_which(host: Host) -> None:
    mode, service = host.mode, host.service
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


# ipykernel binds its "fork pipe" on tcp://127.0.0.1 whatever its transport (kernelapp makes
# IOPubThread with pipe=True): a zmq PULL where the output of the kernel's forked children
# comes back. rtui starts its kernels through rtui/agent/kernel_boot.py, which binds it on a
# Unix socket beside the kernel's own when those are Unix sockets (ipykernel's own TCP pipe
# otherwise). Where it listens, and a forked child's output, which must still arrive.
_FORK_PIPE = ("(lambda t: (getattr(t, '_rtui_fork_pipe', None), getattr(t, '_pipe_port', None)))"
              "(get_ipython().kernel.iopub_thread)")
_FORK = """import os, time
pid = os.fork()
if pid == 0:
    print('from a forked child', flush=True)
    os._exit(0)
status = os.waitpid(pid, 0)[1]
time.sleep(0.2)  # its message is in the kernel's pipe socket; let the kernel publish it
status"""


@pytest.mark.reliability
async def test_no_tcp_listener_belongs_to_rtui_or_its_kernels(host: Host) -> None:
    """rtui here, and its agent, relay, keeper and kernel on the host (its fork pipe too): no
    TCP listener, except the kernel's ports where the server forwards only TCP (and the check
    finds those); a forked child's output still arrives, and nothing on stderr."""
    mode, service = host.mode, host.service
    kernel = await service.start(python=PY)
    try:
        _, where = await run(kernel, _FORK_PIPE)
        pipe_address, pipe_port = ast.literal_eval(where or "")
        streams: dict[str, str] = {}
        async with asyncio.timeout(30):
            async for event in kernel.session.execute(_FORK):
                if isinstance(event, ev.Stream):
                    streams[event.name] = streams.get(event.name, "") + event.text
        assert streams == {"stdout": "from a forked child\n"}, streams
        records = {r.id: r for r in await service.list()}
        kernel_pid = records[kernel.id].pid
        assert kernel_pid
        # The agent, the relay, the keeper and the kernel run from files in its home.
        host_pids = set(pids_mentioning(str(host.server.remote_home)))
        assert kernel_pid in host_pids and len(host_pids) >= 3  # the agent and keeper too
        held = tcp_listeners({os.getpid(), *host_pids})
        if mode == "tcp":
            assert kernel.remote_info["transport"] == "tcp"
            assert pipe_address is None and isinstance(pipe_port, int)  # ipykernel's own
            ports = {int(kernel.remote_info[name]) for name in PORT_NAMES}
            assert held == {kernel_pid: ports | {pipe_port}}, held  # said in its note
            assert kernel.exposure_note and "other users" in kernel.exposure_note
        else:
            assert kernel.remote_info["transport"] == "ipc", kernel.remote_info
            assert (pipe_address, pipe_port) == (f"ipc://{kernel.remote_info['ip']}-fork", None)
            assert held == {}, held
            assert kernel.exposure_note is None
    finally:
        await service.shutdown(kernel)
    # Where only TCP is forwarded the kernel listens by necessity (and says so): not a leak.
    reliability.record(
        "security", f"no TCP listener of rtui or its kernel ({mode} route)",
        tried=len(host_pids) + 1, leaked=0,
        seen="listening sockets of rtui, its agent, relay, keeper and kernel"
             + (": only the kernel's, named in its note" if mode == "tcp" else ": none"))


# Run as the other account: pyzmq is imported first (this interpreter lives under /root,
# which that account cannot read), then the process drops to the account's uid and gid, so
# every connect below is that user's. For each address: what a plain connect gets, and how
# many messages a keyless zmq SUB receives in LISTEN seconds.
_PEEK = """
import encodings.idna, errno, json, os, socket, sys, time, zmq
uid, gid, listen = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
os.setgroups([]); os.setgid(gid); os.setuid(uid)
context = zmq.Context()
report = {}
subs = {}
for address in sys.argv[4:]:
    kind, _, where = address.partition("://")
    try:
        if kind == "ipc":
            probe = socket.socket(socket.AF_UNIX)
            probe.connect(where)
        else:
            host, _, port = where.rpartition(":")
            probe = socket.create_connection((host, int(port)), 2)
        probe.close()
        report[address] = {"connect": "ok"}
    except OSError as e:
        report[address] = {"connect": errno.errorcode.get(e.errno, str(e))}
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(address)
    subs[address] = sub
print("listening", flush=True)
deadline = time.monotonic() + listen
for address in subs:
    report[address]["messages"] = 0
while time.monotonic() < deadline:
    for address, sub in subs.items():
        while sub.poll(10):
            sub.recv_multipart()
            report[address]["messages"] += 1
print(json.dumps(report), flush=True)
"""


@pytest.mark.reliability
async def test_another_local_account_reads_nothing_on_either_side(
        host: Host, password_account: Account) -> None:
    """A second account on this machine (here both the client's and the host's) points a
    keyless SUB at rtui's local iopub socket, the kernel's own iopub on the host and its
    keeper while the kernel prints: refused, nothing read. Where the server forwards only
    TCP the kernel's port is readable, which is what the note says (the check works)."""
    mode, service = host.mode, host.service
    kernel = await service.start(python=PY)
    try:
        assert kernel.tunnel.directory is not None
        remote = kernel.remote_info
        addresses = [f"ipc://{kernel.tunnel.directory}/k-2"]  # rtui's local end of iopub
        if remote["transport"] == "ipc":
            addresses.append(f"ipc://{remote['ip']}-{remote['iopub_port']}")
        else:
            addresses.append(f"tcp://127.0.0.1:{remote['iopub_port']}")
        if kernel.keeper:
            addresses.append(f"ipc://{kernel.keeper}")
        peek = await asyncio.create_subprocess_exec(
            PY, "-c", _PEEK, str(password_account.uid), str(password_account.gid), "4",
            *addresses, stdout=asyncio.subprocess.PIPE)
        assert peek.stdout is not None
        assert await asyncio.wait_for(peek.stdout.readline(), 20) == b"listening\n"
        await run(kernel, "import time\nfor i in range(30):\n"
                          "    print('secret', i, flush=True)\n    time.sleep(0.1)")
        report = json.loads(await asyncio.wait_for(peek.stdout.readline(), 20))
        await peek.wait()
        for address, seen in report.items():
            exposed = address.startswith("tcp://")
            if exposed:
                assert mode == "tcp" and seen["connect"] == "ok" and seen["messages"] > 0
                assert kernel.exposure_note is not None
            else:
                assert seen == {"connect": "EACCES", "messages": 0}, (address, report)
        assert len(report) == len(addresses)
    finally:
        await service.shutdown(kernel)
    private = [address for address in report if not address.startswith("tcp://")]
    reliability.record(
        "security", f"another account subscribes to the kernel's output ({mode} route)",
        tried=len(private), leaked=0,
        seen="a keyless SUB on rtui's, the kernel's and the keeper's Unix sockets: "
             "EACCES, 0 messages" + ("; the TCP port the note names excepted"
                                     if mode == "tcp" else ""))


@pytest.mark.parametrize("mode", ["relay", "tcp"])
async def test_the_console_shows_its_route_and_says_who_else_can_read(
        mode: str, sshd_factory: Callable[..., SSHD], tmp_path: Path,
        isolated_home: Path) -> None:
    """A console on a cluster-like host (no forwarding) works over the relay and says so in
    its status line; where only TCP is forwarded its kernel listens on TCP, and the console
    says once that other users of the host can read it."""
    server = sshd_factory(extra_config=CONFIGS[mode])
    trust(server, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(server, "lab", python=PY)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        await pilot.press(*"print('over', 6*7)", "enter")
        await until(lambda: "over 42" in output(pane), timeout=60)
        status = str(pane.query_one("#status", Static).render())
        assert f"· {mode} ·" in status, status
        noted = output(pane).count("other users of lab can read its output")
        assert noted == (1 if mode == "tcp" else 0), output(pane)
        await pilot.press("f4")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("down", "enter")  # shut the kernel down
        await until(lambda: not app.query(ConsolePane))
