"""An SSH server inside this process, for ``rtui demo``: a real host without a real host.

:class:`DemoServer` listens on 127.0.0.1 (random port) with a throwaway ed25519 host key and
accepts only the local user with a throwaway client key, so the demo goes through the same
connect, host-key and public-key code paths as any host. Exec requests run ``/bin/sh -c``
locally in a temporary demo HOME whose PATH starts with this Python's directory (which has
ipykernel); SFTP and forwards to 127.0.0.1 work, so the agent and kernels run as they would
remotely. :meth:`DemoServer.close` kills every process the demo started, kernels included,
and removes the temporary directory.

Nothing is written outside the temporary directory: the host exists for the run only (it is
given to the app as an extra host) and its key is trusted through a known_hosts file inside
the temporary directory (see :class:`DemoConnections`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import glob
import json
import logging
import os
import posixpath
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh

from rtui.core.config.model import Config, Host
from rtui.core.ssh.connection import HostConnection
from rtui.core.ssh.manager import Connections
from rtui.core.ssh.route import Endpoint, Route

__all__ = ["DEMO_NOTE", "DemoConnections", "DemoServer", "demo_processes"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEMO_NOTE = "embedded demo server (this run only)"
MARKER = "RTUI_DEMO"  # environment variable set to the demo's temp dir in every process it starts
_FORWARD_HOSTS = frozenset({"127.0.0.1", "localhost"})
_DROPPED_ENV = frozenset({
    "IPYTHONDIR", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY",
    "PWD", "OLDPWD", "TERM", "TMUX", "TMUX_PANE", "COLUMNS", "LINES", "PYTHONSTARTUP",
})
_CHUNK = 65536
_KILL_WAIT = 5.0  # seconds to wait for killed processes to be gone


class DemoServer:
    """An in-process SSH server on 127.0.0.1 whose "remote" side is a temporary HOME here.

    Use ``await start()`` / ``await close()`` or ``async with DemoServer() as server``.
    """

    def __init__(self, *, name: str = "demo", python: str | None = None) -> None:
        self.name = name
        self.python = python or sys.executable
        self.user = _local_user()
        self.port = 0
        self.survivors: list[int] = []  # pids still alive after close(); empty when all went
        self._root: Path | None = None
        self._host_key: asyncssh.SSHKey | None = None
        self._client_key: asyncssh.SSHKey | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._procs: set[asyncio.subprocess.Process] = set()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- where things are --------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The temporary directory holding everything of this run (removed by close())."""
        if self._root is None:
            raise RuntimeError("the demo server is not started")
        return self._root

    @property
    def home(self) -> Path:
        """HOME of the commands run through the server."""
        return self.root / "home"

    @property
    def known_hosts_path(self) -> Path:
        """A known_hosts file trusting this server's host key, for this run only."""
        return self.root / "known_hosts"

    @property
    def client_key_path(self) -> Path:
        """The private key (OpenSSH format, no passphrase) the server accepts."""
        return self.root / "client_key"

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Make the temp dir and the keys, then listen on 127.0.0.1 (a random free port)."""
        if self._root is not None:
            raise RuntimeError("the demo server was started already")
        self._prepare()
        try:
            self._acceptor = await asyncssh.listen(
                LOOPBACK,
                0,
                server_factory=lambda: _DemoSSHServer(self),
                server_host_keys=[self._host_key],
                process_factory=self._run_exec,
                sftp_factory=lambda chan: _HomeSFTPServer(chan, os.fsencode(self.home)),
                encoding=None,
                allow_pty=True,
                line_editor=False,  # a PTY is only asked for to make the link interactive
                agent_forwarding=False,
                x11_forwarding=False,
                gss_host=None,
                password_auth=False,
                kbdint_auth=False,
                host_based_auth=False,
                public_key_auth=True,
                login_timeout=30,
            )
            self.port = self._acceptor.get_port()
            _write_private(self.known_hosts_path, (self.known_hosts_line() + "\n").encode())
        except BaseException:
            await self.close()
            raise

    def _prepare(self) -> None:
        """The temp dir, the demo HOME and the throwaway keys (only the client key is written)."""
        self._root = Path(tempfile.mkdtemp(prefix="rtui-demo-")).resolve()
        try:
            self.home.mkdir(mode=0o700)
            self._host_key = asyncssh.generate_private_key("ssh-ed25519", comment="rtui-demo")
            self._client_key = asyncssh.generate_private_key(
                "ssh-ed25519", comment=f"rtui-demo-{self.user}")
            _write_private(self.client_key_path, self._client_key.export_private_key())
        except BaseException:
            self.discard()
            raise

    async def close(self) -> None:
        """Stop the server, kill every process it started (kernels too), remove the temp dir.

        Idempotent. Pids that could not be killed are left in :attr:`survivors`.
        """
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
        connections, self._connections = self._connections, set()
        for conn in connections:
            conn.abort()
        procs = list(self._procs)
        for proc in procs:
            _kill_group(proc.pid)
        self.discard()
        if procs:  # reap our own children (they are dead: this only collects their status)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), _KILL_WAIT)
        for conn in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)
        if acceptor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(acceptor.wait_closed(), 2)

    def discard(self) -> None:
        """The synchronous part of close(): kill what the demo started and remove the temp dir.

        Safe to call at any time, also when the event loop is gone (a last-resort clean-up).
        """
        root, self._root = self._root, None
        if root is None:
            return
        for proc in list(self._procs):
            if proc.returncode is None:
                _kill_group(proc.pid)
        for pid in _kernel_pids(root / "home"):
            if _belongs(pid, root):
                _kill_group(pid)
        self.survivors = _kill_until_gone(root)
        if self.survivors:
            log.warning("demo: processes still running after kill: %s", self.survivors)
        for _ in range(3):
            shutil.rmtree(root, ignore_errors=True)
            if not root.exists():
                break
            time.sleep(0.05)

    # -- what clients need -------------------------------------------------------------------

    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA...`` for the throwaway host key."""
        if self._host_key is None or not self.port:
            raise RuntimeError("the demo server is not started")
        key = self._host_key.export_public_key().decode().split()
        return f"[{LOOPBACK}]:{self.port} {key[0]} {key[1]}"

    def demo_host(self) -> Host:
        """The host record for this run (never written to the hosts file)."""
        if not self.port:
            raise RuntimeError("the demo server is not started")
        return Host(
            name=self.name,
            hostname=LOOPBACK,
            port=self.port,
            user=self.user,
            identity_files=(str(self.client_key_path),),
            auth_methods=("publickey",),
            python=self.python,
            note=DEMO_NOTE,
            host_key_policy="strict",  # the key is known; anything else is refused, never asked
        )

    def endpoint(self) -> Endpoint:
        """The demo host's one hop: no ssh config, no agent, only the demo's known_hosts."""
        host = self.demo_host()
        return Endpoint(
            label=host.name,
            hostname=LOOPBACK,
            port=self.port,
            user=self.user,
            identity_files=host.identity_files,
            auth_methods=host.auth_methods,
            known_hosts_files=(),
            agent_path="none",
            host_key_policy="strict",
        )

    def trust(self, connection: HostConnection) -> None:
        """Make ``connection`` (to the demo host) trust the throwaway key, for this run only.

        Its known_hosts is the demo's own file (read, and never written: the key is known and
        the policy strict), so neither ~/.ssh/known_hosts nor rtui's own file is touched.
        """
        connection.own_known_hosts = self.known_hosts_path
        connection.route = Route((self.endpoint(),))

    # -- the server side ---------------------------------------------------------------------

    def _authorized(self, username: str, key: asyncssh.SSHKey) -> bool:
        client = self._client_key
        return client is not None and username == self.user and (
            key.public_data == client.public_data)

    def _env(self, term_type: str | None) -> dict[str, str]:
        """The environment of a command: this one, with HOME, PATH and XDG in the demo home."""
        env = {k: v for k, v in os.environ.items()
               if k not in _DROPPED_ENV and not k.startswith(("XDG_", "JUPYTER_"))}
        path = [os.path.dirname(sys.executable), *env.get("PATH", os.defpath).split(os.pathsep)]
        env.update(
            HOME=str(self.home), PWD=str(self.home), USER=self.user, LOGNAME=self.user,
            SHELL="/bin/sh", PATH=os.pathsep.join(dict.fromkeys(p for p in path if p)),
        )
        env[MARKER] = str(self.root)
        if term_type:
            env["TERM"] = term_type
        return env

    async def _run_exec(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run one exec (or shell) request as a local process bridged to the channel."""
        command = process.command
        argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=self.home, env=self._env(process.term_type),
                start_new_session=True,  # its own group: close() kills it with its children
            )
        except OSError as exc:
            process.stderr.write(f"rtui demo: cannot run /bin/sh: {exc}\n".encode())
            process.exit(127)
            return
        self._procs.add(proc)
        try:
            status = await _bridge(process, proc)
        finally:
            if proc.returncode is None:
                _kill_group(proc.pid)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), _KILL_WAIT)
            self._procs.discard(proc)
        if status is None:
            return  # the channel closed first: nobody to tell
        with contextlib.suppress(Exception):
            if status >= 0:
                process.exit(status)
            else:
                process.exit_with_signal(_signal_name(-status))


class DemoConnections(Connections):
    """Connections in which the demo host trusts the demo server's key (and nothing else).

    Every other host keeps rtui's normal known_hosts handling; only a connection whose host is
    exactly the server's :meth:`DemoServer.demo_host` is pointed at the demo's known_hosts.
    """

    def __init__(self, config: Config, server: DemoServer, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.server = server

    def get(self, name: str) -> HostConnection:
        connection = super().get(name)
        if self.server.running and self.config.get(name) == self.server.demo_host():
            self.server.trust(connection)
        return connection


class _DemoSSHServer(asyncssh.SSHServer):
    """Per-connection policy: public-key auth for the local user, forwards to loopback only."""

    def __init__(self, server: DemoServer) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._server._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._server._authorized(username, key)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        if dest_host.lower() in _FORWARD_HOSTS:
            return True
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
            f"the rtui demo server only forwards to {LOOPBACK}, not {dest_host}")


class _HomeSFTPServer(asyncssh.SFTPServer):
    """asyncssh's SFTP server on the local filesystem, relative paths from the demo HOME."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], home: bytes) -> None:
        super().__init__(chan)
        self._home = home

    def map_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            path = posixpath.join(self._home, path)
        return super().map_path(path)


# -- bridging a channel to a local process -----------------------------------------------------


async def _bridge(
    process: asyncssh.SSHServerProcess[bytes], proc: asyncio.subprocess.Process
) -> int | None:
    """Copy stdin/stdout/stderr until the process ends (its status) or the channel closes."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    feeder = asyncio.ensure_future(_feed(process, proc))
    outputs = [asyncio.ensure_future(_copy(proc.stdout, process.stdout)),
               asyncio.ensure_future(_copy(proc.stderr, process.stderr))]

    async def finished() -> int:
        await asyncio.gather(*outputs)
        return await proc.wait()

    done = asyncio.ensure_future(finished())
    closed = asyncio.ensure_future(process.channel.wait_closed())
    try:
        await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (feeder, closed, *outputs):
            task.cancel()
        if not done.done():
            done.cancel()
    if done.done() and not done.cancelled():
        return done.result()
    return None


async def _feed(
    process: asyncssh.SSHServerProcess[bytes], proc: asyncio.subprocess.Process
) -> None:
    """Channel stdin to the process; signals sent on the channel go to its process group."""
    assert proc.stdin is not None
    try:
        while True:
            try:
                data = await process.stdin.read(_CHUNK)
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived):
                continue
            except asyncssh.SignalReceived as exc:
                number = getattr(signal, f"SIG{exc.signal}", None)
                if isinstance(number, signal.Signals):
                    _kill_group(proc.pid, number)
                continue
            if not data:
                break
            proc.stdin.write(data)
            await proc.stdin.drain()
    except (OSError, asyncssh.Error):
        pass  # the process stopped reading, or the channel went away
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter[bytes]) -> None:
    """One output stream of the process to the channel, until EOF."""
    while data := await reader.read(_CHUNK):
        try:
            writer.write(data)
            await writer.drain()
        except (OSError, asyncssh.Error):
            return


# -- finding and killing the demo's processes ------------------------------------------------


def _kernel_pids(home: Path) -> set[int]:
    """Pids from rtui's kernel records and of processes using a connection file in ``home``."""
    pids: set[int] = set()
    for path in glob.glob(str(home / ".local/share/rtui/kernels/*.json")):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(Path(path).read_text())
            pid = record.get("pid") if isinstance(record, dict) else None
            if isinstance(pid, int) and pid > 1:
                pids.add(pid)
    files = [os.fsencode(p) for p in
             glob.glob(str(home / ".local/share/jupyter/runtime/kernel-*.json"))]
    if files:
        for pid, cmdline, _environ in _processes():
            if any(f in cmdline for f in files):
                pids.add(pid)
    return pids


def demo_processes(root: Path | str) -> list[int]:
    """Live processes of this user whose command line or environment names ``root``."""
    needle = os.fsencode(str(root))
    marker = os.fsencode(f"{MARKER}={root}")
    return [pid for pid, cmdline, environ in _processes()
            if needle in cmdline or marker in environ]


def _processes() -> Iterator[tuple[int, bytes, list[bytes]]]:
    """``(pid, cmdline, environ entries)`` of this user's live processes (not zombies)."""
    me, uid = os.getpid(), os.getuid()
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if entry.stat().st_uid != uid or _zombie(int(entry.name)):
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        yield int(entry.name), cmdline, environ


def _zombie(pid: int) -> bool:
    """True when ``pid`` is gone or only a zombie (dead, waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not _exists(pid)
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _belongs(pid: int, root: Path) -> bool:
    """Whether ``pid`` is one of the demo's (guards against a reused pid)."""
    if not Path("/proc").is_dir():
        return _exists(pid)
    return pid in demo_processes(root)


def _kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal ``pid``'s process group (never ours), else the process alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return
        if group > 1 and group != os.getpgrp():
            os.killpg(group, sig)
        else:
            os.kill(pid, sig)


def _kill_until_gone(root: Path) -> list[int]:
    """Kill whatever is left of the demo until nothing is; the pids that would not go."""
    deadline = time.monotonic() + _KILL_WAIT
    while True:
        left = demo_processes(root)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            _kill_group(pid)
        time.sleep(0.02)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return "KILL"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
