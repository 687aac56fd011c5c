"""An SSH server inside this process, for ``rtui demo``: a real host without a real host.

:class:`DemoServer` listens on 127.0.0.1 (random port) with a throwaway ed25519 host key and
accepts only the local user with a throwaway client key, so the demo goes through the same
connect, host-key and public-key code paths as any host. Exec requests run ``/bin/sh -c``
locally in a temporary demo HOME whose PATH starts with this Python's directory (which has
ipykernel); SFTP and forwards to 127.0.0.1 work, so the agent and kernels run as they would
remotely. :meth:`DemoServer.close` kills every process the demo started, kernels included,
and removes the temporary directory.

Nothing is written outside the temporary directory: the host exists for the run only (it is
injected into the run's :class:`~rtui.core.workspace.Workspace`), its key is trusted through
a known_hosts file inside the temporary directory, and the consoles' input history is kept
there too (see :meth:`DemoServer.injected_host`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import posixpath
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import asyncssh

from rtui.core.config.model import Host
from rtui.core.private import write_private
from rtui.core.ssh.route import Endpoint, Route
from rtui.core.workspace import InjectedHost
from rtui.demo.processes import (
    KILL_WAIT,
    MARKER,
    belongs,
    kernel_pids,
    kill_group,
    kill_until_gone,
)
from rtui.demo.sample import write_sample
from rtui.demo.scaffold import LOOPBACK, LoopbackListener, TrackedServer

__all__ = ["DEMO_NOTE", "DemoServer"]

log = logging.getLogger(__name__)

DEMO_NOTE = "embedded demo server (this run only)"
_FORWARD_HOSTS = frozenset({"127.0.0.1", "localhost"})
_DROPPED_ENV = frozenset({
    "IPYTHONDIR", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY",
    "PWD", "OLDPWD", "TERM", "TMUX", "TMUX_PANE", "COLUMNS", "LINES", "PYTHONSTARTUP",
})
_CHUNK = 65536


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
        self._listener: LoopbackListener | None = None
        self._client_key: asyncssh.SSHKey | None = None
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
    def state_dir(self) -> Path:
        """rtui's own state for this run (the consoles' input history), not the user's."""
        return self.root / "state"

    @property
    def running(self) -> bool:
        return self._listener is not None and self._listener.running

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Make the temp dir and the keys, then listen on 127.0.0.1 (a random free port)."""
        if self._root is not None:
            raise RuntimeError("the demo server was started already")
        listener = self._prepare()
        try:
            self.port = await listener.listen(
                lambda: _DemoSSHServer(listener, self),
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
            write_private(self.known_hosts_path, (self.known_hosts_line() + "\n").encode())
        except BaseException:
            await self.close()
            raise

    def _prepare(self) -> LoopbackListener:
        """The temp dir, the demo HOME and the throwaway keys (only the client key is written)."""
        self._root = Path(tempfile.mkdtemp(prefix="rtui-demo-")).resolve()
        try:
            self.home.mkdir(mode=0o700)
            write_sample(self.home)
            self._listener = LoopbackListener(comment="rtui-demo")
            self._client_key = asyncssh.generate_private_key(
                "ssh-ed25519", comment=f"rtui-demo-{self.user}")
            write_private(self.client_key_path, self._client_key.export_private_key())
        except BaseException:
            self.discard()
            raise
        return self._listener

    async def close(self) -> None:
        """Stop the server, kill every process it started (kernels too), remove the temp dir.

        Idempotent. Pids that could not be killed are left in :attr:`survivors`.
        """
        listener = self._listener
        if listener is not None:
            listener.stop()
        procs = list(self._procs)
        for proc in procs:
            kill_group(proc.pid)
        self.discard()
        if procs:  # reap our own children (they are dead: this only collects their status)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), KILL_WAIT)
        if listener is not None:
            await listener.wait_stopped()

    def discard(self) -> None:
        """The synchronous part of close(): kill what the demo started and remove the temp dir.

        Safe to call at any time, also when the event loop is gone (a last-resort clean-up).
        """
        root, self._root = self._root, None
        if root is None:
            return
        for proc in list(self._procs):
            if proc.returncode is None:
                kill_group(proc.pid)
        for pid in kernel_pids(root / "home"):
            if belongs(pid, root):
                kill_group(pid)
        self.survivors = kill_until_gone(root)
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
        if self._listener is None or not self.port:
            raise RuntimeError("the demo server is not started")
        return self._listener.known_hosts_line()

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

    def injected_host(self) -> InjectedHost:
        """The demo host as the run's workspace takes it: reached only through the server's
        one hop, its key trusted through the demo's known_hosts (read, never written: the key
        is known and the policy strict), the consoles' history in the temporary directory.
        Neither ~/.ssh/known_hosts nor rtui's own files are touched."""
        return InjectedHost(self.demo_host(), Route((self.endpoint(),)),
                            self.known_hosts_path, self.state_dir)

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
                kill_group(proc.pid)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), KILL_WAIT)
            self._procs.discard(proc)
        if status is None:
            return  # the channel closed first: nobody to tell
        with contextlib.suppress(Exception):
            if status >= 0:
                process.exit(status)
            else:
                process.exit_with_signal(_signal_name(-status))


class _DemoSSHServer(TrackedServer):
    """Per-connection policy: public-key auth for the local user, forwards to loopback only."""

    def __init__(self, listener: LoopbackListener, server: DemoServer) -> None:
        super().__init__(listener)
        self._server = server

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

    def unix_connection_requested(self, dest_path: str) -> bool:
        """Unix sockets too (streamlocal, as OpenSSH allows by default): the demo's kernels
        listen on sockets in a private directory, reached as on a real host."""
        return True


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
                    kill_group(proc.pid, number)
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


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return "KILL"


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
