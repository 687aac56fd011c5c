"""What an SSH server inside this process needs around asyncssh: a throwaway host key, a
listener on 127.0.0.1 (a random free port) that knows its connections and ends them all on
close, and the known_hosts line that trusts it. The demo's server and the tests' scripted
servers are built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncssh

__all__ = ["LOOPBACK", "LoopbackListener", "TrackedServer"]

LOOPBACK = "127.0.0.1"


class LoopbackListener:
    """An asyncssh server on 127.0.0.1 with its own host key (ed25519, made here unless
    given); :meth:`stop` refuses new connections and aborts the open ones."""

    def __init__(self, host_key: asyncssh.SSHKey | None = None, *,
                 comment: str = "rtui-loopback") -> None:
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519",
                                                                  comment=comment)
        self.port = 0
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._stopping: list[asyncssh.SSHServerConnection] = []
        self._stopped: asyncssh.SSHAcceptor | None = None

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    async def listen(self, server_factory: Callable[[], asyncssh.SSHServer],
                     **options: Any) -> int:
        """Listen with ``server_factory`` (a :class:`TrackedServer` of this listener) and
        asyncssh's server ``options``; the port."""
        if self._acceptor is not None:
            raise RuntimeError("the server is listening already")
        self._acceptor = await asyncssh.listen(
            LOOPBACK, 0, server_factory=server_factory, server_host_keys=[self.host_key],
            **options)
        self.port = self._acceptor.get_port()
        return self.port

    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA...`` for the host key."""
        if not self.port:
            raise RuntimeError("the server is not listening")
        key_type, key_data = self.host_key.export_public_key().decode().split()[:2]
        return f"[{LOOPBACK}]:{self.port} {key_type} {key_data}"

    def stop(self) -> None:
        """Stop listening and abort every open connection (see :meth:`wait_stopped`)."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
            self._stopped = acceptor
        connections, self.connections = self.connections, set()
        for conn in connections:
            conn.abort()
        self._stopping.extend(connections)

    async def wait_stopped(self, timeout: float = 2) -> None:
        """Wait (each for at most ``timeout`` seconds) for what :meth:`stop` ended."""
        connections, self._stopping = self._stopping, []
        for conn in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), timeout)
        acceptor, self._stopped = self._stopped, None
        if acceptor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(acceptor.wait_closed(), timeout)

    async def close(self, timeout: float = 2) -> None:
        """Stop, and wait until it is done. Idempotent."""
        self.stop()
        await self.wait_stopped(timeout)


class TrackedServer(asyncssh.SSHServer):
    """One connection's policy, registered with its listener while open (so that closing
    the listener ends it); every authentication method is off unless a subclass allows it,
    and authentication is always required."""

    def __init__(self, listener: LoopbackListener) -> None:
        self.listener = listener
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.listener.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.listener.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return False

