"""What the CLI and the TUI use of a host's kernels, whatever reaches them: an SSH host's
agent and forwards (HostKernels) or a Jupyter server's REST API and websockets.

Only the calls rtui/cli and rtui/tui make on every kind of host are here. What only an SSH
host has (its connection, routes, files, environments to create, SLURM jobs) stays on
HostKernels: callers test a capability flag, then narrow with ``ssh_kernels``.
"""

from __future__ import annotations

import builtins
import sys
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rtui.core.errors import KernelDiedError
    from rtui.core.kernels.records import (
        Environment,
        KernelRecord,
        LocatedKernel,
        RemoteKernel,
    )
    from rtui.core.kernels.service import HostKernels

__all__ = ["KernelHost", "ssh_kernels"]


class KernelHost(Protocol):
    """A host's kernels: list, start, attach, interrupt, restart, shut down, detach."""

    @property
    def name(self) -> str:
        """The host's name in hosts.toml."""
        ...

    @property
    def supports_files(self) -> bool:
        """The Files tab and ``rtui files`` work on it (SFTP through the agent)."""
        ...

    @property
    def supports_environments(self) -> bool:
        """Its Pythons can be listed, made and removed (the agent's envs)."""
        ...

    @property
    def supports_slurm(self) -> bool:
        """Kernels may run as SLURM jobs through it (a login node's agent)."""
        ...

    async def environments(self, *, refresh: bool = False) -> builtins.list[Environment]:
        """What a kernel can be started in: Pythons (SSH) or kernelspecs (a server)."""
        ...

    async def list(self) -> builtins.list[KernelRecord]:
        """The kernels running there, rtui's and others'."""
        ...

    async def start(self, *, python: str, spyder: bool = False, cwd: str | None = None,
                    code: str | None = None) -> RemoteKernel:
        """Start a kernel (``python``: an interpreter, or a kernelspec name) and attach."""
        ...

    async def attach(self, spec: str, *, console: bool = True,
                     code: str | None = None) -> RemoteKernel:
        """Attach to a running kernel by id (or connection file, on SSH hosts)."""
        ...

    async def locate(self, spec: str, *, alive: bool = True) -> LocatedKernel:
        """Find a kernel without attaching (``rtui log``)."""
        ...

    async def gone(self, kernel: RemoteKernel) -> KernelDiedError | None:
        """The error that says the kernel has ended, or None (alive, or cannot tell)."""
        ...

    async def interrupt(self, kernel: RemoteKernel) -> None: ...

    async def restart(self, kernel: RemoteKernel, *, timeout: float = 60) -> None: ...

    async def restart_by_id(self, kernel_id: str, *, timeout: float = 60) -> RemoteKernel: ...

    async def shutdown(self, kernel: RemoteKernel, *, timeout: float = 5,
                       dead: bool = False) -> None: ...

    async def shutdown_by_id(self, kernel_id: str, *, timeout: float = 5) -> None: ...

    async def detach(self, kernel: RemoteKernel) -> None:
        """Stop talking to the kernel; it keeps running."""
        ...

    async def close(self) -> None:
        """Detach from every kernel still attached (they keep running)."""
        ...


def ssh_kernels(kernels: KernelHost) -> HostKernels | None:
    """``kernels`` as HostKernels (an SSH host's: connection, routes, SLURM), else None.

    Never imports the SSH side (zmq, asyncssh): if it is not loaded, no HostKernels exists."""
    service = sys.modules.get("rtui.core.kernels.service")
    if service is None:
        return None
    host_kernels: type[HostKernels] = service.HostKernels
    return kernels if isinstance(kernels, host_kernels) else None


if TYPE_CHECKING:
    def _conforms(kernels: HostKernels) -> KernelHost:
        """mypy's proof (checked with the rest) that HostKernels is a KernelHost."""
        return kernels
