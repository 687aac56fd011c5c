"""Host status checks: each step timed and bounded on its own, many hosts at once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shlex
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtui.core.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyUnknownError,
    RtuiError,
    SSHError,
    UnreachableError,
)
from rtui.core.ssh.state import ConnState

if TYPE_CHECKING:  # kept out of imports: the TUI shows statuses before loading asyncssh
    from rtui.core.ssh.connection import HostConnection

__all__ = [
    "CheckGates", "HostStatus", "PythonInfo", "check_host", "check_hosts", "error_kind",
    "parse_probe",
]

# POSIX sh run through /bin/sh whatever the login shell is: one Python (started with -S: no
# site import, ~10 ms) finds the candidates, reports OS, arch, each distinct interpreter and
# the live kernels (no Python: OS and arch from uname). No subshells, and the probe imports
# only what the common case needs: on a host checked with 99 others, every process and
# import costs CPU the host may be short of.
# Per interpreter: its version and whether ipykernel and the packages it starts with are
# installed (found, not imported; a broken install shows, with its traceback, when a kernel
# is launched). Answers are cached on the host (~/.cache/rtui/probe-v1.json) with the mtimes
# of the interpreter and of its package directories: an install, an upgrade or a new
# interpreter changes them and is probed again; a check that finds nothing changed starts
# no interpreter but that one.
_PROBE = r"""
for py in python3 python; do
  command -v "$py" >/dev/null 2>&1 || continue
  "$py" -S - EXTRA_PYTHONS <<'PROBE' 2>/dev/null && exit 0
PROBE_DRIVER
PROBE
  break
done
echo "os $(uname -s)"
echo "arch $(uname -m)"
exit 0
"""

# What each interpreter is asked when its cached answer is stale (any Python >= 2.7).
_ASK = r"""
import json, os, site, sys
ok = False
try:
    from importlib.util import find_spec
    ok = all(find_spec(m) is not None for m in
             ("ipykernel", "IPython", "zmq", "jupyter_client", "traitlets", "tornado"))
except Exception:
    pass
watch = [os.path.realpath(sys.executable)] + [p for p in sys.path if p and os.path.isdir(p)]
try:
    watch += list(site.getsitepackages()) + [site.getusersitepackages()]
except Exception:
    pass
print(json.dumps({"version": "%d.%d.%d" % tuple(sys.version_info[:3]), "ipykernel": ok,
                  "watch": sorted(set(watch))}))
"""

# Run by _PROBE's Python with -S (any Python >= 2.7): the cache, the answers, the kernels.
_PROBE_DRIVER = r"""
import json, os, sys
env = os.environ.get
cache_path = os.path.join(env("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rtui",
                          "probe-v1.json")
ASK = ASK_CODE


def which(name):
    # What `command -v` finds: a path as given (~ expanded; an environment's directory: its
    # interpreter), else the first executable file on PATH.
    name = os.path.expanduser(name)
    if os.path.isdir(name):
        name = next((os.path.join(name, sub) for sub in ("bin/python", "bin/python3")
                     if os.path.isfile(os.path.join(name, sub))), name)
    dirs = [""] if "/" in name else (env("PATH") or "").split(os.pathsep)
    for directory in dirs:
        path = os.path.join(directory, name) if directory else name
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def stamp(paths):
    out = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime)
        except OSError:
            out.append(None)
    return out


try:
    with open(cache_path) as handle:
        cache = json.load(handle)
except Exception:
    cache = {}
print("os %s" % os.uname()[0])
print("arch %s" % os.uname()[4])
changed = False
seen = set()
configured = sys.argv[1:]
for name in configured + ["python3", "python", "~/.local/share/rtui/venv/bin/python"]:
    q = which(name)
    if not q:
        continue
    if name in configured:  # the host's python as configured: what it names here
        print("given %s\t%s" % (q, name))
    real = os.path.realpath(q)
    if real in seen:
        continue  # one interpreter under two names: the first name given
    seen.add(real)
    entry = cache.get(q)
    if not (isinstance(entry, dict) and entry.get("stamp") == stamp([q] + entry["watch"])):
        import subprocess
        try:
            out = subprocess.Popen([q, "-c", ASK], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE).communicate()[0]
            answer = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
        except Exception:
            continue
        entry = {"version": answer["version"], "ipykernel": answer["ipykernel"],
                 "watch": answer["watch"], "stamp": stamp([q] + answer["watch"])}
        cache[q] = entry
        changed = True
    print("py %s %s %s" % (q, entry["version"], "yes" if entry["ipykernel"] else "no"))
