"""Helpers shared by the benchmarks: a throwaway HOME, trusted host keys, OpenSSH forwards,
rtui's side of a loopback host, process clean-up, the ``--runs``/``--quick`` command line,
statistics and the markdown output (a machine line, then tables)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rtui.core.config.model import Config, Host, Settings
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.kernels.tunnel import PORT_NAMES
from rtui.core.ssh.connection import HostConnection
from rtui.core.ssh.route import resolve_route
from tests.harness.sshd import SSHD, free_port, kill_leftovers, kill_pid, pids_mentioning

__all__ = [
    "FORWARD_TIMEOUT",
    "LOOPBACK",
    "STOP_TIMEOUT",
    "TIMING_ALIGN",
    "TimedRow",
    "bench_host",
    "cell",
    "close_rtui",
    "describe",
    "fmt_ratio",
    "fmt_s",
    "free_ports",
    "goal_met",
    "isolated_env",
    "isolated_vars",
    "kill_leftovers",
    "kill_pid",
    "listening_ports",
    "machine_line",
    "markdown_table",
    "openssh_forward",
    "percentile",
    "pids_mentioning",
    "problem_cells",
    "remote_host",
    "rtui_command",
    "rtui_kernels",
    "runs_parser",
    "runs_wanted",
    "ssh_options",
    "stop_process",
    "subprocess_env",
    "timing_cells",
    "timing_header",
    "trust",
    "version",
    "wait_listening",
    "write_known_hosts",
]

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
FORWARD_TIMEOUT = 15.0  # seconds for `ssh -L` to log in and listen
KERNEL_STOP_TIMEOUT = 30.0  # seconds to shut a kernel down through rtui
_REMOVED_VARS = ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "RTUI_CONFIG")


# ------------------------------------------------------------------ the client's environment


def isolated_vars(home: Path) -> dict[str, str]:
    """HOME and the XDG dirs of a throwaway client home."""
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }


@contextlib.contextmanager
def isolated_env(home: Path) -> Iterator[Path]:
    """A throwaway HOME and XDG dirs, no ssh-agent, no RTUI_CONFIG; restored afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    values = isolated_vars(home)
    saved = {var: os.environ.get(var) for var in (*values, *_REMOVED_VARS)}
    os.environ.update(values)
    for var in _REMOVED_VARS:
        os.environ.pop(var, None)
    try:
        yield home
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def subprocess_env(home: Path, *, pycache: Path | None = None) -> dict[str, str]:
    """This process's environment with the throwaway HOME (for the real CLI as a subprocess).

    ``pycache``: Python writes and reads bytecode there (PYTHONPYCACHEPREFIX), as an installed
    package has it, even where PYTHONDONTWRITEBYTECODE is set (an editable install then
    recompiles rtui at every start); the repository itself is not written to.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _REMOVED_VARS}
    env.update(isolated_vars(home))
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def write_known_hosts(home: Path, lines: Iterable[str]) -> Path:
    """Write ``$HOME/.ssh/known_hosts`` with ``lines`` (replacing it); returns its path."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = ssh_dir / "known_hosts"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def trust(server: SSHD, home: Path) -> None:
    """Write the server's known_hosts line into ``$HOME/.ssh/known_hosts``."""
    write_known_hosts(home, [server.known_hosts_line()])


def rtui_command() -> list[str]:
    """The installed ``rtui`` script next to this interpreter, else ``python -m rtui``."""
    script = Path(sys.executable).parent / "rtui"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rtui"]


# ---------------------------------------------------------------------------- rtui's side


def bench_host(server: SSHD, *, port: int | None = None, name: str = "bench") -> Host:
    """rtui's host on the loopback ``server`` (reached on ``port``: a relay in front of it),
    logging in with the harness's client key; its ``python`` is this one (ipykernel is here)."""
    return Host(name, hostname=LOOPBACK, port=port or server.port, user=server.user,
                identity_files=(str(server.client_key),), python=sys.executable)


