"""Network fault injection for integration tests: a TCP relay and a black-hole port (stdlib only).

``TCPRelay`` sits between the client under test and a real server (e.g. the ``sshd``
fixture) and lets a test break the link on purpose::

    relay = TCPRelay(sshd.host, sshd.port)
    await relay.start()
    try:
        kwargs = sshd.connect_kwargs() | {"port": relay.port}
        async with asyncssh.connect(**kwargs) as conn:  # known_hosts: see below
            relay.freeze()      # link goes silent: nothing arrives, nothing is closed
            relay.thaw()        # held bytes are delivered, the session carries on
            relay.cut()         # every relayed connection is reset (RST)
    finally:
        await relay.close()

The relay listens on a different port than the server, so a known_hosts file written for
``[127.0.0.1]:SERVER_PORT`` does not match ``[127.0.0.1]:RELAY_PORT``: write one for the
relay port (``relay.known_hosts_line(sshd.host_key_pub)``) or pass the host key directly.

``BlackHole`` is a port that accepts TCP connections but never says anything, so an SSH
client waits for the server banner until its own timeout fires.

Both run on the event loop that calls ``start()``: create them inside the async test
(same loop as the client under test).  Nothing here spawns threads or processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BlackHole", "TCPRelay"]

LOOPBACK = "127.0.0.1"
CHUNK = 65536  # bytes read per step; also the unit that ``delay`` applies to


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a stream abruptly: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(frozen=True)
class _Chunk:
    """Bytes read from one side (b"": EOF; an exception: the side failed), and the loop
    time at which the other side is to receive them."""

    due: float
    data: bytes | BaseException


class _Link:
    """One relayed connection: client <-> relay <-> target, pumped by two tasks."""

    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        target: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.client_reader, self.client_writer = client
        self.target_reader, self.target_writer = target
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        _reset(self.client_writer)
        _reset(self.target_writer)


class TCPRelay:
    """Forward TCP connections from ``127.0.0.1:port`` to ``(target_host, target_port)``.

    Faults, all effective immediately on every current (and future) relayed connection:

    * :meth:`freeze` / :meth:`thaw` -- stop / resume moving bytes in both directions.
      While frozen, sockets stay open and nothing is closed or reset: data (and EOF) sent
      by either side is *held* (read into the relay's buffers, then the kernel's) and
      delivered after ``thaw()``, like a link that went dead without a FIN and came back
      before TCP gave up.  Keepalive/timeouts of the client are what should notice it.
    * :meth:`cut` -- reset every current relayed connection (RST, both sides).  New
      connections are still accepted afterwards.
    * ``refuse_new = True`` -- new connections are accepted and reset at once (the client
      sees "connection reset" / EOF before any byte).  Existing ones are unaffected.
    * ``delay`` -- seconds of one-way latency, like a long cable: every chunk (up to 64 KiB)
      is delivered ``delay`` after it was read, each direction on its own and pipelined
      (a chunk read while earlier ones are in flight is not held behind their delays), in
      order.  A request/response exchange costs ``2 * delay`` per round trip, a stream
      only its first ``delay``.  Changing it affects chunks read afterwards.
    * ``bandwidth`` -- bytes per second each direction may carry (None: unlimited): chunks
      are paced as on a link of that speed, then delayed.

    ``active`` is the number of relayed connections currently open, ``accepted`` the
    number accepted since start (including refused ones).
    """

    def __init__(self, target_host: str, target_port: int, *, host: str = LOOPBACK) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0  # set by start()
        self.delay = 0.0
        self.bandwidth: float | None = None
        self.refuse_new = False
        self.accepted = 0
        self.bytes_forwarded = 0  # payload bytes delivered, both directions
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()  # one per accepted connection
        self._flowing = asyncio.Event()
        self._flowing.set()

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> TCPRelay:
        """Start listening on ``host`` (port chosen by the kernel, see ``port``)."""
        if self._server is not None:
            raise RuntimeError("TCPRelay already started")
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        """Stop listening and reset every relayed connection.  Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.cut()
        if self._handlers:  # let them see the reset and return, so no task is left pending
            await asyncio.wait(set(self._handlers), timeout=5)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> TCPRelay:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ faults

    @property
    def frozen(self) -> bool:
        return not self._flowing.is_set()

    @property
    def active(self) -> int:
        """Relayed connections currently open."""
        return len(self._links)

    def freeze(self) -> None:
        """Stop forwarding in both directions without closing anything (see class doc)."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Resume forwarding after :meth:`freeze`; held data is delivered in order."""
        self._flowing.set()

    def cut(self) -> None:
        """Reset (RST) every current relayed connection, client side and target side."""
        links, self._links = self._links, set()
        for link in links:
            link.reset()

    def known_hosts_line(self, host_key_pub: Path) -> str:
        """A known_hosts line that trusts ``host_key_pub`` (an OpenSSH .pub) on this relay."""
        key_type, key_data = host_key_pub.read_text().split()[:2]
        return f"[{self.host}]:{self.port} {key_type} {key_data}"

    # --------------------------------------------------------------- internals

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self.accepted += 1
        if self.refuse_new:
            _reset(writer)
            return
        try:
            target = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _reset(writer)
            return
        link = _Link((reader, writer), target)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, target[1])),
            asyncio.create_task(self._pump(link, target[0], writer)),
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            if link in self._links:  # not cut(): both directions ended (EOF) or failed
                await self._flowing.wait()  # a frozen link does not pass closes on either
            if link in self._links:  # (cut() while we waited: already reset)
                self._links.discard(link)
                for stream in (writer, target[1]):
                    stream.close()

    async def _pump(
        self, link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter
    ) -> None:
        """One direction: a reader stamps each chunk with when it is due, this delivers it
        then (so chunks in flight overlap, as on a real link), in order."""
        queue: asyncio.Queue[_Chunk] = asyncio.Queue()
        reader = asyncio.create_task(self._read(src, queue))
        try:
            while True:
                chunk = await queue.get()
                wait = chunk.due - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._flowing.wait()  # frozen meanwhile: hold the chunk (or EOF)
                if isinstance(chunk.data, BaseException):
                    raise chunk.data
                if not chunk.data:
                    break
                dst.write(chunk.data)
                await dst.drain()
                self.bytes_forwarded += len(chunk.data)
            if dst.can_write_eof() and not dst.is_closing():
                dst.write_eof()  # half-close: pass the FIN on, the other direction goes on
        except (ConnectionError, OSError):
            # One side was reset or failed: reset the other one too (once the link flows).
            if link in self._links:
                await self._flowing.wait()
            if link in self._links:
                self._links.discard(link)
                link.reset()
        finally:
            reader.cancel()

    async def _read(self, src: asyncio.StreamReader, queue: asyncio.Queue[_Chunk]) -> None:
        """Read chunks (nothing while frozen) and queue each with its due time; an EOF or
        an error ends the direction, delivered like data (after the delay)."""
        loop = asyncio.get_running_loop()
        free_at = 0.0  # when the paced link has sent what it was given so far
        while True:
            await self._flowing.wait()
            data: bytes | BaseException
            try:
                data = await src.read(CHUNK)
            except (ConnectionError, OSError) as exc:
                data = exc
            now = loop.time()
            sent = now
            if self.bandwidth and isinstance(data, bytes) and data:
                free_at = max(free_at, now) + len(data) / self.bandwidth
                sent = free_at
            queue.put_nowait(_Chunk(sent + self.delay, data))
            if not isinstance(data, bytes) or not data:
                return


