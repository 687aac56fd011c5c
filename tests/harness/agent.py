"""A real OpenSSH ``ssh-agent`` for tests, plus ``ssh-keygen`` key pairs (stdlib + subprocess).

::

    key = make_key(tmp_path / "id_agent")
    agent = SSHAgent(tmp_path / "agent").start()
    try:
        agent.add(key)
        server = sshd_factory(authorized_keys=[key])
        async with asyncssh.connect(**agent.connect_kwargs(server)) as conn:
            ...
    finally:
        agent.stop()

The agent runs in the foreground (``ssh-agent -D -a SOCKET``) as our child and is stopped
by PID; nothing reads or changes the caller's ``SSH_AUTH_SOCK``.

asyncssh pitfall (2.24): ``client_keys=None`` disables public key auth *including the
agent*, and ``client_keys=[]`` / ``()`` loads the default keys ``~/.ssh/id_*`` in addition
to the agent's.  :meth:`SSHAgent.connect_kwargs` therefore passes ``client_keys=[]`` and
refuses to run unless ``$HOME/.ssh`` holds no default key (the test suite's autouse
``isolated_home`` fixture gives every test an empty HOME).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from tests.harness.sshd import SSHD, _parent_death_signal

__all__ = ["DEFAULT_KEY_NAMES", "SSHAgent", "ensure_no_default_keys", "make_key"]

START_TIMEOUT = 10.0  # seconds until the agent socket must exist
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 108 bytes; keep a margin
# Files asyncssh loads when client_keys is [] or () (asyncssh.public_key._DEFAULT_KEY_FILES).
DEFAULT_KEY_NAMES = ("id_ed25519_sk", "id_ecdsa_sk", "id_ed448", "id_ed25519", "id_ecdsa", "id_rsa")

_LIVE: weakref.WeakSet[SSHAgent] = weakref.WeakSet()
_ASKPASS_SCRIPT = """#!/bin/sh
[ -e "$RTUI_TEST_ASKPASS_STATE" ] && exit 1
: > "$RTUI_TEST_ASKPASS_STATE"
printf '%s\\n' "$RTUI_TEST_ASKPASS_SECRET"
"""


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


def make_key(path: Path, passphrase: str = "", kind: str = "ed25519") -> Path:
    """Generate a key pair with ssh-keygen at ``path`` (+ ``path.pub``); return ``path``.

    ``kind``: any ``ssh-keygen -t`` type (ed25519, ecdsa, rsa).  Existing files are replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)  # ssh-keygen would ask before overwriting
    command = [_tool("ssh-keygen"), "-q", "-t", kind, "-N", passphrase, "-C", "rtui-test"]
    if kind == "rsa":
        command += ["-b", "2048"]  # the default 3072 bits is needlessly slow for tests
    result = subprocess.run(
        [*command, "-f", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ssh-keygen failed for {path}: {result.stderr.strip()}")
    return path


class SSHAgent:
    """A foreground ``ssh-agent -D -a SOCKET`` started by :meth:`start`, stopped by PID.

    ``workdir`` holds the socket (and the askpass helper for passphrase keys); a short
    private temp dir is used instead when the path would be too long for a unix socket,
    or when ``workdir`` is None.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        self._cleanup: weakref.finalize[..., object] | None = None
        if workdir is None or len(str(Path(workdir).resolve() / "agent.sock")) > MAX_SOCKET_PATH:
            workdir = Path(tempfile.mkdtemp(prefix="rtui-agent-"))
            # removed by stop(), or when this object is collected / at exit if never stopped
            self._cleanup = weakref.finalize(self, shutil.rmtree, workdir, ignore_errors=True)
        self.workdir = Path(workdir).resolve()
        self.socket = self.workdir / "agent.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def env(self) -> dict[str, str]:
        """Environment for OpenSSH tools (``ssh``, ``ssh-add``) to use this agent."""
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_AGENT_PID", "SSH_ASKPASS")}
        env["SSH_AUTH_SOCK"] = str(self.socket)
        return env

    def start(self) -> SSHAgent:
        """Start the agent; return once its socket exists.  Raises RuntimeError on failure."""
        if self.proc is not None:
            raise RuntimeError("ssh-agent already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)  # ssh-agent refuses to bind over a stale socket
        log = self.workdir / "ssh-agent.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [_tool("ssh-agent"), "-D", "-a", str(self.socket)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env(),
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        _LIVE.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            returncode = self.proc.poll()
            if returncode is not None or time.monotonic() > deadline:
                self.stop()
                said = log.read_text(errors="replace").strip() or "<nothing>"
                raise RuntimeError(f"ssh-agent did not start (status {returncode}): {said}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """SIGTERM the agent by PID (SIGKILL after 5 s) and remove its socket.  Idempotent."""
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.socket.unlink(missing_ok=True)
        if self._cleanup is not None:
            self._cleanup()  # idempotent: removes our own temp dir once

    def __enter__(self) -> SSHAgent:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add(self, key_path: Path, passphrase: str = "") -> None:
        """``ssh-add`` a private key; ``passphrase`` is fed through SSH_ASKPASS."""
        command = [_tool("ssh-add"), "-q"]
        env = self.env()
        if passphrase:
            # ssh-add asks again after a wrong passphrase until askpass fails: answer once.
            askpass = self.workdir / "askpass.sh"
            askpass.write_text(_ASKPASS_SCRIPT)
            askpass.chmod(0o700)
            state = self.workdir / "askpass.answered"
            state.unlink(missing_ok=True)
            env |= {
                "SSH_ASKPASS": str(askpass),
                "SSH_ASKPASS_REQUIRE": "force",
                "DISPLAY": env.get("DISPLAY", ":0"),
                "RTUI_TEST_ASKPASS_SECRET": passphrase,
                "RTUI_TEST_ASKPASS_STATE": str(state),
            }
        try:
            self._ssh_add([*command, str(key_path)], env)
        finally:
            (self.workdir / "askpass.answered").unlink(missing_ok=True)

    def list_keys(self) -> list[str]:
        """``ssh-add -L``: the agent's public keys as OpenSSH lines (empty if none)."""
        result = subprocess.run(
            [_tool("ssh-add"), "-L"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=30,
            check=False,
        )
        if result.returncode == 1:  # "The agent has no identities."
            return []
        if result.returncode != 0:
            raise RuntimeError(f"ssh-add -L failed: {(result.stderr or result.stdout).strip()}")
        return [line for line in result.stdout.splitlines() if line.strip()]

    def connect_kwargs(self, server: SSHD) -> dict[str, object]:
        """``asyncssh.connect`` kwargs that log in to ``server`` (an SSHD) with agent keys only.

        ``client_keys=[]`` keeps public key auth (and thus the agent) enabled; asyncssh
        then also loads ``~/.ssh/id_*``, so this raises if HOME has such a key.
        """
        ensure_no_default_keys()
        kwargs = server.connect_kwargs()
        kwargs |= {"agent_path": str(self.socket), "client_keys": []}
        return kwargs

    def _ssh_add(self, command: list[str], env: dict[str, str]) -> None:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
            start_new_session=True,  # no controlling tty: ssh-add must not prompt on it
        )
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip()
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {said}")


def ensure_no_default_keys() -> None:
    """Raise if ``~/.ssh`` (of the current $HOME) holds a key asyncssh would load by default."""
    ssh_dir = Path("~", ".ssh").expanduser()
    found = [ssh_dir / name for name in DEFAULT_KEY_NAMES if (ssh_dir / name).exists()]
    if found:
        raise RuntimeError(
            f"asyncssh with client_keys=[] would also offer {', '.join(map(str, found))}; "
            "run with an isolated HOME (tests/conftest.py's isolated_home fixture)"
        )


@atexit.register
def _stop_leftovers() -> None:
    for agent in list(_LIVE):
        with contextlib.suppress(Exception):
            agent.stop()
