"""How rtui reaches sockets on a host, privately: one ``HostRoutes`` per host connection.

Decided once per connection generation, in this order:

- ``streamlocal``: SSH channels straight to the host's Unix sockets (OpenSSH's
  direct-streamlocal); rtui's kernels listen on Unix sockets in a 0700 directory.
- ``tcp``: the server refuses streamlocal but forwards TCP: channels to 127.0.0.1 on the
  host (rtui's kernels then listen there, which other users of the host can reach; the
  console says so); Unix sockets (the keeper's) go through the relay.
- ``relay``: the server forwards neither (clusters often set ``AllowTcpForwarding no``):
  every stream goes through ONE exec channel running the agent's ``relay`` sub-command.

Each kind is probed by opening a channel: TCP to a closed port on the host ("administratively
prohibited" = refused, a failed connect = allowed), streamlocal to the agent's probe socket
(OpenSSH answers a refused streamlocal open as it does one to a path where nothing listens,
so the probe needs a path that surely listens).

That probe waits for the agent's greeting (which names the socket). Until it is decided, the
kinds the server opened at the last connection (``assume``, remembered by the caller) are
used for direct channels: one round trip sooner on a far link. A channel the server does not
open then is opened again once the decision is in (refused and missing look alike).

The local end of a forward is always a Unix socket (``forward``): its listener lives as long
as the forward, across reconnects; each connection made to it opens a stream over the route
of the generation it comes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import asyncssh

from rtui.agent.relay import CHUNK
from rtui.core.errors import RtuiError, SSHError, TargetUnreachableError
from rtui.core.kernels.relay_client import RelayChannel, Target, describe
from rtui.core.kernels.remembered import RouteKinds
from rtui.core.remote.client import AgentClient
from rtui.core.ssh.connection import ConnState, HostConnection, StateChange

__all__ = ["MODES", "Forward", "HostRoutes", "Mode", "StreamReader", "StreamWriter", "Target"]

log = logging.getLogger(__name__)

Mode = Literal["streamlocal", "tcp", "relay"]
MODES: tuple[Mode, ...] = ("streamlocal", "tcp", "relay")
_PROBE_TIMEOUT = 10.0
_PROBE_PORT = 1  # a TCP port on the host where, most likely, nothing listens
_RELAY_START_TIMEOUT = 15.0


class StreamReader(Protocol):
    """What ``open_stream`` gives to read (asyncio's StreamReader, asyncssh's SSHReader)."""

    async def read(self, n: int = -1) -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...
    async def readline(self) -> bytes: ...
    def at_eof(self) -> bool: ...


class StreamWriter(Protocol):
    """What ``open_stream`` gives to write (asyncio's StreamWriter, asyncssh's SSHWriter)."""

    def write(self, data: bytes) -> None: ...
    def write_eof(self) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...
    def is_closing(self) -> bool: ...


@dataclass
class _Generation:
    """What one connection generation allows, and its relay once started."""

    number: int
    conn: asyncssh.SSHClientConnection
    unix: bool
    tcp: bool
    relay: RelayChannel | None = None

    @property
    def mode(self) -> Mode:
        return "streamlocal" if self.unix else "tcp" if self.tcp else "relay"


class HostRoutes:
    """Streams and forwards to sockets on one host, over its shared connection."""

    def __init__(self, connection: HostConnection, agent: AgentClient) -> None:
        self.connection = connection
        self.agent = agent
        self._current: _Generation | None = None
        self._deciding: asyncio.Task[_Generation] | None = None
        self._relay_lock = asyncio.Lock()
        self._ready_callbacks: list[Callable[[], None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._redecide: asyncio.Task[None] | None = None
        self._forwards: list[Forward] = []
        self._assumed: RouteKinds | None = None

    @property
    def name(self) -> str:
        return self.connection.name

    @property
    def kinds(self) -> RouteKinds | None:
        """The direct channels this generation's server opens; None until decided."""
        current = self._current
        if current is None or current.number != self.connection.generation:
            return None
        return RouteKinds(current.unix, current.tcp)

    def assume(self, kinds: RouteKinds | None) -> None:
        """Open direct channels of these kinds before the decision is in (see the module's
        docstring); None: wait for it."""
        self._assumed = kinds

    @property
    def mode(self) -> Mode | None:
        """How this generation reaches the host's sockets; None until decided."""
        current = self._current
        if current is None or current.number != self.connection.generation:
            return None
        return current.mode

    def on_ready(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` each time the routes are decided again after a reconnect;
        returns the function that stops it."""
        self._ready_callbacks.append(callback)
        return lambda: (self._ready_callbacks.remove(callback)
                        if callback in self._ready_callbacks else None)

    async def ready(self) -> Mode:
        """Decide (once per connection generation) how to reach the host; the mode."""
        return (await self._generation()).mode

    def prepare(self) -> None:
        """Start deciding now, in the background (its probes then overlap the caller's own
        requests: one round trip fewer on a far link); a failure is met again by ready()."""
        if self.mode is None:
            task = asyncio.ensure_future(self._generation())
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def open_stream(
        self, target: Target, *, timeout: float = 10.0, connect: bool = True,
    ) -> tuple[StreamReader, StreamWriter]:
        """A byte stream to ``target`` on the host: ``("unix", path)`` or
        ``("tcp", host, port)``. While the connection is being re-made this waits for it
        (at most ``timeout``: TimeoutError); SSHError says why there is no stream:
        TargetUnreachableError when the host is there but nothing listens at ``target``.
        ``connect``: connect if nobody has (else only a live or returning connection)."""
        async with asyncio.timeout(timeout):
            while True:
                await self._until_connected(connect)
                stream = await self._open_assumed(target)
                if stream is not None:
                    return stream
                generation = await self._generation()
                try:
                    return await self._open(generation, target, timeout)
                except SSHError:
                    if generation.number == self.connection.generation:
                        raise
                    # The connection dropped meanwhile: try again on the new one.

    async def open_relayed(self, target: Target, *, timeout: float = 10.0,
                           quickack: bool = False) -> tuple[StreamReader, StreamWriter]:
        """A stream to ``target`` through the agent's relay whatever the server forwards
        (``quickack``: its host end ACKs the target's data at once; see the agent's relay).
        SSHError when the relay cannot start or open it; TimeoutError past ``timeout``."""
        async with asyncio.timeout(timeout):
            await self._until_connected(True)
            relay = await self._relay(await self._generation())
            return await relay.open(target, timeout=timeout, quickack=quickack)

    async def forward(self, local_path: str | os.PathLike[str], target: Target) -> Forward:
        """A Unix listener at ``local_path`` (in a private directory of the caller's) whose
        connections reach ``target`` on the host; it stays across reconnects (and does
        not connect again after the connection is closed)."""
        if not self._assumes(target):
            await self.ready()
        forward = Forward(self, Path(local_path), target)
        await forward.start()
        self._forwards.append(forward)
        return forward

    async def close(self) -> None:
        """Close every forward and the relay; stop following the connection."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in (self._redecide, self._deciding):
            if task is not None:
                task.cancel()
        for forward in list(self._forwards):
            await forward.close()
        current, self._current = self._current, None
        if current is not None and current.relay is not None:
            current.relay.close()

    # -- deciding ----------------------------------------------------------------------------

    async def _until_connected(self, connect: bool) -> None:
        """Connect when nobody has (if ``connect``); while a lost connection is being
        re-made, wait for it."""
        connection = self.connection
        if connection.state is ConnState.CONNECTED:
            return
        if connection.state in (ConnState.DISCONNECTED, ConnState.FAILED):
            if not connect:
                raise SSHError(f"{self.name} is not connected ({connection.state})")
            await connection.connect()
            return
        changed = asyncio.Event()
        unsubscribe = connection.subscribe(lambda change: changed.set())
        try:
            while True:
                state = self._state()  # changes while we wait (mypy narrowed the attribute)
                if state is ConnState.CONNECTED:
                    return
                if state in (ConnState.DISCONNECTED, ConnState.FAILED):
                    raise SSHError(f"{self.name}: {connection.reason or state}")
                changed.clear()
                await changed.wait()
        finally:
            unsubscribe()

    def _state(self) -> ConnState:
        return self.connection.state

    async def _generation(self) -> _Generation:
        if self._unsubscribe is None:
            self._unsubscribe = self.connection.subscribe(self._on_change)
        current = self._current
        if current is not None and current.number == self.connection.generation:
            return current
        task = self._deciding
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None
                                             or task.result().number
                                             != self.connection.generation)):
            task = self._deciding = asyncio.ensure_future(self._decide())
        return await asyncio.shield(task)

    async def _decide(self) -> _Generation:
        await self.connection.connect()
        hello = await self.agent.start()  # (re)started for this generation: its probe socket
        conn = self.connection.conn
        number = self.connection.generation
        unix, tcp = await asyncio.gather(
            self._probe(conn, "unix", hello.get("probe_socket")),
            self._probe(conn, "tcp", None))
        old, self._current = self._current, _Generation(number, conn, unix, tcp)
        if old is not None and old.relay is not None:
            old.relay.close()
        log.info("%s: kernel sockets reached by %s (streamlocal %s, tcp %s)", self.name,
                 self._current.mode, "allowed" if unix else "refused",
                 "allowed" if tcp else "refused")
        return self._current

    async def _probe(self, conn: asyncssh.SSHClientConnection, kind: str,
                     path: object) -> bool:
        """Whether the server opens channels of this kind (see the module's docstring)."""
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                if kind == "unix":
                    if not isinstance(path, str):
                        log.info("%s: the agent has no probe socket; not using streamlocal",
                                 self.name)
                        return False
                    _, writer = await conn.open_unix_connection(path)
                else:
                    _, writer = await conn.open_connection("127.0.0.1", _PROBE_PORT)
                writer.close()
                return True
        except asyncssh.ChannelOpenError as exc:
            if kind == "unix":  # the probe socket listens: any failure is a refusal
                return False
            return exc.code != asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED
        except TimeoutError:
            log.warning("%s: no answer to the %s forwarding probe within %g s", self.name,
                        kind, _PROBE_TIMEOUT)
            return False

    def _on_change(self, change: StateChange) -> None:
        if change.state is not ConnState.CONNECTED:
            return
        current = self._current
        if current is None or current.number == change.generation:
            return  # the first decision is its caller's; this one is made already
        if self._redecide is None or self._redecide.done():
            self._redecide = asyncio.get_running_loop().create_task(self._after_reconnect())

    async def _after_reconnect(self) -> None:
        try:
            await self._generation()
        except (RtuiError, asyncssh.Error, OSError) as exc:
            log.warning("%s: cannot re-establish kernel routes: %s", self.name, exc)
            return
        for callback in list(self._ready_callbacks):
            try:
                callback()
            except Exception:  # one listener's bug must not keep the others waiting
                log.exception("%s: a listener failed after the routes came back", self.name)

    # -- opening -----------------------------------------------------------------------------

    def _assumes(self, target: Target) -> bool:
        """Whether ``target`` is opened on the assumption (no decision yet, and the kinds
        remembered say the server opens such channels)."""
        kinds = self._assumed
        if kinds is None or self.kinds is not None:
            return False
        return kinds.unix if target[0] == "unix" else target[0] == "tcp" and kinds.tcp

    async def _open_assumed(self, target: Target) -> tuple[StreamReader, StreamWriter] | None:
        """A direct channel opened on the assumption, None when there is none to make or the
        server did not open it (the caller then waits for the decision)."""
        if not self._assumes(target):
            return None
        try:
            conn = self.connection.conn
            if target[0] == "unix":
                return await conn.open_unix_connection(target[1])
            host, port = target[1], int(target[2])  # type: ignore[misc]
            return await conn.open_connection(host, port)
        except (SSHError, asyncssh.Error, OSError) as exc:
            log.debug("%s: %s not opened on the routes remembered (%s); waiting for the "
                      "probe", self.name, describe(target), exc)
            return None

    async def _open(self, generation: _Generation, target: Target,
                    timeout: float) -> tuple[StreamReader, StreamWriter]:
        kind = target[0]
        if kind not in ("unix", "tcp"):
            raise SSHError(f"unknown kind of target {kind!r}")
        direct = generation.unix if kind == "unix" else generation.tcp
        try:
            if direct and kind == "unix":
                return await generation.conn.open_unix_connection(target[1])
            if direct:
                host, port = target[1], int(target[2])  # type: ignore[misc]
                return await generation.conn.open_connection(host, port)
        except asyncssh.ChannelOpenError as exc:
            raise TargetUnreachableError(f"cannot reach {describe(target)} on {self.name}: "
                                         f"{exc.reason}") from exc
        except (asyncssh.Error, OSError) as exc:
            raise SSHError(f"cannot reach {describe(target)} on {self.name}: {exc}") from exc
        relay = await self._relay(generation)
        return await relay.open(target, timeout=timeout)

    async def _relay(self, generation: _Generation) -> RelayChannel:
        """This generation's relay, started on first use (one exec channel for all)."""
        async with self._relay_lock:
            if generation.relay is not None and not generation.relay.closed:
                return generation.relay
            command = await self.agent.subcommand("relay")
            try:
                process = await asyncio.wait_for(
                    generation.conn.create_process(command, encoding=None),
                    _RELAY_START_TIMEOUT)
            except TimeoutError:
                raise SSHError(f"the relay on {self.name} did not start within "
                               f"{_RELAY_START_TIMEOUT:g} s") from None
            except (asyncssh.Error, OSError) as exc:
                raise SSHError(f"cannot start the relay on {self.name}: {exc}") from exc
            generation.relay = RelayChannel(process, self.name)
            log.info("%s: relay started (one exec channel for every kernel stream)", self.name)
            return generation.relay


class Forward:
    """A local Unix listener whose connections are relayed to a target on the host."""

    def __init__(self, routes: HostRoutes, path: Path, target: Target, *,
                 opener: Callable[[], Awaitable[tuple[StreamReader, StreamWriter]]] | None
                 = None) -> None:
        self.routes = routes
        self.path = path
        self.target = target
        self._opener = opener  # how each connection's stream is opened (default: open_stream)
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)  # a socket left by a process that died
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        except OSError as exc:
            raise SSHError(f"cannot listen on {self.path}: {exc.strerror or exc}") from exc
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.routes._forwards.remove(self)
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._pipes):
            task.cancel()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass  # closed: asyncio 3.11 would log a cancelled connection handler as an error
        finally:
            writer.close()
            self._pipes.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            remote_reader, remote_writer = await (
                self._opener() if self._opener is not None else self.routes.open_stream(
                    self.target, connect=False,
                    timeout=self.routes.connection.settings.connect_timeout + 20))
        except (RtuiError, TimeoutError, asyncssh.Error, OSError) as exc:
            log.debug("%s: forward %s -> %s: %s", self.routes.name, self.path,
                      describe(self.target), exc)
            return
        try:
            await _join(reader, writer, remote_reader, remote_writer)
        finally:
            remote_writer.close()


async def _join(local_reader: StreamReader, local_writer: StreamWriter,
                remote_reader: StreamReader, remote_writer: StreamWriter) -> None:
    """Copy both ways until both ends are done, or either fails."""
    up = asyncio.ensure_future(_pipe(local_reader, remote_writer))
    down = asyncio.ensure_future(_pipe(remote_reader, local_writer))
    try:
        done, _ = await asyncio.wait((up, down), return_when=asyncio.FIRST_EXCEPTION)
        if any(not task.cancelled() and task.exception() is not None for task in done):
            return
        await asyncio.wait((up, down))
    finally:
        up.cancel()
        down.cancel()


async def _pipe(reader: StreamReader, writer: StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError, asyncssh.Error):
        writer.write_eof()

