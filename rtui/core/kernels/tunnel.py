"""A kernel's five channels reached through local Unix sockets in a private (0700) directory.

Each local socket ``<dir>/k-1`` ... ``k-5`` (shell, iopub, stdin, control, hb: jupyter's ipc
naming ``{ip}-{port}``) is a forward of the host's routes (see routes.py) to the kernel's
own socket: its ipc socket for the kernels rtui starts, its TCP port for kernels others
started (other users of that host can reach those: ``exposed``). No TCP listener here.

The local listeners outlive a dropped connection: after a reconnect the kernel client's zmq
sockets reconnect on their own (within 50 ms, see KernelTransport) to the same paths, and
their new streams go over the new connection.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtui.core import locations
from rtui.core.errors import SSHError
from rtui.core.kernels.relay_client import Target
from rtui.core.kernels.routes import Forward, HostRoutes, Mode
from rtui.core.ssh.connection import HostConnection

__all__ = ["IPC_NAME", "PORT_NAMES", "KernelTunnel", "remote_target"]

log = logging.getLogger(__name__)

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
IPC_NAME = "k"  # local sockets are <dir>/k-1 ... k-5, in PORT_NAMES' order
_ANY = ("0.0.0.0", "*", "")


def remote_target(remote_info: dict[str, Any], name: str) -> Target:
    """Where the kernel's channel ``name`` listens on its host."""
    port = int(remote_info[name])
    if str(remote_info.get("transport") or "tcp") == "ipc":
        return ("unix", f"{remote_info.get('ip') or 'kernel-ipc'}-{port}")
    ip = str(remote_info.get("ip") or "127.0.0.1")
    return ("tcp", "127.0.0.1" if ip in _ANY else ip, port)


class KernelTunnel:
    """Forwards for one kernel; ``local_info`` is the connection info a client should use."""

    def __init__(self, routes: HostRoutes, remote_info: dict[str, Any]) -> None:
        self.routes = routes
        self.remote_info = dict(remote_info)
        self.local_info: dict[str, Any] = {}
        self.directory: Path | None = None
        self._forwards: list[Forward] = []
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def connection(self) -> HostConnection:
        return self.routes.connection

    @property
    def mode(self) -> Mode | None:
        """How the kernel's sockets are reached now (None while the link is down): a kernel
        on TCP (one others started, one in a SLURM job on its node) is reached by direct TCP
        channels where the server opens them, else through the relay, whatever reaches the
        host's Unix sockets."""
        if not self.exposed:
            return self.routes.mode
        kinds = self.routes.kinds
        if kinds is None:
            return None
        return "tcp" if kinds.tcp else "relay"

    @property
    def exposed(self) -> bool:
        """The kernel listens on TCP on its host: other users there can connect to it."""
        return str(self.remote_info.get("transport") or "tcp") != "ipc"

    def on_restored(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the forwards work again after a reconnect."""
        self._unsubscribe.append(self.routes.on_ready(callback))

    async def open(self) -> dict[str, Any]:
        directory = self.directory = locations.kernel_socket_dir()
        try:
            for number, name in enumerate(PORT_NAMES, start=1):
                self._forwards.append(await self.routes.forward(
                    directory / f"{IPC_NAME}-{number}", remote_target(self.remote_info, name)))
        except BaseException as exc:
            await self.close()
            if isinstance(exc, SSHError):
                raise SSHError(f"cannot forward the kernel's sockets over "
                               f"{self.connection.name}: {exc}") from exc
            raise
        self.local_info = dict(
            self.remote_info, transport="ipc", ip=str(directory / IPC_NAME),
            **{name: number for number, name in enumerate(PORT_NAMES, start=1)})
        return self.local_info

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        forwards, self._forwards = self._forwards, []
        for forward in forwards:
            with contextlib.suppress(Exception):
                await forward.close()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
