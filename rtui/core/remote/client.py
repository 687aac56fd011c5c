"""The local end of the remote agent: upload it once, start it, talk JSON lines to it.

The agent (the ``rtui.agent`` package as one zipapp, see ``bundle``) is cached at
``~/.cache/rtui/agent-<version>-<hash>.pyz``; its name changes whenever its content does, so
an outdated copy is never run. It runs over an exec channel of the host's shared connection
(the first time, its bytes go over that same channel: no SFTP, no extra round trips), and
requests carry ids so several can be in flight.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from rtui.core.errors import RtuiError, SSHError
from rtui.core.remote.bundle import PACKAGE, agent_bundle, find_python_sh
from rtui.core.ssh.connection import HostConnection

__all__ = ["READ_ONLY_OPS", "AgentClient", "AgentError", "AgentLostError", "Progress"]

log = logging.getLogger(__name__)

_START_TIMEOUT = 30.0
MIN_PYTHON = (3, 8)  # the agent's (rtui/agent is written for it)
_SOURCE_MARK = "rtui-agent-source"  # the line before the agent's bytes, when they are sent
# Run by the remote Python with argv = [cache path, size]. Refuses a Python older than the
# agent's minimum (saying which one it is, before anything is uploaded to it). Caches the
# agent when it is not there yet (its base64 read from stdin after asking for it, behind a
# marker line: requests the client wrote before it knew are kept, in order, for the agent;
# the same buffered stdin then carries the next requests, so nothing read ahead is lost),
# then runs it from the zipapp. Parses and runs on Python 2 too, so every interpreter
# answers.
_BOOT = """import os, sys
if sys.version_info < MIN_PYTHON:
    import json
    sys.stdout.write(json.dumps({"event": "old_python", "python": sys.executable,
                                 "version": "%d.%d.%d" % tuple(sys.version_info[:3])}) + "\\n")
    sys.exit(3)
f, n = sys.argv[1], int(sys.argv[2])
if not os.path.isfile(f):
    sys.stdout.write('{"event": "need_source"}\\n')
    sys.stdout.flush()
    import base64
    inp = getattr(sys.stdin, "buffer", sys.stdin)
    early = []
    while True:
        line = inp.readline()
        if not line:
            sys.exit(4)
        if line.strip() == b"SOURCE_MARK":
            break
        early.append(line)
    data = base64.b64decode(inp.read(n))
    if early:
        class Early(object):
            def readline(self, *limit):
                return early.pop(0) if early else inp.readline(*limit)
        class Stdin(object):
            buffer = Early()
        sys.stdin = Stdin()
    d = os.path.dirname(f)
    if not os.path.isdir(d):
        m = os.umask(0o077)
        os.makedirs(d, 0o700)
        os.umask(m)
    t = "%s.%d.tmp" % (f, os.getpid())
    with open(t, "wb") as h:
        h.write(data)
    os.chmod(t, 0o600)
    os.rename(t, f)
sys.argv = [f]
sys.path.insert(0, f)
from PACKAGE.__main__ import main
main()
""".replace("PACKAGE", PACKAGE).replace("MIN_PYTHON", repr(MIN_PYTHON)).replace(
    "SOURCE_MARK", _SOURCE_MARK)


class AgentError(RtuiError):
    """The agent refused or failed a request; ``type`` is its machine-readable kind."""

    default_title = "Remote agent"

    def __init__(self, message: str, type: str = "agent") -> None:
        super().__init__(message)
        self.type = type


class AgentLostError(SSHError):
    """The agent's channel ended (the agent killed, the link lost) while a request waited."""


#: Requests that change nothing on the host: one the agent was lost under is asked again,
#: once, of a new agent (unless it had already streamed rows or progress to its caller).
READ_ONLY_OPS = frozenset({
    "hello", "envs", "list", "resolve", "fs_list", "fs_walk", "fs_du", "fs_checksum",
    "fs_home", "env_tools", "env_packages", "env_export", "slurm_info", "slurm_jobs",
    "slurm_wait"})


@dataclass(frozen=True)
class Progress:
    """A progress line streamed by a long request (pip output during set-up)."""

    line: str
    fraction: float | None = None
    data: dict[str, Any] | None = None  # the whole event (slurm_wait's: its "job")


@dataclass
class _Pending:
    """A request awaiting its reply: where its events go, and when it was last heard of."""

    future: asyncio.Future[Any]
    on_progress: Callable[[Progress], None] | None = None
    on_rows: Callable[[list[Any]], None] | None = None
    last_event: float = field(default_factory=time.monotonic)
    told: bool = False  # rows or progress reached the caller: asking again would repeat them


