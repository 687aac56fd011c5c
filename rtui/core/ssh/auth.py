"""Authentication for one hop: keys (with passphrase prompts), agent, password, 2FA prompts.

Every question goes through the :class:`Prompter`. Each is asked at most once per attempt, so
a wrong secret ends in one clear error instead of a retry loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from rtui.core.ssh.greeting import GreetingWatch
from rtui.core.ssh.prompts import KbdIntPrompt, Prompter, SecretPrompt
from rtui.core.ssh.route import Endpoint

__all__ = ["HopClient", "Secrets", "load_identities", "offered_agent_keys"]

_DEFAULT_IDENTITIES = (
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_rsa",
)

#: Secrets typed during this connection's life, so a reconnect does not ask again.
Secrets = dict[tuple[str, str], str]


def load_identities(hop: Endpoint) -> tuple[list[asyncssh.SSHKey], list[Path], list[str]]:
    """``(ready keys, encrypted key files, notes)`` for the hop's identity files.

    Encrypted keys are not decrypted here: their passphrase is asked only if the server gets
    as far as wanting them.
    """
    names = hop.identity_files or _DEFAULT_IDENTITIES
    ready: list[asyncssh.SSHKey] = []
    encrypted: list[Path] = []
    notes: list[str] = []
    for name in names:
        path = Path(name).expanduser()
        if not path.is_file():
            if hop.identity_files:
                notes.append(f"identity file {name} does not exist")
            continue
        try:
            ready.append(asyncssh.read_private_key(path))
        except asyncssh.KeyEncryptionError:
            encrypted.append(path)
        except asyncssh.KeyImportError as exc:
            # asyncssh says an encrypted key needs a passphrase with a KeyImportError.
            if "passphrase" in str(exc).lower():
                encrypted.append(path)
            else:
                notes.append(f"cannot use identity file {name}: {exc}")
        except OSError as exc:
            notes.append(f"cannot read identity file {name}: {exc.strerror or exc}")
    return ready, encrypted, notes


def offered_agent_keys(
    hop: Endpoint, ready: list[asyncssh.SSHKey]
) -> list[asyncssh.SSHKey] | None:
    """The agent keys that may be offered: None for all of them; with IdentitiesOnly, only
    those among the hop's identity files (the ready keys, and the ``.pub`` beside an
    encrypted one), as ssh does."""
    if not hop.identities_only:
        return None
    keys = list(ready)
    for name in hop.identity_files or _DEFAULT_IDENTITIES:
        public = Path(f"{Path(name).expanduser()}.pub")
        with contextlib.suppress(OSError, asyncssh.KeyImportError):
            keys.append(asyncssh.read_public_key(public))
    return keys


class HopClient(asyncssh.SSHClient):
    """asyncssh's client callbacks for one connection attempt to one hop."""

    def __init__(
        self,
        hop: Endpoint,
        prompter: Prompter,
        secrets: Secrets,
        encrypted_keys: list[Path],
        pause: Callable[[], contextlib.AbstractAsyncContextManager[None]],
    ) -> None:
        self.hop = hop
        self.prompter = prompter
        self.secrets = secrets
        self.pause = pause
        self.encrypted_keys = list(encrypted_keys)
        self.presented_key: asyncssh.SSHKey | None = None
        self.tried: list[str] = []
        self.notes: list[str] = []
        self.cancelled = False
        self.lost_reason: str | None = None
        self.greeting = GreetingWatch(f"{hop.hostname}:{hop.port}")
        self._password_asked = False
        self._pending: dict[tuple[str, str], str] = {}
        self._challenges: set[tuple[str, ...]] = set()

    def _tried(self, method: str) -> None:
        if method not in self.tried:
            self.tried.append(method)

    # -- host key ----------------------------------------------------------------------------

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Called only for keys not already trusted: keep it for the caller, refuse for now."""
        self.presented_key = key
        return False

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.greeting.install(conn)  # before any byte of the server's is read

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_reason = str(exc) if exc else None

    def auth_completed(self) -> None:
        self.secrets.update(self._pending)

    # -- public keys -------------------------------------------------------------------------

    def public_key_auth_requested(self) -> Any:
        # Only reached once the agent's and the unencrypted keys are used up.
        self._tried("publickey")
        return self._next_encrypted_key()

    async def _next_encrypted_key(self) -> list[asyncssh.SSHKey] | None:
        while self.encrypted_keys:
            path = self.encrypted_keys.pop(0)
            slot = ("passphrase", str(path))
            passphrase = self.secrets.get(slot)
            if passphrase is None:
                async with self.pause():
                    passphrase = await self.prompter.ask_secret(
                        SecretPrompt("passphrase", str(path), f"Passphrase for {path}: ")
                    )
            if passphrase is None:
                self.notes.append(f"no passphrase given for {path}")
                continue
            try:
                key = asyncssh.read_private_key(path, passphrase)
            except (asyncssh.KeyEncryptionError, asyncssh.KeyImportError) as exc:
                self.secrets.pop(slot, None)
                wrong = "incorrect passphrase" in str(exc).lower()
                self.notes.append(
                    f"wrong passphrase for {path}" if wrong else f"cannot decrypt {path}: {exc}")
                continue
            self.secrets[slot] = passphrase
            return [key]
        return None

    # -- password ----------------------------------------------------------------------------

    def password_auth_requested(self) -> Any:
        self._tried("password")
        return self._password()

    async def _password(self) -> str | None:
        if self._password_asked:
            return None  # asked already and refused: no retry loop
        self._password_asked = True
        slot = ("password", self.hop.display)
        cached = self.secrets.get(slot)
        if cached is not None:
            return cached
        async with self.pause():
            answer = await self.prompter.ask_secret(
                SecretPrompt("password", self.hop.display, f"Password for {self.hop.display}: ")
            )
        if answer is None:
            self.cancelled = True
            return None
        self._pending[slot] = answer
        return answer

    # -- keyboard-interactive (2FA) ----------------------------------------------------------

    def kbdint_auth_requested(self) -> str:
        self._tried("keyboard-interactive")
        return ""

    def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Any
    ) -> Any:
        return self._challenge(name, instructions, list(prompts))

    async def _challenge(
        self, name: str, instructions: str, prompts: list[tuple[str, bool]]
    ) -> list[str] | None:
        if not prompts:
            return []  # an information-only round
        key = tuple(text for text, _ in prompts)
        if key in self._challenges:
            self.notes.append("the server asked again after a wrong answer")
            return None
        self._challenges.add(key)
        async with self.pause():
            answers = await self.prompter.ask_kbdint(
                KbdIntPrompt(self.hop.display, name, instructions, tuple(prompts))
            )
        if answers is None:
            self.cancelled = True
        return answers
