"""Host status checks: each step timed and bounded on its own, many hosts at once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shlex
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtui.core.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyUnknownError,
    NoGreetingError,
    NotSSHServerError,
    RtuiError,
    SSHError,
    UnreachableError,
)
from rtui.core.ssh.greeting import wait_for_greeting
from rtui.core.ssh.state import ConnState

if TYPE_CHECKING:  # kept out of imports: the TUI shows statuses before loading asyncssh
    from rtui.core.ssh.connection import HostConnection
    from rtui.core.ssh.prompts import Prompter

__all__ = [
    "CheckGates", "HostStatus", "PythonInfo", "check_host", "error_kind",
    "parse_probe", "probe_script",
]



def probe_script(extra_pythons: Sequence[str] = ()) -> str:
    """POSIX sh, run through /bin/sh whatever the login shell is: the first Python >= 3.8
    among python3, python and the configured ones (started with -S: no site import, ~10 ms)
    runs the agent's own report of the host (``rtui.agent.status``: the Pythons the agent
    lists, from its candidate list and its cached probe, and the live kernels); an older one
    names itself and gives way. No Python able: OS and arch from uname.

    On a host checked with 99 others, every process and import costs CPU the host may be
    short of: the report imports only what the common case needs, and an interpreter whose
    answer is cached (until it or its packages change) is not started.
    """
    # Here, not at the top: the host list imports this module for HostStatus before its
    # first frame, and the agent's sources are not needed until a check runs.
    from rtui.core.remote.bundle import STATUS_LOADER, find_python_sh, status_sources

    args = " ".join(shlex.quote(p) for p in extra_pythons)
    run = (f"\"$p\" -S -c {shlex.quote(STATUS_LOADER)} {args} <<'PROBE' 2>/dev/null && exit 0"
           f"{status_sources()}PROBE")
    return (find_python_sh(["python3", "python", *extra_pythons], run)
            + 'echo "os $(uname -s)"\necho "arch $(uname -m)"\nexit 0\n')


@dataclass
class PythonInfo:
    path: str
    version: str
    ipykernel: bool
    given: tuple[str, ...] = ()  # configured names that resolve to it (~/env, a venv dir)


@dataclass
class HostStatus:
    """What one check found; ``ok`` means reachable and authenticated."""

    name: str
    ok: bool = False
    failed_step: str | None = None  # "tcp", "ssh", "command" or "probe"; "tls", "auth" (jupyter)
    error: str | None = None
    error_kind: str | None = None  # "unreachable", "timeout", "not-ssh", "no-greeting",
    #                                "auth", "host-key-changed", "tls", "token", ...
    tcp_ms: float | None = None
    ssh_ms: float | None = None
    rtt_ms: float | None = None
    os: str | None = None
    arch: str | None = None
    pythons: list[PythonInfo] = field(default_factory=list)
    kernels: int = 0
    elapsed_ms: float = 0.0
    server_version: str | None = None  # a Jupyter host's jupyter_server version

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("tcp_ms", "ssh_ms", "rtt_ms", "elapsed_ms"):
            if data[key] is not None:
                data[key] = round(data[key], 1)
        return data


def parse_probe(text: str) -> tuple[str | None, str | None, list[PythonInfo], int]:
    """``(os, arch, pythons, live kernels)`` from the probe's output lines."""
    os_name = arch = None
    kernels = 0
    pythons: list[PythonInfo] = []
    old: list[PythonInfo] = []
    given: dict[str, list[str]] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "os":
            os_name = rest.strip() or None
        elif kind == "arch":
            arch = rest.strip() or None
        elif kind == "kernels" and rest.strip().isascii() and rest.strip().isdigit():
            kernels = int(rest.strip())
        elif kind == "py":
            parts = rest.rsplit(" ", 2)
            if len(parts) == 3:
                pythons.append(PythonInfo(parts[0], parts[1], parts[2] == "yes"))
        elif kind == "given" and "\t" in rest:
            path, name = rest.split("\t", 1)
            given.setdefault(path, []).append(name)
        elif kind == "old":  # too old to report: itself, unless a newer Python listed it
            parts = rest.rsplit(" ", 1)
            if len(parts) == 2:
                old.append(PythonInfo(parts[0], parts[1], False))
    listed = {p.path for p in pythons}
    pythons += [p for p in old if p.path not in listed]
    for info in pythons:  # the same interpreter may be listed under its first name only
        info.given = tuple(given.get(info.path, ()))
    return os_name, arch, pythons, kernels