def rtui_kernels(host: Host, settings: Settings | None = None
                 ) -> tuple[HostConnection, HostKernels]:
    """A connection to ``host`` (not yet connected) and its kernel service, as the app builds
    them from a config holding that one host."""
    config = Config(settings=settings or Settings(), hosts=(host,))
    conn = HostConnection(host.name, resolve_route(host, config), settings=config.settings)
    return conn, HostKernels(conn, python=sys.executable)


async def close_rtui(conn: HostConnection, kernels: HostKernels,
                     kernel: RemoteKernel | None) -> None:
    """Shut ``kernel`` down, close the service and the connection; errors are not figures."""
    if kernel is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(kernels.shutdown(kernel), KERNEL_STOP_TIMEOUT)
    with contextlib.suppress(Exception):
        await kernels.close()
    with contextlib.suppress(Exception):
        await conn.close()


# --------------------------------------------------------------------------- OpenSSH client


def ssh_options(*, key: Path, known_hosts: Path, port: int) -> list[str]:
    """``ssh`` options for a hermetic login with ``key`` only (no config, no agent)."""
    return [
        "-F", "/dev/null",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-i", str(key), "-p", str(port),
    ]


def remote_host(remote_info: dict[str, Any]) -> str:
    """Where the kernel listens, as seen from the remote side."""
    ip = str(remote_info.get("ip") or "")
    return LOOPBACK if ip in ("", "0.0.0.0", "*") else ip


@asynccontextmanager
async def openssh_forward(
    *, port: int, user: str, key: Path, known_hosts: Path, remote_info: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """One ``ssh -N -L ... (x5)`` process forwarding a kernel's ports; yields the connection
    info a local client should use. The process is stopped on exit."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise RuntimeError("no `ssh` client on PATH (apt-get install -y openssh-client)")
    target = remote_host(remote_info)
    last_error = ""
    for _attempt in range(3):  # free_port() is racy: another process may take one meanwhile
        local = free_ports(len(PORT_NAMES))
        command = [
            ssh, "-N", "-o", "ExitOnForwardFailure=yes",
            *ssh_options(key=key, known_hosts=known_hosts, port=port),
        ]
        for name, local_port in zip(PORT_NAMES, local, strict=True):
            command += ["-L", f"{LOOPBACK}:{local_port}:{target}:{int(remote_info[name])}"]
        command.append(f"{user}@{LOOPBACK}")
        process = await asyncio.create_subprocess_exec(
            *command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            if await wait_listening(process, local):
                info = dict(remote_info, ip=LOOPBACK, transport="tcp")
                info.update(zip(PORT_NAMES, local, strict=True))
                yield info
                return
            assert process.stderr is not None
            last_error = (await process.stderr.read()).decode(errors="replace").strip()
        finally:
            await stop_process(process)
    raise RuntimeError(f"ssh -L did not come up: {last_error or 'no message'}")


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def listening_ports(owner: int | None = None) -> set[int]:
    """Ports in LISTEN state on 127.0.0.1 (from /proc/net/tcp: no connection is made);
    with ``owner``, only the sockets that process holds (not another one's on a port that
    was free a moment ago)."""
    inodes: set[str] | None = None
    if owner is not None:
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{owner}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{owner}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports: set[int] = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            address, _, port = fields[1].partition(":")
            if address == "0100007F" and fields[3] == "0A":
                if inodes is None or fields[9] in inodes:
                    ports.add(int(port, 16))
    return ports


async def wait_listening(
    process: asyncio.subprocess.Process, ports: list[int], timeout: float = FORWARD_TIMEOUT
) -> bool:
    """True once ``process`` is alive and all ``ports`` listen; False if it exits first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if process.returncode is not None:
            return False
        if set(ports) <= listening_ports(owner=process.pid):
            await asyncio.sleep(0.05)  # ExitOnForwardFailure: a late failure exits at once
            return process.returncode is None
        await asyncio.sleep(0.02)
    raise TimeoutError(f"ssh -L did not listen on {ports} within {timeout:.0f} s")


# ------------------------------------------------------------------------------- processes


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, wait, SIGKILL after STOP_TIMEOUT; idempotent."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# ------------------------------------------------------------------------ the command line


def runs_parser(prog: str, doc: str | None, *, what: str, default: int, quick: int,
                quick_help: str | None = None) -> argparse.ArgumentParser:
    """The parser of a benchmark taken in runs: ``--runs N`` (of ``what``) and ``--quick``;
    its description is the first paragraph of ``doc``."""
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=None,
                        help=f"{what} (default {default}, --quick {quick})")
    parser.add_argument("--quick", action="store_true", help=quick_help or f"{quick} runs")
    return parser