if changed:
    try:
        directory = os.path.dirname(cache_path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        tmp = "%s.%d.tmp" % (cache_path, os.getpid())
        with open(tmp, "w") as handle:
            json.dump(cache, handle)
        os.rename(tmp, cache_path)
    except Exception:
        pass
# Live kernels: connection files in jupyter's runtime dir whose shell port answers.
data = env("JUPYTER_DATA_DIR") or os.path.join(
    env("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "jupyter")
runtime = env("JUPYTER_RUNTIME_DIR") or os.path.join(data, "runtime")
try:
    files = [f for f in os.listdir(runtime) if f.startswith("kernel-") and f.endswith(".json")]
except OSError:
    files = []
alive = 0
for name in files:
    try:
        import socket
        with open(os.path.join(runtime, name)) as handle:
            info = json.load(handle)
        socket.create_connection((info.get("ip") or "127.0.0.1", info["shell_port"]), 0.3).close()
        alive += 1
    except Exception:
        pass
print("kernels %d" % alive)
"""
_PROBE = _PROBE.replace("PROBE_DRIVER", _PROBE_DRIVER.strip("\n").replace(
    "ASK_CODE", repr(_ASK)))


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
    given: dict[str, list[str]] = {}
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
        elif kind == "given" and "\t" in rest:
            path, name = rest.split("\t", 1)
            given.setdefault(path, []).append(name)
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
        (ConnectTimeoutError, "timeout"),
        (UnreachableError, "unreachable"),
    ]
    return next((kind for cls, kind in kinds if isinstance(exc, cls)), "error")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def check_host(
    connection: HostConnection, *, timeout: float, extra_pythons: Sequence[str] = (),
    gates: CheckGates | None = None,
) -> HostStatus:
    """Run every step against one host; a failed step ends the check with its named error.
    ``gates``: shared with the other hosts checked at the same time."""
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
                    if sock is not None:
                        # Waiting costs nothing: only a server that speaks takes a slot.
                        await _server_greets(sock, first.hostname, first.port, timeout)
                    await active.enter_async_context(gates.slot())
                except BaseException:
                    if sock is not None:
                        sock.close()
                    raise
                t0 = time.perf_counter()
                await connection.connect(sock=sock)  # it owns the socket from here
                status.ssh_ms = None if reused else _ms(t0)
                status.ok = True

            # One exec for both steps: the host accepting it times the round trip of a
            # command; its output is the probe. A second exec would cost the host another
            # process, which 100 hosts checked at once feel.
            step = "command"
            script = _PROBE.replace("EXTRA_PYTHONS",
                                    " ".join(shlex.quote(p) for p in extra_pythons))
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


async def _server_greets(sock: socket.socket, host: str, port: int, timeout: float) -> None:
    """Wait until the server sends something (an SSH server greets first), reading nothing:
    a host that accepts connections and never answers is found without a check slot."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def _ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(sock.fileno(), _ready)
    try:
        await asyncio.wait_for(readable, timeout)
    except TimeoutError as exc:
        raise ConnectTimeoutError(
            f"timeout after {timeout:g} s connecting to {host}:{port}: no SSH server answered"
        ) from exc
    finally:
        loop.remove_reader(sock.fileno())


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


async def check_hosts(
    connections: Sequence[HostConnection],
    *,
    timeout: float,
    concurrency: int = 32,
    extra_pythons: dict[str, Sequence[str]] | None = None,
) -> AsyncIterator[HostStatus]:
    """Check all hosts (see CheckGates for how many at once); yield each status as it is
    ready."""
    gates = CheckGates(concurrency)

    async def one(connection: HostConnection) -> HostStatus:
        pythons = (extra_pythons or {}).get(connection.name, ())
        return await check_host(connection, timeout=timeout, extra_pythons=pythons,
                                gates=gates)

    tasks = [asyncio.ensure_future(one(c)) for c in connections]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
