"""What the kernels service hands out: a host's Python environments, the kernels its agent
lists, a kernel found on the host (``LocatedKernel``) and one this process is attached to
(``RemoteKernel``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rtui.core.kernels.execution import Execution
from rtui.core.kernels.session import KernelSession
from rtui.core.kernels.tunnel import KernelTunnel
from rtui.core.slurm.jobs import JobInfo

__all__ = [
    "Environment",
    "KernelRecord",
    "LocatedKernel",
    "RemoteKernel",
    "ServerKernelRef",
    "job_of",
]


@dataclass(frozen=True)
class Environment:
    """A remote Python and the kernel packages that import in it."""

    python: str
    kind: str
    name: str
    version: str | None
    ipykernel: str | None
    spyder_kernels: str | None
    error: str | None = None
    prefix: str | None = None  # its sys.prefix (an environment's directory), when known
    managed: bool = False  # made by rtui (``rtui envs create``): it may be changed and removed
    tool: str | None = None  # what made a managed one: "uv" or "venv"
    size: int | None = None  # bytes on disk, when asked for and measured in time

    def can_run(self, spyder: bool) -> bool:
        return self.error is None and bool(self.spyder_kernels if spyder else self.ipykernel)

    @classmethod
    def from_agent(cls, data: dict[str, Any]) -> Environment:
        """An environment as the agent lists it (``envs``, or the answer of a create)."""
        size = data.get("size")
        return cls(
            python=str(data["python"]), kind=str(data.get("kind", "path")),
            name=str(data.get("name") or data["python"]), version=data.get("version"),
            ipykernel=data.get("ipykernel"), spyder_kernels=data.get("spyder_kernels"),
            error=data.get("error"), prefix=data.get("prefix"),
            managed=bool(data.get("managed")), tool=data.get("tool"),
            size=size if isinstance(size, int) else None,
        )


@dataclass(frozen=True)
class KernelRecord:
    """A kernel as the agent lists it: rtui's own and any live connection file."""

    id: str
    connection_file: str
    alive: bool
    rtui: bool
    pid: int | None = None
    kind: str = "unknown"
    python: str | None = None
    cwd: str | None = None
    started: float | None = None
    slurm: JobInfo | None = None  # the job it runs in, on a SLURM login node

    @classmethod
    def from_agent(cls, data: dict[str, Any]) -> KernelRecord:
        return cls(
            id=str(data.get("id")),
            connection_file=str(data.get("connection_file")),
            alive=bool(data.get("alive")),
            rtui=bool(data.get("rtui")),
            pid=data.get("pid"),
            kind=str(data.get("kind") or "unknown"),
            python=data.get("python"),
            cwd=data.get("cwd"),
            started=data.get("started"),
            slurm=job_of(data),
        )


def job_of(data: dict[str, Any]) -> JobInfo | None:
    """The SLURM job in an agent's kernel record (list, resolve, slurm_wait), None for a
    kernel that runs in no job."""
    job = data.get("slurm")
    if not isinstance(job, dict):
        return None
    info = JobInfo.from_agent(job)
    if info.kernel_id is None and data.get("id") is not None:
        info = dataclasses.replace(info, kernel_id=str(data["id"]))
    return info


@dataclass(frozen=True)
class ServerKernelRef:
    """Where a kernel on a Jupyter server is reached: the server's REST and websocket base,
    the kernel's id there and this console's own websocket session id (the server replays
    what a reconnect with the same id missed). ``via``: the SSH host the URL is opened
    over, if any."""

    base_url: str
    kernel_id: str
    session_id: str
    via: str | None = None


@dataclass
class RemoteKernel:
    """A kernel this process is connected to: its session and what carries it (the
    forwards of an SSH host, or a Jupyter server's websocket)."""

    host: str
    id: str
    connection_file: str | None  # remote path, when known
    session: KernelSession
    tunnel: KernelTunnel | None  # the forwards under it; None for a Jupyter server's kernel
    launched: bool  # started by this rtui (shut it down when asked), not attached
    kind: str = "ipykernel"
    python: str | None = None
    remote_info: dict[str, Any] = field(default_factory=dict, repr=False)
    keeper: str | None = None  # the keeper's socket on the host (None: iopub over zmq)
    console: bool = False  # shows output: how far it read is remembered (SeenStore)
    first: Execution | None = None  # the code given to attach/start, sent during the start
    slurm: JobInfo | None = None  # the SLURM job it runs in (as last heard), if it is one
    server: ServerKernelRef | None = None  # set for a kernel on a Jupyter server

    @property
    def route(self) -> str | None:
        """How its sockets are reached: "streamlocal", "tcp" or "relay" (None: link down),
        or "websocket" ("websocket via HOST") for a kernel on a Jupyter server."""
        if self.server is not None:
            return f"websocket via {self.server.via}" if self.server.via else "websocket"
        return self.tunnel.mode if self.tunnel is not None else None

    @property
    def exposure_note(self) -> str | None:
        """What a person should know once about who else can read this kernel, or None.

        A kernel that listens on TCP (started by others, or by rtui where the server
        forwards only TCP) can be read by every user of its host: a zmq SUB socket needs no
        key to receive its output. One in a SLURM job listens on its node's cluster address."""
        if self.slurm is not None:
            where = ", ".join(w for w in (self.slurm.node, self.slurm.address) if w)
            return (f"note: kernel {self.id} is reachable on the cluster network"
                    f"{f' ({where})' if where else ''}: its ports are open to other users of "
                    "the cluster; every message is signed")
        if self.tunnel is None or not self.tunnel.exposed:
            return None  # a server's kernel: only the server talks to its ports
        return (f"note: kernel {self.id} listens on TCP ports on {self.host}; other users "
                f"of {self.host} can read its output")


@dataclass(frozen=True)
class LocatedKernel:
    """A kernel found on the host, not attached to: what attaching or following needs."""

    id: str
    connection_file: str | None  # remote path, when known
    info: dict[str, Any] = field(repr=False)
    keeper: str | None  # the keeper's socket on the host, when it has one
    where: str = ""  # how to name it in messages (the spec or host:path)
    running: bool = False  # the agent saw its process (a refused socket: still booting)
    new_keeper: bool = False  # its keeper was started just now (it had none)
    slurm: JobInfo | None = None  # the SLURM job it runs in, if it is one
