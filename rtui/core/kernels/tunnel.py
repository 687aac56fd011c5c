"""A kernel's five channels forwarded over the host's one SSH connection, on 127.0.0.1 only.

After a reconnect the forwards are re-made on the same local ports: the kernel client's zmq
sockets reconnect on their own (within 50 ms, see KernelSession), so the session continues
as if nothing happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncssh

from rtui.core.errors import SSHError
from rtui.core.ssh.connection import ConnState, HostConnection, StateChange

__all__ = ["PORT_NAMES", "KernelTunnel"]

log = logging.getLogger(__name__)

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_LOCAL = "127.0.0.1"


class KernelTunnel:
    """Forwards for one kernel; ``local_info`` is the connection info a client should use."""

    def __init__(self, connection: HostConnection, remote_info: dict[str, Any]) -> None:
        self.connection = connection
        self.remote_info = dict(remote_info)
        self.local_info: dict[str, Any] = {}
        self._listeners: list[asyncssh.SSHListener] = []
        self._generation = -1
        self._unsubscribe: Callable[[], None] | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._restored: list[Callable[[], None]] = []

    def on_restored(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the forwards are back after a reconnect."""
        self._restored.append(callback)

    async def open(self) -> dict[str, Any]:
        conn = await self.connection.connect()
        await self._forward(conn, reuse=False)
        self._unsubscribe = self.connection.subscribe(self._on_change)
        return self.local_info

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._refresh is not None:
            self._refresh.cancel()
        self._close_listeners()

    def _remote_host(self) -> str:
        ip = str(self.remote_info.get("ip") or _LOCAL)
        return _LOCAL if ip in ("0.0.0.0", "*", "") else ip

    async def _forward(self, conn: asyncssh.SSHClientConnection, *, reuse: bool) -> None:
        self._close_listeners()
        local = dict(self.remote_info, ip=_LOCAL, transport="tcp")
        host = self._remote_host()
        try:
            for name in PORT_NAMES:
                port = int(self.local_info[name]) if reuse else 0
                listener = await conn.forward_local_port(
                    _LOCAL, port, host, int(self.remote_info[name]))
                self._listeners.append(listener)
                local[name] = listener.get_port()
        except (asyncssh.Error, OSError) as exc:
            self._close_listeners()
            raise SSHError(
                f"cannot forward the kernel's ports over {self.connection.name}: {exc}") from exc
        self.local_info = local
        self._generation = self.connection.generation

    def _close_listeners(self) -> None:
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            with contextlib.suppress(Exception):
                listener.close()

    def _on_change(self, change: StateChange) -> None:
        if change.state is ConnState.CONNECTED and change.generation != self._generation:
            self._refresh = asyncio.get_running_loop().create_task(self._reforward())

    async def _reforward(self) -> None:
        try:
            await self._forward(self.connection.conn, reuse=True)
        except SSHError as exc:
            log.warning("%s", exc)
            return
        for callback in list(self._restored):
            try:
                callback()
            except Exception:  # one listener's bug must not keep the others waiting
                log.exception("%s: a listener failed after the forwards came back",
                              self.connection.name)