def runs_wanted(parser: argparse.ArgumentParser, args: argparse.Namespace, *, default: int,
                quick: int) -> int:
    """``--runs``, else ``default`` (with ``--quick``: ``quick``); at least 1."""
    runs: int = args.runs or (quick if args.quick else default)
    if runs < 1:
        parser.error("--runs must be at least 1")
    return runs


# ------------------------------------------------------------------------------ figures


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def percentile(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def fmt_s(seconds: float | None, digits: int = 3) -> str:
    return "—" if seconds is None else f"{seconds:.{digits}f}"


def fmt_ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}x"


def goal_met(value: float | None, goal: float | None) -> str:
    """"yes"/"no" for ``value <= goal``; "—" without a goal, "?" without a figure."""
    if goal is None:
        return "—"
    if value is None:
        return "?"
    return "yes" if value <= goal else "no"


def cell(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]],
                   align: str | None = None) -> str:
    """A markdown table; ``align`` is one character per column: l (default) or r."""
    align = align or "l" * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class TimedRow:
    """A row of timed runs: what ran, its goal (seconds, or a ratio), the times kept, and
    why it has none (a crash)."""

    label: str
    goal: float | None = None
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def p50(self) -> float | None:
        return statistics.median(self.times) if self.times else None


TIMING_ALIGN = "lrrrrll"  # the columns of timing_header


def timing_header(first: str, reference: str) -> list[str]:
    """A table of timed runs: what ran, p50/min/max, the ratio to ``reference``, the goal."""
    return [first, "p50 s", "min s", "max s", f"ratio to {reference} (p50)", "goal", "met"]


def timing_cells(label: str, times: list[float], *, reference: float | None, goal: str,
                 met: str, digits: int = 3) -> list[object]:
    """A row of a timing_header table for ``times`` (at least one)."""
    p50 = statistics.median(times)
    return [label, fmt_s(p50, digits), fmt_s(min(times), digits), fmt_s(max(times), digits),
            fmt_ratio(p50, reference), goal, met]


def problem_cells(label: str, problem: str, goal: str, *, has_goal: bool) -> list[object]:
    """A row of a timing_header table without figures: why (an error, not measured)."""
    return [label, problem, "—", "—", "—", goal, "?" if has_goal else "—"]


def version(dist: str) -> str:
    """The installed version of the distribution ``dist``, or "missing"."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def machine_line(
    packages: Sequence[str] = ("asyncssh", "jupyter_client", "ipykernel"),
    tool: Sequence[str] = ("ssh", "-V"),
) -> str:
    """One line describing the machine, the package versions and a tool's version."""
    try:
        out = subprocess.run(list(tool), capture_output=True, text=True, timeout=10,
                             check=False)
        tool_version = (out.stderr or out.stdout).strip().split(",")[0] or f"{tool[0]} ?"
    except (OSError, subprocess.SubprocessError):
        tool_version = f"no {tool[0]}"
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    versions = " | ".join(f"{name} {version(name)}" for name in packages)
    return (
        f"Machine: {platform.platform()} | {cpus} CPUs | Python {platform.python_version()} | "
        f"{versions} | {tool_version} | CPU yardstick {cpu_yardstick() * 1000:.0f} ms"
    )


def cpu_yardstick() -> float:
    """Seconds for one core to run a fixed pure-Python loop, best of 3: absolute figures of
    runs on different machines (or the same shared machine on another day) scale with it."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best
