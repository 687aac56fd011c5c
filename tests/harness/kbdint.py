"""An in-process asyncssh server that only allows keyboard-interactive auth (password + OTP).

OpenSSH's own keyboard-interactive auth needs PAM, which the ``sshd`` harness does not
use; this server scripts the challenges instead::

    server = await start_kbdint_server(
        tmp_path, username="root",
        answers=[("Password: ", False, "pw"), ("Verification code: ", True, "123456")],
    )
    try:
        client = KbdIntAnswerer({"Password: ": "pw", "Verification code: ": "123456"})
        async with asyncssh.connect(**server.connect_kwargs(), client_factory=lambda: client):
            ...
    finally:
        await server.close()

The first answer is asked as one challenge, all remaining ones together as a second
challenge (like ``sshd`` + PAM with a password and a TOTP module).  Exec requests run
the command locally with ``/bin/sh -c`` (stdin empty) and return its output and exit
status; shells and subsystems are refused.

After ``max_auth_tries`` rejected responses on one connection the server disconnects
(``DISC_NO_MORE_AUTH_METHODS_AVAILABLE``, which asyncssh clients raise as
``PermissionDenied``) -- like OpenSSH's MaxAuthTries.  Without that an asyncssh client
re-answers a failed keyboard-interactive challenge forever: asyncssh's server has no
MaxAuthTries and its client retries keyboard-interactive as long as the client object
returns responses.

It runs on the event loop that calls ``start_kbdint_server``: use it from async tests.
Listening, tracking connections and closing them are the demo server's scaffolding
(:mod:`rtui.demo.scaffold`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from rtui.demo.scaffold import LOOPBACK, LoopbackListener, TrackedServer

__all__ = ["KbdIntAnswerer", "KbdIntServer", "start_kbdint_server"]

DEFAULT_INSTRUCTIONS = "rtui test server: password and verification code required."
COMMAND_TIMEOUT = 30.0  # seconds a remote command may run before it is killed
MAX_AUTH_TRIES = 3  # rejected responses per connection before the server disconnects

Prompts = Sequence[tuple[str, bool]]
Challenge = tuple[str, str, str, Prompts]  # (name, instructions, lang, prompts)


@dataclass(eq=False)
class KbdIntServer:
    """A running keyboard-interactive-only SSH server; build it with :func:`start_kbdint_server`.

    Counters: ``attempts`` = challenge responses received (each challenge answered counts
    one), ``failures`` = responses rejected, ``logins`` = successful authentications.
    ``commands`` lists the exec commands run, in order.
    """

    workdir: Path
    port: int
    username: str
    answers: list[tuple[str, bool, str]]
    instructions: str
    max_auth_tries: int
    host_key: asyncssh.SSHKey
    host_key_path: Path  # private key (OpenSSH format)
    host_key_pub: Path  # public key file, "ssh-ed25519 AAAA... comment"
    known_hosts: Path  # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    host: str = LOOPBACK
    attempts: int = 0
    failures: int = 0
    logins: int = 0
    commands: list[str] = field(default_factory=list)
    listener: LoopbackListener | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` of the host key, as OpenSSH prints it."""
        return self.host_key.get_fingerprint()

    def known_hosts_line(self) -> str:
        assert self.listener is not None
        return self.listener.known_hosts_line()

    def challenges(self) -> list[Prompts]:
        """The prompts of each challenge, in the order they are sent."""
        prompts = [(prompt, echo) for prompt, echo, _answer in self.answers]
        return [prompts[:1], prompts[1:]] if len(prompts) > 1 else [prompts]

    def expected(self) -> list[list[str]]:
        """The accepted responses for each challenge (same shape as :meth:`challenges`)."""
        answers = [answer for _prompt, _echo, answer in self.answers]
        return [answers[:1], answers[1:]] if len(answers) > 1 else [answers]

    def connect_kwargs(self) -> dict[str, object]:
        """Hermetic ``asyncssh.connect`` kwargs (no ~/.ssh, no agent, no keys, no password).

        Add ``client_factory`` returning a client that answers the prompts (e.g.
        :class:`KbdIntAnswerer`); ``password=`` alone cannot pass the second challenge.
        """
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "known_hosts": str(self.known_hosts),
            "config": None,
            "agent_path": None,
            "client_keys": None,
            "password_auth": False,
            "gss_auth": False,
            "host_based_auth": False,
            "x509_trusted_certs": None,
            "x509_trusted_cert_paths": None,
        }

    async def close(self) -> None:
        """Stop listening and close every open connection.  Idempotent."""
        if self.listener is not None:
            await self.listener.close(timeout=5)