class AgentClient:
    """One running agent on one host; restarted on demand after the connection comes back.

    Requests are written as soon as the host has accepted the agent's command, before the
    agent has said it is ready (the boot keeps them if it must first receive the agent's
    bytes): a far host answers the first request one round trip sooner.
    """

    def __init__(self, connection: HostConnection, *, python: str | None = None) -> None:
        self.connection = connection
        self.python = python  # None: the first of python3, python on PATH
        self.hello: dict[str, Any] = {}
        self._process: asyncssh.SSHClientProcess[str] | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None  # the agent's greeting
        self._generation = -1
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float = 60,
        on_progress: Callable[[Progress], None] | None = None,
        on_rows: Callable[[list[Any]], None] | None = None,
        idle_timeout: bool = False,
    ) -> Any:
        """Send one request and wait for its result; AgentError carries the agent's reason.
        ``timeout`` counts from the agent's greeting (its start is bounded on its own), or
        with ``idle_timeout`` from the request's last event (a long listing or checksum
        runs as long as it keeps reporting). ``on_rows`` gets each batch of streamed rows.
        When the awaiting task is cancelled, the agent is asked to cancel the request too.
        A read-only request (READ_ONLY_OPS) the agent was lost under is asked again, once."""
        pending = _Pending(asyncio.get_running_loop().create_future(), on_progress, on_rows)
        try:
            return await self._request_once(op, args, pending, timeout, idle_timeout)
        except AgentLostError as lost:
            if op not in READ_ONLY_OPS or pending.told:
                raise
            log.info("%s; asking '%s' again of a new agent", lost, op)
        pending = _Pending(asyncio.get_running_loop().create_future(), on_progress, on_rows)
        return await self._request_once(op, args, pending, timeout, idle_timeout)

    async def _request_once(self, op: str, args: dict[str, Any] | None, pending: _Pending,
                            timeout: float, idle_timeout: bool) -> Any:
        process, ready = await self._ensure_started()
        request_id = next(self._ids)
        future = pending.future
        self._pending[request_id] = pending
        line = json.dumps({"id": request_id, "op": op, "args": args or {}})
        try:
            try:
                process.stdin.write(line + "\n")
            except (BrokenPipeError, ConnectionError):
                # The channel closed under the write: when the start failed (no Python
                # there, say) ``ready`` and ``future`` carry why, and that is the answer.
                await asyncio.wait({ready})
                if not future.done():
                    raise
            await asyncio.wait({ready})  # a start that failed failed ``future`` too
            if not idle_timeout:
                return await asyncio.wait_for(future, timeout)
            pending.last_event = time.monotonic()
            while True:
                left = pending.last_event + timeout - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                done, _ = await asyncio.wait({future}, timeout=left)
                if done:
                    return future.result()
        except TimeoutError as exc:
            self._cancel(process, request_id)
            quiet = " (nothing heard)" if idle_timeout else ""
            raise AgentError(
                f"the rtui agent on {self.connection.name} did not answer '{op}' within "
                f"{timeout:g} s{quiet}", "timeout") from exc
        except asyncio.CancelledError:
            if future.cancelled() or not future.done():  # wait_for cancels it with us
                self._cancel(process, request_id)
            raise
        except (asyncssh.Error, OSError, BrokenPipeError) as exc:
            raise SSHError(f"lost the rtui agent on {self.connection.name}: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)

    def _cancel(self, process: asyncssh.SSHClientProcess[str], request_id: int) -> None:
        """Ask the agent to stop request ``request_id`` (best effort: its answer is not
        awaited, and a channel already gone needs no cancel)."""
        line = json.dumps({"id": next(self._ids), "op": "cancel",
                           "args": {"target": request_id}})
        with contextlib.suppress(Exception):
            if not process.is_closing():
                process.stdin.write(line + "\n")

    async def start(self) -> dict[str, Any]:
        """Start the agent unless it runs; its greeting (home, platform, Python)."""
        _, ready = await self._ensure_started()
        await asyncio.wait({ready})
        error = ready.exception()
        if error is not None:
            # A copy for each caller: one exception object raised in several tasks at once
            # corrupts CPython 3.11's recursion bookkeeping (a later compile() fails).
            raise copy.copy(error) from None
        return ready.result()

    async def subcommand(self, name: str) -> str:
        """The shell command that runs the agent's sub-command ``name`` (``relay``) with the
        agent's own Python, from the cached zipapp (there once the agent runs)."""
        hello = await self.start()
        python = shlex.quote(str(hello.get("python") or "python3"))
        return ('f="${XDG_CACHE_HOME:-$HOME/.cache}/rtui/' + agent_bundle().name + '"; '
                f'exec {python} -u "$f" {shlex.quote(name)}')

    async def close(self) -> None:
        process, self._process = self._process, None
        if self._reader is not None:
            self._reader.cancel()
        if process is not None:
            with contextlib.suppress(Exception):
                process.stdin.write_eof()
                process.close()

    # -- start-up ----------------------------------------------------------------------------

    async def _ensure_started(
        self,
    ) -> tuple[asyncssh.SSHClientProcess[str], asyncio.Future[dict[str, Any]]]:
        """The agent's channel (accepted by the host; the agent may still be starting) and
        the future of its greeting."""
        async with self._lock:
            conn = await self.connection.connect()
            if (self._process is not None and self._ready is not None
                    and self._generation == self.connection.generation
                    and not self._process.is_closing()
                    and not (self._ready.done() and self._ready.exception() is not None)):
                return self._process, self._ready
            await self.close()
            candidates = [self.python] if self.python else ["python3", "python"]
            data = base64.b64encode(agent_bundle().data).decode("ascii")
            process = await self._spawn(conn, candidates, len(data))
            ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            ready.add_done_callback(_retrieved)
            self._process, self._ready = process, ready
            self._generation = self.connection.generation
            self._reader = asyncio.get_running_loop().create_task(
                self._read(process, ready, candidates, data))
            return process, ready

    async def _spawn(
        self, conn: asyncssh.SSHClientConnection, candidates: list[str], size: int,
    ) -> asyncssh.SSHClientProcess[str]:
        """One exec channel: the remote runs the cached agent, or first asks for its bytes
        (sent on the same channel, see ``_boot``) and caches them."""
        bundle = agent_bundle()
        boot = '"$p" -u -c ' + shlex.quote(_BOOT) + f' "$f" {size}'
        # Of several candidates, one older than 3.8 gives way to the next, as in the check;
        # if none is new enough, the last old one runs the boot, which says it is too old.
        too_old = ("" if len(candidates) == 1 else
                   '"$p" -S -c "import sys; sys.exit(sys.version_info < ' + repr(MIN_PYTHON)
                   + ')" 2>/dev/null || { old="$p"; continue; }\n')
        script = (
            'f="${XDG_CACHE_HOME:-$HOME/.cache}/rtui/' + bundle.name + '"\nold=\n'
            + find_python_sh(candidates, too_old + "exec " + boot)
            + 'if [ -n "$old" ]; then p="$old"; exec ' + boot + "; fi\n"
            + "echo 'rtui: no python' >&2; exit 127"
        )
        try:  # a session the server never opens (a login stuck on a dead NFS home...)
            return await asyncio.wait_for(
                conn.create_process(f"/bin/sh -c {shlex.quote(script)}"), _START_TIMEOUT)
        except TimeoutError as exc:
            raise AgentError(f"{self.connection.name} did not open a session for the rtui "
                             f"agent within {_START_TIMEOUT:g} s", "timeout") from exc

    async def _boot(self, process: asyncssh.SSHClientProcess[str], candidates: list[str],
                    data: str) -> dict[str, Any]:
        """Until the agent greets: its bytes sent if the host asks for them (behind the
        marker line the boot waits for), a refusal turned into its AgentError."""
        first = await self._first_line(process)
        if first.startswith('{"event": "need_source"'):
            process.stdin.write(_SOURCE_MARK + "\n" + data)
            log.info("uploading the agent to %s (%s)", self.connection.name,
                     agent_bundle().name)
            first = await self._first_line(process)
        ready = _json_object(first) or {}
        if ready.get("event") == "old_python":
            raise self._old_python_error(candidates, ready)
        if ready.get("event") != "ready":
            stderr = ""
            with contextlib.suppress(Exception):
                stderr = await asyncio.wait_for(process.stderr.read(), 2)
            raise self._start_error(candidates, first, stderr)
        hello = ready.get("data")
        return hello if isinstance(hello, dict) else {}

    async def _first_line(self, process: asyncssh.SSHClientProcess[str]) -> str:
        try:
            return str(await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT))
        except TimeoutError as exc:
            raise AgentError(f"the rtui agent on {self.connection.name} did not start "
                             f"within {_START_TIMEOUT:g} s", "timeout") from exc

    def _old_python_error(self, candidates: list[str], said: dict[str, Any]) -> AgentError:
        """Which Python was refused: as configured (and what it runs, when that differs),
        else the one found on PATH."""
        runs = str(said.get("python") or "")
        named = self.python or runs or candidates[0]
        if runs and runs != named:
            named = f"{named} ({runs})"
        found = "" if self.python else " (the first python3 or python on its PATH)"
        minimum = ".".join(map(str, MIN_PYTHON))
        return AgentError(
            f"the Python on {self.connection.name} is too old for rtui's agent: {named}{found} "
            f"is Python {said.get('version', '?')}, and {minimum} or newer is needed; set the "
            "host's python to a newer interpreter", "old_python")

    def _start_error(self, candidates: list[str], first: str, stderr: str) -> AgentError:
        name = self.connection.name
        if "rtui: no python" in stderr:
            return AgentError(
                f"no Python found on {name} (looked for {', '.join(candidates)}); install "
                "Python 3.8 or newer there, or set the host's python to an interpreter path",
                "no_python")
        if "SyntaxError" in stderr or "invalid syntax" in stderr:
            return AgentError(
                f"the Python on {name} is too old for rtui's agent (3.8 or newer is needed); "
                "set the host's python to a newer interpreter", "old_python")
        detail = (stderr or first).strip().splitlines()[-1:] or ["no output"]
        return AgentError(f"the rtui agent on {name} failed to start: {detail[0]}", "start")

    async def _read(self, process: asyncssh.SSHClientProcess[str],
                    ready: asyncio.Future[dict[str, Any]], candidates: list[str],
                    source: str) -> None:
        """The agent's start (see ``_boot``), then its replies and progress dispatched to the
        waiting requests, until the channel closes. A start that fails fails every request
        written meanwhile with its reason."""
        reason = "the agent exited"
        failure: AgentError | None = None
        try:
            try:
                self.hello = await self._boot(process, candidates, source)
            except AgentError as exc:
                failure = exc
                process.close()
                return
            ready.set_result(self.hello)
            async for line in process.stdout:
                message = _json_object(line)
                if message is None:
                    log.warning("agent said: %s", _cut(line))
                    continue
                request_id = message.get("id")  # ours are whole numbers (never True: == 1)
                if isinstance(request_id, int) and not isinstance(request_id, bool):
                    pending = self._pending.get(request_id)
                    if pending is not None:
                        self._dispatch(process, message, pending)
        except (asyncssh.Error, OSError) as exc:
            reason = str(exc)
        finally:
            # One exception object per waiter (see start()).
            def lost() -> RtuiError:
                if failure is not None:
                    return AgentError(str(failure), failure.type)
                return AgentLostError(f"lost the rtui agent on {self.connection.name}: {reason}")

            if not ready.done():
                ready.set_exception(lost())
            for pending in list(self._pending.values()):
                if not pending.future.done():
                    pending.future.set_exception(lost())
            if self._process is process:
                # Its output ended, though the channel may not have closed yet: a request
                # written to it now would wait for ever. The next one starts a new agent.
                self._process = None
                with contextlib.suppress(Exception):
                    process.close()

    def _dispatch(self, process: asyncssh.SSHClientProcess[str], message: dict[str, Any],
                  pending: _Pending) -> None:
        """One line from the agent for a waiting request: an event to its callback, or its
        reply. A callback that fails fails its own request (and cancels it on the agent),
        not the reader that serves the others."""
        future = pending.future
        pending.last_event = time.monotonic()
        event = message.get("event")
        data = message.get("data")
        try:
            if event == "progress":
                if pending.on_progress is not None and isinstance(data, dict):
                    pending.told = True
                    pending.on_progress(Progress(
                        str(data.get("line", "")), _fraction(data.get("fraction")), data))
            elif event == "rows":
                if not isinstance(data, list):
                    raise self._malformed("rows that are not a list")
                if pending.on_rows is not None and not future.done():
                    pending.told = True
                    pending.on_rows(data)
            elif event is not None:
                pass  # an event this client does not know yet
            elif message.get("ok") is True:
                if not future.done():
                    future.set_result(message.get("result"))
            elif not future.done():
                error = message.get("error")
                if not isinstance(error, dict):
                    error = {}
                said = error.get("message")
                if message.get("ok") is not False or not isinstance(said, str) or not said.strip():
                    raise self._malformed("no ok with its result or error message")
                kind = error.get("type")
                future.set_exception(AgentError(said, kind if isinstance(kind, str) else "agent"))
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
                self._cancel(process, int(message["id"]))

    def _malformed(self, what: str) -> AgentError:
        return AgentError(f"the rtui agent on {self.connection.name} sent a malformed reply "
                          f"({what})", "malformed")


def _json_object(line: str) -> dict[str, Any] | None:
    """The JSON object a line of the agent's holds; None for anything else."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _cut(line: str, keep: int = 200) -> str:
    """A line for the log: its start, and its length when it is longer."""
    line = line.rstrip()
    return line if len(line) <= keep else f"{line[:keep]}... ({len(line):,} characters)"


def _fraction(value: Any) -> float | None:
    """A progress fraction: a number from 0 to 1, or None (unknown)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a failed greeting as seen: the requests waiting on it raise their own error."""
    if not future.cancelled():
        future.exception()