class BlackHole:
    """A TCP port on 127.0.0.1 that never sends a byte.

    ``accept=True`` (default): connections are accepted and held open, anything received is
    discarded; ``connections`` counts them.  The client's TCP connect succeeds and it then
    waits forever for the SSH banner (login/handshake timeout).

    ``accept=False``: nothing is ever accepted; connections complete the TCP handshake in
    the kernel's backlog (until it is full, after which SYNs are dropped and *connect*
    times out instead).
    """

    def __init__(self, *, accept: bool = True, backlog: int = 16, host: str = LOOPBACK) -> None:
        self.accept = accept
        self.backlog = backlog
        self.host = host
        self.port = 0  # set by start()
        self.connections = 0  # accepted so far (accept=True only)
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None
        self._held: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> BlackHole:
        if self._server is not None or self._sock is not None:
            raise RuntimeError("BlackHole already started")
        if self.accept:
            self._server = await asyncio.start_server(
                self._swallow, self.host, 0, backlog=self.backlog
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.host, 0))
            sock.listen(self.backlog)
            self._sock = sock
            self.port = int(sock.getsockname()[1])
        return self

    async def close(self) -> None:
        """Stop listening and drop held connections (RST).  Idempotent."""
        server, self._server = self._server, None
        sock, self._sock = self._sock, None
        if server is not None:
            server.close()
        for writer in list(self._held):
            _reset(writer)
        self._held.clear()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=5)
        if server is not None:
            await server.wait_closed()
        if sock is not None:
            sock.close()  # the kernel resets connections still in the backlog

    async def __aenter__(self) -> BlackHole:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self.connections += 1
        self._held.add(writer)
        try:
            while await reader.read(CHUNK):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            if writer in self._held:
                self._held.discard(writer)
                writer.close()