def error_kind(exc: BaseException) -> str:
    """A short, stable name for what went wrong, for badges and scripts."""
    kinds: list[tuple[type[BaseException], str]] = [
        (HostKeyChangedError, "host-key-changed"),
        (HostKeyUnknownError, "host-key-unknown"),
        (HostKeyError, "host-key"),
        (AuthenticationError, "auth"),
        (NotSSHServerError, "not-ssh"),
        (NoGreetingError, "no-greeting"),
        (ConnectTimeoutError, "timeout"),
        (UnreachableError, "unreachable"),
    ]
    return next((kind for cls, kind in kinds if isinstance(exc, cls)), "error")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def check_host(
    connection: HostConnection, *, timeout: float, extra_pythons: Sequence[str] = (),
    gates: CheckGates | None = None, prompter: Prompter | None = None,
) -> HostStatus:
    """Run every step against one host; a failed step ends the check with its named error.
    ``gates``: shared with the other hosts checked at the same time; ``prompter``: who a
    login asks (see :meth:`HostConnection.connect`)."""
    status = HostStatus(connection.name)
    started = time.perf_counter()
    first = connection.route.hops[0]
    gates = gates or CheckGates(concurrency=1 << 16)
    step = "tcp"
    try:
        async with contextlib.AsyncExitStack() as active:
            async with contextlib.AsyncExitStack() as pre_auth:
                sock = None
                # A shared connection that is already up has no TCP connect or handshake to
                # time; the command's round trip below still proves it works.
                reused = connection.state is ConnState.CONNECTED
                if not reused:
                    await pre_auth.enter_async_context(gates.handshake(connection))
                    t0 = time.perf_counter()
                    sock = await _open_tcp(first.hostname, first.port, timeout)
                    status.tcp_ms = _ms(t0)
                step = "ssh"
                try:
                    # Waiting costs nothing: only a server that speaks takes a slot.
                    if sock is not None and not await wait_for_greeting(
                            sock, f"{first.hostname}:{first.port}", timeout):
                        sock.close()  # spoken to by the wait: the handshake makes its own
                        sock = None
                    await active.enter_async_context(gates.slot())
                except BaseException:
                    if sock is not None:
                        sock.close()
                    raise
                t0 = time.perf_counter()
                # It owns the socket from here.
                await connection.connect(prompter=prompter, sock=sock)
                status.ssh_ms = None if reused else _ms(t0)
                status.ok = True

            # One exec for both steps: the host accepting it times the round trip of a
            # command; its output is the probe. A second exec would cost the host another
            # process, which 100 hosts checked at once feel.
            step = "command"
            script = probe_script(extra_pythons)
            t0 = time.perf_counter()
            output = await _run_probe(connection, f"/bin/sh -c {shlex.quote(script)}", timeout,
                                      on_started=lambda: setattr(status, "rtt_ms", _ms(t0)))
            step = "probe"
            status.os, status.arch, status.pythons, status.kernels = parse_probe(output)
    except RtuiError as exc:
        status.failed_step, status.error, status.error_kind = step, str(exc), error_kind(exc)
    finally:
        status.elapsed_ms = _ms(started)
    return status


async def _open_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first hop, timed by the caller, then handed to the SSH
    handshake: a second connection would cost the server a process for nothing."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            error: OSError | None = None
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, address)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    return sock
                except BaseException as exc:
                    sock.close()
                    if not isinstance(exc, OSError):
                        raise
                    error = exc
            raise error or OSError(f"no address for {host}")
    except TimeoutError as exc:
        raise ConnectTimeoutError(f"timeout after {timeout:g} s connecting to {host}:{port}"
                                  ) from exc
    except ConnectionRefusedError as exc:
        raise UnreachableError(f"cannot reach {host}:{port}: connection refused") from exc
    except socket.gaierror as exc:
        raise UnreachableError(f"cannot resolve {host}: {exc.strerror}") from exc
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        raise UnreachableError(f"cannot reach {host}:{port}: {reason}") from exc


async def _run_probe(connection: HostConnection, command: str, timeout: float, *,
                     on_started: Callable[[], None]) -> str:
    """Run the probe; ``on_started`` once the host has accepted the command (the channel
    opened and the exec answered: two round trips, and the replies are never held back by
    Nagle, unlike the first output on a connection without a PTY). A timeout before that
    fails the command step, after it the probe step."""
    import asyncssh  # here, not at the top: see the TYPE_CHECKING import above

    conn = await connection.connect()
    started = False
    try:
        async with asyncio.timeout(timeout):
            async with conn.create_process(command) as process:
                started = True
                on_started()
                output = str(await process.stdout.read())
                await process.wait()
    except TimeoutError as exc:
        what = "the probe" if started else "a command"
        raise ConnectTimeoutError(
            f"timeout after {timeout:g} s running {what} on {connection.name}") from exc
    except (asyncssh.Error, OSError) as exc:
        raise SSHError(f"running a command on {connection.name} failed: {exc}") from exc
    return output


# Handshakes at once with one SSH server (host and port of the first hop): below OpenSSH's
# default MaxStartups (10), past which sshd drops new unauthenticated connections.
PER_SERVER = 8


class CheckGates:
    """At most ``per_server`` connections being opened at once to any one SSH server, so
    many aliases of one login node are not refused, and at most ``concurrency`` checks past
    the server's greeting (handshake, command, probe: the part that costs CPU, here and on
    the host). A host that never answers holds no check slot while it times out, so the
    hosts listed after it are not held up."""

    def __init__(self, concurrency: int, per_server: int = PER_SERVER) -> None:
        self._all = asyncio.Semaphore(concurrency)
        self._per_server = per_server
        self._servers: dict[tuple[str, int], asyncio.Semaphore] = {}

    def slot(self) -> asyncio.Semaphore:
        """Held from the server's greeting to the end of the check."""
        return self._all

    def handshake(self, connection: HostConnection) -> asyncio.Semaphore:
        """Held from the TCP connect until authenticated."""
        first = connection.route.hops[0]
        return self._servers.setdefault(
            (first.hostname, first.port), asyncio.Semaphore(self._per_server))