class _KbdIntSSHServer(TrackedServer):
    """Per-connection auth policy: keyboard-interactive only, one challenge per stage."""

    def __init__(self, listener: LoopbackListener, state: KbdIntServer) -> None:
        super().__init__(listener)
        self._state = state
        self._stage = 0
        self._rejected = 0

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> Challenge:
        self._stage = 0
        return self._challenge(0)

    def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> Challenge | bool:
        state = self._state
        state.attempts += 1
        expected = state.expected()
        if username != state.username or list(responses) != expected[self._stage]:
            state.failures += 1
            self._stage = 0
            self._rejected += 1
            if self._rejected >= state.max_auth_tries and self.conn is not None:
                self.conn.disconnect(
                    asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                    "Too many authentication failures",
                )
            return False
        self._stage += 1
        if self._stage < len(expected):
            return self._challenge(self._stage)
        state.logins += 1
        return True

    def _challenge(self, stage: int) -> Challenge:
        instructions = self._state.instructions if stage == 0 else ""
        return ("", instructions, "", self._state.challenges()[stage])


class KbdIntAnswerer(asyncssh.SSHClient):
    """An asyncssh client answering keyboard-interactive prompts from a mapping.

    ``answers`` maps the exact prompt text to the response; an unknown prompt, or more
    than ``max_challenges`` challenges, aborts keyboard-interactive auth (asyncssh then
    reports PermissionDenied unless another method works).  ``challenges`` records every
    challenge received as ``(name, instructions, [(prompt, echo), ...])``.
    """

    def __init__(self, answers: Mapping[str, str], *, max_challenges: int = 10) -> None:
        self.answers = dict(answers)
        self.max_challenges = max_challenges
        self.challenges: list[tuple[str, str, list[tuple[str, bool]]]] = []

    def kbdint_auth_requested(self) -> str:
        return ""  # take part in keyboard-interactive auth, no submethods

    def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        self.challenges.append((name, instructions, list(prompts)))
        if len(self.challenges) > self.max_challenges:
            return None  # asyncssh retries a failed challenge for as long as we answer
        try:
            return [self.answers[prompt] for prompt, _echo in prompts]
        except KeyError:
            return None


async def _run_command(state: KbdIntServer, process: asyncssh.SSHServerProcess[bytes]) -> None:
    command = process.command
    if command is None:
        process.stderr.write(b"this test server only runs commands (no shell, no subsystem)\n")
        process.exit(1)
        return
    state.commands.append(command)
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=state.workdir,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    process.stdout.write(stdout)
    process.stderr.write(stderr)
    process.exit(proc.returncode if proc.returncode is not None else 255)


def _write_host_key(workdir: Path) -> tuple[Path, asyncssh.SSHKey, Path, Path]:
    """Generate an ed25519 host key; write it (0600) and its .pub into ``workdir``."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519", comment="rtui-test-kbdint-host")
    host_key_path = workdir / "kbdint_host_key"
    host_key_pub = workdir / "kbdint_host_key.pub"
    host_key.write_private_key(str(host_key_path))
    host_key_path.chmod(0o600)
    host_key.write_public_key(str(host_key_pub))
    return workdir, host_key, host_key_path, host_key_pub


async def start_kbdint_server(
    workdir: Path,
    *,
    username: str,
    answers: list[tuple[str, bool, str]],
    instructions: str = DEFAULT_INSTRUCTIONS,
    max_auth_tries: int = MAX_AUTH_TRIES,
) -> KbdIntServer:
    """Generate a host key in ``workdir`` and start a keyboard-interactive-only SSH server.

    ``answers``: ``(prompt, echo, expected answer)``; the first is asked alone, the rest
    together in a second challenge.  Only ``username`` can log in.  ``max_auth_tries``:
    rejected responses per connection before disconnecting.  Files written:
    ``kbdint_host_key`` (+ ``.pub``) and ``known_hosts`` for ``[127.0.0.1]:PORT``.
    """
    if not answers:
        raise ValueError("answers must contain at least one prompt")
    workdir, host_key, host_key_path, host_key_pub = _write_host_key(Path(workdir))
    state = KbdIntServer(
        workdir=workdir,
        port=0,
        username=username,
        answers=list(answers),
        instructions=instructions,
        max_auth_tries=max_auth_tries,
        host_key=host_key,
        host_key_path=host_key_path,
        host_key_pub=host_key_pub,
        known_hosts=workdir / "known_hosts",
    )

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        await _run_command(state, process)

    listener = state.listener = LoopbackListener(host_key)
    state.port = await listener.listen(
        lambda: _KbdIntSSHServer(listener, state),
        process_factory=handle,
        encoding=None,  # byte-exact stdout/stderr
        allow_pty=False,
        agent_forwarding=False,
        x11_forwarding=False,
        gss_host=None,
        password_auth=False,
        public_key_auth=False,
        host_based_auth=False,
        kbdint_auth=True,
        login_timeout=30,
    )
    state.known_hosts.write_text(state.known_hosts_line() + "\n")
    return state
