"""How rtui reaches a host's sockets (rtui/core/kernels/routes.py), against the real sshd in
each of its configurations: streamlocal, TCP forwarding only, neither (the relay)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.agent.relay import WINDOW
from rtui.core import locations
from rtui.core.config.model import Settings
from rtui.core.errors import RtuiError, TargetUnreachableError
from rtui.core.kernels.remembered import RouteKinds
from rtui.core.kernels.routes import HostRoutes
from rtui.core.remote.client import AgentClient
from rtui.core.ssh.connection import ConnState, HostConnection
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, kill_pid, pids_mentioning
from tests.ssh_helpers import connection, host_for, trust
from tests.test_agent import Agent, agent_env, bundle

__all__ = ["bundle"]  # the session fixture, shared with test_agent

NO_STREAMLOCAL = "AllowStreamLocalForwarding no"
NO_FORWARDING = "AllowStreamLocalForwarding no\nAllowTcpForwarding no"
CONFIGS = {"streamlocal": "", "tcp": NO_STREAMLOCAL, "relay": NO_FORWARDING}


class EchoServers:
    """A Unix and a TCP echo server on "the host" (this machine), in threads."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "echo")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.path)
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.port = int(self.tcp.getsockname()[1])
        for listener in (self.unix, self.tcp):
            listener.listen(64)
            threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        for listener in (self.unix, self.tcp):
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[EchoServers]:
    servers = EchoServers(tmp_path)
    try:
        yield servers
    finally:
        servers.close()


def _routes_for(server: SSHD, home: Path, **settings: object
                ) -> tuple[HostConnection, HostRoutes, AgentClient]:
    trust(server, home)
    conn, _ = connection(host_for(server), settings=Settings(**settings))  # type: ignore[arg-type]
    agent = AgentClient(conn)
    return conn, HostRoutes(conn, agent), agent


@pytest_asyncio.fixture(params=list(CONFIGS))
async def routes(request: pytest.FixtureRequest, sshd_factory: Callable[..., SSHD],
                 isolated_home: Path) -> AsyncIterator[tuple[str, HostRoutes]]:
    expected = str(request.param)
    server = sshd_factory(extra_config=CONFIGS[expected])
    conn, routes, agent = _routes_for(server, isolated_home)
    try:
        yield expected, routes
    finally:
        await routes.close()
        await agent.close()
        await conn.close()


async def _roundtrip(routes: HostRoutes, target: tuple[str, str] | tuple[str, str, int],
                     payload: bytes) -> bytes:
    reader, writer = await routes.open_stream(target)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    finally:
        writer.close()


async def test_the_mode_is_the_one_the_server_allows_and_streams_work(
        routes: tuple[str, HostRoutes], echo: EchoServers) -> None:
    expected, route = routes
    assert route.mode is None  # nothing decided before it is needed
    assert await route.ready() == expected
    assert route.mode == expected
    assert await _roundtrip(route, ("unix", echo.path), b"over unix\n") == b"over unix\n"
    assert await _roundtrip(route, ("tcp", "127.0.0.1", echo.port), b"tcp") == b"tcp"
    reader, writer = await route.open_stream(("unix", echo.path))
    writer.write(b"line one\nline two\n")
    await writer.drain()
    assert await reader.readline() == b"line one\n"
    assert await reader.readline() == b"line two\n"
    writer.write_eof()  # the host side sees the end and closes: we read the end
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_remembered_kinds_open_channels_before_the_probe_and_yield_to_it_when_refused(
        routes: tuple[str, HostRoutes], echo: EchoServers) -> None:
    """The kinds the server opened last time are used at once; where it refuses one now,
    the stream is opened again by the probe's decision."""
    expected, route = routes
    route.assume(RouteKinds(unix=True, tcp=True))
    assert await _roundtrip(route, ("unix", echo.path), b"unix") == b"unix"
    assert await _roundtrip(route, ("tcp", "127.0.0.1", echo.port), b"tcp") == b"tcp"
    # Where the server opens both, no probe was needed; else it decided.
    assert route.mode == (None if expected == "streamlocal" else expected)


