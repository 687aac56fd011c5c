"""What the kernel commands do differently on a Jupyter server or JupyterHub host: the SSH
options they refuse, the hub's start shown on stderr, and how such a host's kernels print
(``rtui kernels``: the kernelspec and last activity; JSON: the server's version and route)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Any

from rtui.cli.common import UsageError
from rtui.core.config.model import Host

if TYPE_CHECKING:  # loaded by the handlers: `rtui hosts ...` must stay light
    from rtui.core.jupyter.hub import HubProgress
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.records import KernelRecord

__all__ = ["HubProgressLine", "check_options", "interrupt", "kernel_rows", "record_json",
           "route_of", "server_version"]

# Options of the kernel commands that only an SSH host's kernels have (attribute -> flag).
_SSH_ONLY = {"env": "--env", "spyder": "--spyder", "slurm": "--slurm",
             "connection_file": "--connection-file"}


def check_options(args: argparse.Namespace, host: Host) -> None:
    """Refuse, before anything connects, an option the host's kind has no use for: the
    SSH ones (--env, --spyder, --slurm, --connection-file) on a Jupyter host, --kernelspec
    on an SSH host (exit 2, naming what the host takes instead)."""
    if host.jupyter is not None:
        given = [flag for attr, flag in _SSH_ONLY.items() if getattr(args, attr, None)]
        if given:
            raise UsageError(
                f"{', '.join(given)}: only on SSH hosts; {host.name} is a {host.kind} host "
                f"({host.address}): its kernels start from the server's kernelspecs "
                "(--kernelspec NAME; default: the server's default)")
    elif getattr(args, "kernelspec", None):
        raise UsageError(f"--kernelspec: only on a Jupyter server or JupyterHub host; "
                         f"{host.name} is an SSH host: choose its Python with --env")


class HubProgressLine:
    """Prints a hub's server start on stderr (stdout is the command's answer), once per
    message: "  hub: Spawning server... [ 50%]"."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._said: tuple[int, str] | None = None

    def __call__(self, event: HubProgress) -> None:
        said = (event.progress, event.message)
        if said == self._said:
            return
        self._said = said
        text = event.message or ("ready" if event.ready else "starting")
        print(f"  {self.host}: {text} [{event.progress:3d}%]", file=sys.stderr, flush=True)


async def server_version(kernels: KernelHost, host: Host) -> str | None:
    """The version a Jupyter host's server says it is (None for an SSH host: nothing of
    the Jupyter side is imported then)."""
    if host.jupyter is None:
        return None
    from rtui.core.jupyter.service import ServerKernels

    assert isinstance(kernels, ServerKernels), kernels
    version: str = await (await kernels.connect()).version()
    return version


async def interrupt(kernels: KernelHost, spec: str) -> None:
    """Interrupt a Jupyter server's kernel by REST alone: no websocket, so no wait for a
    busy kernel's kernel_info (it answers only once its cell ends)."""
    from rtui.core.jupyter.service import ServerKernels

    assert isinstance(kernels, ServerKernels), kernels
    found = await kernels.locate(spec)
    await (await kernels.connect()).interrupt(found.id)


def route_of(host: Host) -> str:
    """A Jupyter host's kernels' route, as RemoteKernel.route says it."""
    via = host.jupyter.via if host.jupyter is not None else None
    return f"websocket via {via}" if via else "websocket"


def record_json(record: KernelRecord, host: Host, server_version: str | None) -> dict[str, Any]:
    """A kernel as ``rtui kernels --json`` gives it: the keys an SSH host's have, plus the
    server's version and the route, for a Jupyter host's."""
    data = dataclasses.asdict(record)
    if host.jupyter is not None:
        data.update(server_version=server_version, route=route_of(host))
    return data


def kernel_rows(records: list[KernelRecord], now: float | None = None) -> list[str]:
    """A Jupyter host's kernels for ``rtui kernels``: id, state, kernelspec, whose (rtui
    started it here, or another client), and when it was last active (the server tells no
    start time nor process)."""
    now = time.time() if now is None else now
    rows = []
    for r in records:
        active = (f"active {max(now - r.started, 0) / 60:.0f} min ago" if r.started
                  else "active ?")
        rows.append(f"{r.id}  {'alive' if r.alive else 'DEAD'}  {r.kind}  "
                    f"{'rtui' if r.rtui else 'other'}  {active}")
    return rows
