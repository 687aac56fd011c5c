"""Host status checks: each step timed and bounded on its own, many hosts at once."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtui.core.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyUnknownError,
    RtuiError,
    UnreachableError,
)

if TYPE_CHECKING:  # kept out of imports: the TUI shows statuses before loading asyncssh
    from rtui.core.ssh.connection import HostConnection

__all__ = [
    "HostStatus", "PythonInfo", "check_host", "check_hosts", "error_kind", "parse_probe",
]

# POSIX sh run through /bin/sh whatever the login shell is. Lists each distinct Python with
# its version and whether ipykernel and the packages it starts with are installed (found,
# not imported: a real import costs ~0.2 s of CPU per Python on every check; a broken
# install shows, with its traceback, when a kernel is launched).
_PROBE = r"""
echo "os $(uname -s)"
echo "arch $(uname -m)"
for p in EXTRA_PYTHONS python3 python "$HOME/.local/share/rtui/venv/bin/python"; do
  q=$(command -v "$p" 2>/dev/null) || continue
  r=$(readlink -f "$q" 2>/dev/null || echo "$q")
  case " $seen " in *" $r "*) continue ;; esac
  seen="$seen $r"
  out=$("$q" -c 'import sys
v = "%d.%d.%d" % sys.version_info[:3]
try:
    from importlib.util import find_spec
    mods = ("ipykernel", "IPython", "zmq", "jupyter_client", "traitlets", "tornado")
    k = "yes" if all(find_spec(m) is not None for m in mods) else "no"
except Exception:
    k = "no"
print(v, k)' 2>/dev/null) && echo "py $q $out"
done
# Live kernels: connection files in jupyter's runtime dir whose shell port answers.
py=$(command -v python3 || command -v python) && "$py" - <<'PROBE' 2>/dev/null
import glob, json, os, socket
env = os.environ.get
data = env("JUPYTER_DATA_DIR") or os.path.join(
    env("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "jupyter")
runtime = env("JUPYTER_RUNTIME_DIR") or os.path.join(data, "runtime")
alive = 0
for path in glob.glob(os.path.join(runtime, "kernel-*.json")):
    try:
        with open(path) as handle:
            info = json.load(handle)
        socket.create_connection((info.get("ip") or "127.0.0.1", info["shell_port"]), 0.3).close()
        alive += 1
    except Exception:
        pass
print("kernels", alive)
PROBE
exit 0
"""


@dataclass
class PythonInfo:
    path: str
    version: str
    ipykernel: bool


@dataclass
class HostStatus:
    """What one check found; ``ok`` means reachable and authenticated."""

    name: str
    ok: bool = False
    failed_step: str | None = None  # "tcp", "ssh", "command" or "probe"
    error: str | None = None
    error_kind: str | None = None  # "unreachable", "timeout", "auth", "host-key-changed", ...
    tcp_ms: float | None = None
    ssh_ms: float | None = None
    rtt_ms: float | None = None
    os: str | None = None
    arch: str | None = None
    pythons: list[PythonInfo] = field(default_factory=list)
    kernels: int = 0
    elapsed_ms: float = 0.0

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
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "os":
            os_name = rest.strip() or None
        elif kind == "arch":
            arch = rest.strip() or None
        elif kind == "kernels" and rest.strip().isdigit():
            kernels = int(rest.strip())
        elif kind == "py":
            parts = rest.rsplit(" ", 2)
            if len(parts) == 3:
                pythons.append(PythonInfo(parts[0], parts[1], parts[2] == "yes"))
    return os_name, arch, pythons, kernels


def error_kind(exc: BaseException) -> str:
    """A short, stable name for what went wrong, for badges and scripts."""
    kinds: list[tuple[type[BaseException], str]] = [
        (HostKeyChangedError, "host-key-changed"),
        (HostKeyUnknownError, "host-key-unknown"),
        (HostKeyError, "host-key"),
        (AuthenticationError, "auth"),
        (ConnectTimeoutError, "timeout"),
        (UnreachableError, "unreachable"),
    ]
    return next((kind for cls, kind in kinds if isinstance(exc, cls)), "error")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def check_host(
    connection: HostConnection, *, timeout: float, extra_pythons: Sequence[str] = ()
) -> HostStatus:
    """Run every step against one host; a failed step ends the check with its named error."""
    status = HostStatus(connection.name)
    started = time.perf_counter()
    first = connection.route.hops[0]
    step = "tcp"
    try:
        t0 = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(first.hostname, first.port), timeout)
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                f"timeout after {timeout:g} s connecting to {first.hostname}:{first.port}"
            ) from exc
        except ConnectionRefusedError as exc:
            raise UnreachableError(
                f"cannot reach {first.hostname}:{first.port}: connection refused") from exc
        except OSError as exc:
            reason = exc.strerror.lower() if exc.strerror else str(exc)
            raise UnreachableError(
                f"cannot reach {first.hostname}:{first.port}: {reason}") from exc
        status.tcp_ms = _ms(t0)
        writer.close()

        step = "ssh"
        reused = connection.state.value == "connected"
        t0 = time.perf_counter()
        await connection.connect()
        # A shared connection that is already up has no handshake to time.
        status.ssh_ms = None if reused else _ms(t0)
        status.ok = True

        step = "command"
        t0 = time.perf_counter()
        await connection.run("exit 0", timeout=timeout)
        status.rtt_ms = _ms(t0)

        step = "probe"
        script = _PROBE.replace("EXTRA_PYTHONS", " ".join(shlex.quote(p) for p in extra_pythons))
        result = await connection.run(f"/bin/sh -c {shlex.quote(script)}", timeout=timeout)
        status.os, status.arch, status.pythons, status.kernels = parse_probe(
            str(result.stdout or ""))
    except RtuiError as exc:
        status.failed_step, status.error, status.error_kind = step, str(exc), error_kind(exc)
    finally:
        status.elapsed_ms = _ms(started)
    return status


async def check_hosts(
    connections: Sequence[HostConnection],
    *,
    timeout: float,
    concurrency: int = 16,
    extra_pythons: dict[str, Sequence[str]] | None = None,
) -> AsyncIterator[HostStatus]:
    """Check all hosts, at most ``concurrency`` at once; yield each status as it is ready."""
    gate = asyncio.Semaphore(concurrency)

    async def one(connection: HostConnection) -> HostStatus:
        async with gate:
            pythons = (extra_pythons or {}).get(connection.name, ())
            return await check_host(connection, timeout=timeout, extra_pythons=pythons)

    tasks = [asyncio.ensure_future(one(c)) for c in connections]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