async def test_allow_tcp_forwarding_no_alone_refuses_streamlocal_too(
        sshd_factory: Callable[..., SSHD], isolated_home: Path, echo: EchoServers) -> None:
    """``AllowTcpForwarding no`` alone (the cluster setting): OpenSSH then denies Unix
    socket channels too (its permission to open local channels covers both), which the
    probe finds, so both kinds of target go through the relay."""
    server = sshd_factory(extra_config="AllowTcpForwarding no")
    conn, route, agent = _routes_for(server, isolated_home)
    try:
        assert await route.ready() == "relay"
        assert "request to connect to path" in server.log_text()  # denied, as the probe saw
        assert await _roundtrip(route, ("tcp", "127.0.0.1", echo.port), b"tcp") == b"tcp"
        assert await _roundtrip(route, ("unix", echo.path), b"unix") == b"unix"
    finally:
        await route.close()
        await agent.close()
        await conn.close()


async def test_a_missing_socket_is_named(routes: tuple[str, HostRoutes], tmp_path: Path) -> None:
    _, route = routes
    missing = str(tmp_path / "nothing-here")
    with pytest.raises(TargetUnreachableError) as info:
        await route.open_stream(("unix", missing))
    assert missing in str(info.value) or "open failed" in str(info.value)


async def test_a_local_forward_is_private_and_reaches_the_target(
        routes: tuple[str, HostRoutes], echo: EchoServers) -> None:
    _, route = routes
    directory = locations.kernel_socket_dir()
    try:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(directory.parent.parent.stat().st_mode) == 0o700
        forward = await route.forward(directory / "k-1", ("unix", echo.path))
        assert stat.S_ISSOCK((directory / "k-1").stat().st_mode)
        reader, writer = await asyncio.open_unix_connection(str(directory / "k-1"))
        for size in (1, 1000, 300_000):
            payload = os.urandom(size)
            writer.write(payload)
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(size), 20) == payload
        writer.close()
        await forward.close()
        assert not (directory / "k-1").exists()
    finally:
        directory.rmdir()


async def test_the_relay_carries_a_flood_whole_beside_a_quiet_stream(
        sshd_factory: Callable[..., SSHD], isolated_home: Path, echo: EchoServers) -> None:
    """8 MiB through one stream of the relay while another stream keeps answering: nothing
    lost, nothing reordered, and the quiet stream is not starved."""
    server = sshd_factory(extra_config=NO_FORWARDING)
    conn, route, agent = _routes_for(server, isolated_home)
    try:
        assert await route.ready() == "relay"
        flood = os.urandom(8 * 1024 * 1024)
        reader, writer = await route.open_stream(("unix", echo.path))

        async def send() -> None:
            for start in range(0, len(flood), 100_000):
                writer.write(flood[start:start + 100_000])
                await writer.drain()

        async def receive() -> bytes:
            got = bytearray()
            while len(got) < len(flood):
                chunk = await reader.read(65536)
                assert chunk
                got += chunk
            return bytes(got)

        sender = asyncio.ensure_future(send())
        receiver = asyncio.ensure_future(receive())
        lags = []
        while not receiver.done():
            started = asyncio.get_running_loop().time()
            assert await _roundtrip(route, ("tcp", "127.0.0.1", echo.port), b"ping") == b"ping"
            lags.append(asyncio.get_running_loop().time() - started)
        got = await asyncio.wait_for(receiver, 60)
        await sender
        assert hashlib.sha256(got).digest() == hashlib.sha256(flood).digest()
        assert lags and max(lags) < 2.0, lags
        writer.close()
    finally:
        await route.close()
        await agent.close()
        await conn.close()


