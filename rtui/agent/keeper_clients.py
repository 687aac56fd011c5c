"""The keeper's clients: one request line each, then a reply (and close) or a stream of
records; every socket non-blocking, so a slow or stuck client never holds anything up.

A client's bad input (not JSON, not an object, a line over 64 KiB, nothing at all for
``IDLE_TIMEOUT``) is answered with an error or closed, never raised into the keeper.
"""

from __future__ import annotations

import json
import socket
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .keeper_buffer import Follower

MAX_LINE = 64 * 1024
IDLE_TIMEOUT = 10.0  # seconds a connection may stay without sending its request line
CHUNK = 256 * 1024  # bytes of records prepared per send
ROUNDS = 4  # sends per client per loop turn, so one fast reader cannot starve the loop
POLLIN, POLLOUT, POLLERR = 1, 2, 4  # zmq.Poller's flags (the keeper checks they are)


class Client:
    """One connection: its request, then what is owed to it."""

    def __init__(self, sock: socket.socket, table: ClientTable, now: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.table = table
        self.opened = now
        self.inbuf = bytearray()
        self.requested = False
        self.out = b""
        self.sent = 0
        self.follower: Follower | None = None
        self.identity: bytes | None = None  # the shell identity it named (see keeper_stdin)
        self.close_when_flushed = False
        self.closed = False
        self.blocked = False  # its socket was full: wait for POLLOUT

    def reply(self, obj: dict[str, Any]) -> None:
        """Send one JSON line, then close."""
        if self.closed:
            return
        self.out = self.out[self.sent:] + json.dumps(obj, default=str).encode() + b"\n"
        self.sent = 0
        self.close_when_flushed = True
        self.table.flush(self)

    def follow(self, header: dict[str, Any], follower: Follower) -> None:
        """Send the header line, then records for as long as the client stays."""
        self.out = json.dumps(header, default=str).encode() + b"\n"
        self.sent = 0
        self.follower = follower
        self.table.flush(self)

    def pending(self) -> bool:
        return self.sent < len(self.out) or (
            self.follower is not None and self.follower.has_more())


class ClientTable:
    """Every connected client, registered with the keeper's poller by file descriptor."""

    def __init__(self, poller: Any) -> None:
        self.poller = poller
        self.by_fd: dict[int, Client] = {}
        self.flags: dict[int, int] = {}
        self.on_close: Callable[[Client], None] | None = None  # after it left the table

    def followers(self) -> list[Client]:
        return [c for c in self.by_fd.values() if c.follower is not None]

    def accept(self, listener: socket.socket) -> None:
        now = time.monotonic()
        for _ in range(64):
            try:
                sock, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, ...: try again on the next wake-up
                return
            sock.setblocking(False)
            client = Client(sock, self, now)
            self.by_fd[client.fd] = client
            self._register(client, POLLIN)

    def _register(self, client: Client, flags: int) -> None:
        if self.flags.get(client.fd) != flags:
            self.poller.register(client.fd, flags)
            self.flags[client.fd] = flags

    def close(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
        self.by_fd.pop(client.fd, None)
        if self.flags.pop(client.fd, None) is not None:
            self.poller.unregister(client.fd)
        client.sock.close()
        if self.on_close is not None and client.follower is not None:
            self.on_close(client)

    def on_event(self, fd: int, flags: int, serve: Callable[[Client, Any], None]) -> None:
        client = self.by_fd.get(fd)
        if client is None:
            return
        if flags & POLLIN:
            self._read(client, serve)
        if not client.closed and flags & POLLOUT:
            client.blocked = False
            self.flush(client)
        if not client.closed and flags & POLLERR and not flags & POLLIN:
            self.close(client)

    def _read(self, client: Client, serve: Callable[[Client, Any], None]) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away (or half-closed): nothing more is owed to it
            self.close(client)
            return
        if client.requested:
            return  # after the request line, input is ignored
        client.inbuf += data
        end = client.inbuf.find(b"\n")
        if end < 0 and len(client.inbuf) <= MAX_LINE:
            return
        client.requested = True
        if end < 0 or end > MAX_LINE:
            client.inbuf = bytearray()
            client.reply({"ok": False, "error": f"request line longer than {MAX_LINE} bytes"})
            return
        line = bytes(client.inbuf[:end])
        client.inbuf = bytearray()
        try:
            request = json.loads(line.decode("utf-8"))
        except ValueError as e:
            client.reply({"ok": False, "error": f"not a JSON line: {e}"})
            return
        try:
            serve(client, request)
        except Exception as e:  # never let one request end the keeper
            client.reply({"ok": False, "error": f"{type(e).__name__}: {e}"})

    def flush(self, client: Client) -> None:
        """Send what the socket takes now; wait for POLLOUT when it is full."""
        if client.closed or client.blocked:
            return
        for _ in range(ROUNDS):
            if client.sent >= len(client.out):
                chunk = client.follower.fill(CHUNK) if client.follower is not None else b""
                if not chunk:
                    break
                client.out, client.sent = chunk, 0
            try:
                client.sent += client.sock.send(memoryview(client.out)[client.sent:])
            except (BlockingIOError, InterruptedError):
                client.blocked = True
                break
            except OSError:
                self.close(client)
                return
            if client.sent < len(client.out):
                client.blocked = True
                break
        if not client.pending() and client.close_when_flushed:
            self.close(client)
            return
        self._register(client, POLLIN | (POLLOUT if client.pending() else 0))

    def flush_followers(self) -> None:
        for client in self.followers():
            if not client.blocked and client.pending():
                self.flush(client)

    def expire(self, now: float) -> None:
        for client in list(self.by_fd.values()):
            if not client.requested and now - client.opened > IDLE_TIMEOUT:
                self.close(client)

    def drain(self, timeout: float) -> None:
        """Before the keeper leaves: give pending replies up to ``timeout`` to go out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = [c for c in self.by_fd.values()
                       if c.sent < len(c.out) or (c.follower is not None and c.follower.events)]
            if not waiting:
                return
            for client in waiting:
                client.blocked = False
                self.flush(client)
            time.sleep(0.01)

    def close_all(self) -> None:
        for client in list(self.by_fd.values()):
            self.close(client)