async def test_a_stream_nobody_reads_holds_at_most_its_window(
        sshd_factory: Callable[..., SSHD], isolated_home: Path, tmp_path: Path,
        echo: EchoServers) -> None:
    """A host socket that floods while its reader here is busy: the relay stops at the
    stream's window (no memory grows on either side), other streams go on, and once read
    everything arrives."""
    server = sshd_factory(extra_config=NO_FORWARDING)
    conn, route, agent = _routes_for(server, isolated_home)
    total = 32 * 1024 * 1024
    flooder = socket.socket(socket.AF_UNIX)
    flooder.bind(str(tmp_path / "flood"))
    flooder.listen(1)

    def flood() -> None:
        peer, _ = flooder.accept()
        with peer:
            block = bytes(range(256)) * 256
            for _ in range(total // len(block)):
                peer.sendall(block)

    threading.Thread(target=flood, daemon=True).start()
    try:
        reader, writer = await route.open_stream(("unix", str(tmp_path / "flood")))
        await asyncio.sleep(1.5)  # not reading
        assert 0 < reader.buffered <= WINDOW  # type: ignore[attr-defined]
        assert await _roundtrip(route, ("unix", echo.path), b"still here") == b"still here"
        got = 0
        while got < total:
            chunk = await asyncio.wait_for(reader.read(1 << 20), 20)
            assert chunk
            got += len(chunk)
            assert reader.buffered <= WINDOW  # type: ignore[attr-defined]
        assert got == total
        writer.close()
    finally:
        flooder.close()
        await route.close()
        await agent.close()
        await conn.close()


async def test_a_relay_that_dies_is_started_again_and_its_streams_end(
        sshd_factory: Callable[..., SSHD], isolated_home: Path, echo: EchoServers) -> None:
    server = sshd_factory(extra_config=NO_FORWARDING)
    conn, route, agent = _routes_for(server, isolated_home)
    try:
        reader, writer = await route.open_stream(("unix", echo.path))
        relays = [pid for pid in pids_mentioning(".pyz relay")
                  if str(server.remote_home) in Path(f"/proc/{pid}/environ").read_text(
                      errors="replace")]
        assert len(relays) == 1  # one exec channel, whatever the number of streams
        kill_pid(relays[0])
        with pytest.raises(ConnectionResetError, match="relay"):
            await asyncio.wait_for(reader.readexactly(1), 10)  # said, not silence
        assert await _roundtrip(route, ("unix", echo.path), b"again") == b"again"
        writer.close()
    finally:
        await route.close()
        await agent.close()
        await conn.close()


async def test_after_a_reconnect_the_forward_works_again_on_the_same_path(
        sshd_factory: Callable[..., SSHD], isolated_home: Path, echo: EchoServers) -> None:
    for expected, extra in CONFIGS.items():
        server = sshd_factory(extra_config=extra)
        async with TCPRelay("127.0.0.1", server.port) as relay:
            (isolated_home / ".ssh").mkdir(exist_ok=True)
            (isolated_home / ".ssh" / "known_hosts").write_text(
                relay.known_hosts_line(server.host_key_pub) + "\n")
            conn, events = connection(host_for(server, port=relay.port),
                                      settings=Settings(reconnect_max_delay=0.5,
                                                        connect_timeout=5))
            agent = AgentClient(conn)
            route = HostRoutes(conn, agent)
            directory = locations.kernel_socket_dir()
            path = str(directory / "k-1")
            try:
                assert await route.ready() == expected
                restored = asyncio.Event()
                route.on_ready(restored.set)
                await route.forward(path, ("unix", echo.path))
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(b"before")
                assert await asyncio.wait_for(reader.readexactly(6), 10) == b"before"
                generation = conn.generation
                relay.cut()
                await events.until(lambda e: e.state is ConnState.LOST, timeout=10)
                # The stream of the lost connection ends; the local listener stays.
                assert await asyncio.wait_for(reader.read(), 10) == b""
                await asyncio.wait_for(restored.wait(), 15)
                assert conn.generation > generation and route.mode == expected
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(b"after")
                assert await asyncio.wait_for(reader.readexactly(5), 10) == b"after"
                writer.close()
            finally:
                await route.close()
                await agent.close()
                await conn.close()
                directory.rmdir()


def test_the_local_socket_root_is_private_and_refuses_what_is_not_ours(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    root = locations.runtime_dir()
    assert root == runtime / "rtui" and stat.S_IMODE(root.stat().st_mode) == 0o700
    root.chmod(0o755)
    assert stat.S_IMODE(locations.runtime_dir().stat().st_mode) == 0o700  # tightened
    root.rmdir()
    root.symlink_to(tmp_path)
    with pytest.raises(RtuiError, match="symlink"):
        locations.runtime_dir()
    root.unlink()
    if os.getuid() == 0:  # a directory owned by someone else is refused
        root.mkdir(mode=0o700)
        os.chown(root, 65534, 65534)
        with pytest.raises(RtuiError, match="belongs to uid 65534"):
            locations.runtime_dir()
        root.rmdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert locations.runtime_dir() == Path(f"/tmp/rtui-{os.getuid()}")
    one, two = locations.kernel_socket_dir(), locations.kernel_socket_dir()
    assert one != two and one.parent == two.parent == Path(f"/tmp/rtui-{os.getuid()}") / "c"
    assert len(str(one / "k-5")) < 60  # far below a socket path's 108 bytes
    one.rmdir()
    two.rmdir()


# ---------------------------------------------------------------- the agent's probe socket

async def test_the_probe_socket_is_in_the_sessions_own_root_and_goes_with_the_agent(
        sshd: SSHD, isolated_home: Path) -> None:
    """The harness gives sshd's sessions their own socket root (not the machine's
    /tmp/rtui-<uid>, where runs killed earlier leave things); the agent's probe socket is
    there while it runs, and gone once rtui closes it."""
    conn, routes, agent = _routes_for(sshd, isolated_home)
    try:
        assert await routes.ready() == "streamlocal"
        probe = Path((await agent.start())["probe_socket"])
        assert sshd.runtime_dir is not None
        assert probe.parent == sshd.runtime_dir / "rtui" and probe.is_socket()
    finally:
        await routes.close()
        await agent.close()
        await conn.close()
    deadline = time.monotonic() + 5
    while probe.exists():
        assert time.monotonic() < deadline, f"{probe} is still there"
        await asyncio.sleep(0.02)


def test_probe_sockets_are_removed_when_the_agent_leaves_or_by_the_next_one(
        bundle: Path, isolated_home: Path) -> None:
    """Its stdin ends, SIGTERM: the agent removes its probe socket. SIGKILL: it cannot; the
    next agent removes it (its pid is gone), and one of a live pid that nobody listens on
    (that pid is another process now), never a live agent's."""
    root = Path(os.environ["XDG_RUNTIME_DIR"]) / "rtui"  # the test's own (conftest)
    env = agent_env(isolated_home)
    agents: list[Agent] = []

    def start() -> tuple[Agent, Path]:
        agent = Agent(env, bundle)
        agents.append(agent)
        agent._wait(lambda: agent.ready is not None, 30)
        assert agent.ready is not None
        probe = Path(agent.ready["probe_socket"])
        assert probe == root / f"probe-{agent.proc.pid}" and probe.is_socket()
        return agent, probe

    try:
        first, first_probe = start()
        second, second_probe = start()
        assert first_probe.exists()  # a live agent's is left alone
        assert first.close() == 0 and not first_probe.exists()
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(10) == 128 + signal.SIGTERM and not second_probe.exists()
        third, third_probe = start()
        third.proc.kill()
        third.proc.wait(10)
        assert third_probe.exists()
        reused = root / f"probe-{os.getpid()}"  # a live pid, and nobody listens there
        with socket.socket(socket.AF_UNIX) as dead:
            dead.bind(str(reused))
        fourth, fourth_probe = start()
        assert not third_probe.exists() and not reused.exists()
        assert fourth.close() == 0 and not fourth_probe.exists()
        assert [p.name for p in root.iterdir() if p.name.startswith("probe-")] == []
    finally:
        for agent in agents:
            if agent.proc.poll() is None:
                agent.proc.kill()
