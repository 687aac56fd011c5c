"""Where a Jupyter host's token comes from: never hosts.toml.

In this order: the environment variable ``token_env``; the command ``token_command`` (run
without a shell, its first line of output); the OS keyring when ``token_keyring`` is on;
else the person is asked. The token is kept in memory for the run. Nothing here logs a token
or a command's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rtui.core.jupyter.errors import TokenUnavailable

if TYPE_CHECKING:
    from rtui.core.jupyter.settings import JupyterSettings

__all__ = [
    "COMMAND_TIMEOUT", "KEYRING_SERVICE", "NO_KEYRING", "TokenSource", "keyring_works",
    "save_token",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "rtui"
"""The keyring's service name; the username is the host's name in hosts.toml."""
COMMAND_TIMEOUT = 10.0
KEYRING_TIMEOUT = 10.0
NO_KEYRING = ("no OS keyring on this machine (no Secret Service on D-Bus): use token_env or "
              "token_command")
_TYPED = "what you typed"
_KEYRING = "the keyring"


class TokenSource:
    """One host's token, fetched once and kept for the run; ``rejected()`` after a 401/403
    drops it, so a token from the keyring or one typed is asked for again."""

    def __init__(self, host: str, settings: JupyterSettings, *,
                 ask: Callable[[str], Awaitable[str | None]] | None = None,
                 command_timeout: float = COMMAND_TIMEOUT) -> None:
        self.host = host
        self.settings = settings
        self._ask = ask
        self._command_timeout = command_timeout
        self._token: str | None = None
        self._source: str | None = None  # describe() of where the cached token came from
        self._skip_keyring = False
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """The token; TokenUnavailable names the source that gave none."""
        async with self._lock:
            if self._token is None:
                self._token, self._source = await self._fetch()
            return self._token

    def rejected(self) -> None:
        """The server refused the token: forget it. The keyring's is not read again this
        run (the person is asked instead); a variable or a command would give the same."""
        if self._source == _KEYRING:
            self._skip_keyring = True
        self._token = None

    @property
    def can_retry(self) -> bool:
        """Whether a get() after rejected() may give another token (someone to ask)."""
        return self._ask is not None and self._source in (_KEYRING, _TYPED)

    def describe(self) -> str:
        """Where the token comes from, for messages: "$LAB_TOKEN", "the command 'pass show
        x'", "the keyring", "what you typed"."""
        if self._source is not None:
            return self._source
        settings = self.settings
        if settings.token_env:
            return f"${settings.token_env}"
        if settings.token_command:
            return f"the command '{settings.token_command}'"
        if settings.token_keyring and not self._skip_keyring:
            return _KEYRING
        return _TYPED

    async def _fetch(self) -> tuple[str, str]:
        settings = self.settings
        if settings.token_env:
            value = os.environ.get(settings.token_env, "").strip()
            if not value:
                raise TokenUnavailable(f"{self.host}: the token comes from ${settings.token_env}"
                                       f", which is not set (or empty) here")
            return value, f"${settings.token_env}"
        if settings.token_command:
            return (await self._run_command(settings.token_command),
                    f"the command '{settings.token_command}'")
        keyring_failure = None
        if settings.token_keyring and not self._skip_keyring:
            try:
                stored = await _keyring_get(self.host)
            except TokenUnavailable as exc:
                keyring_failure = exc
                log.warning("%s: the keyring gave no token: %s", self.host, exc)
            else:
                if stored:
                    return stored, _KEYRING
        if self._ask is None:
            if keyring_failure is not None:
                raise TokenUnavailable(f"{self.host}: {keyring_failure}")
            raise TokenUnavailable(
                f"{self.host} needs a token and nobody can be asked here: set token_env, "
                f"token_command or token_keyring = true in its [hosts.jupyter] table"
                if not settings.token_keyring else
                f"{self.host}: the keyring holds no token for it (service '{KEYRING_SERVICE}',"
                f" user '{self.host}') and nobody can be asked here")
        typed = await self._ask(f"Token for {settings.url}")
        if not typed or not typed.strip():
            raise TokenUnavailable(f"{self.host}: no token given")
        return typed.strip(), _TYPED

    async def _run_command(self, command: str) -> str:
        """The first line the command prints; its output is never logged. A failure names
        the exit code and the last line of stderr."""
        words = shlex.split(command)
        what = f"{self.host}: the token command '{command}'"
        try:
            process = await asyncio.create_subprocess_exec(
                *words, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise TokenUnavailable(f"{what} cannot run: {exc.strerror or exc}") from None
        try:
            async with asyncio.timeout(self._command_timeout):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise TokenUnavailable(f"{what} gave no token within {self._command_timeout:g} s"
                                   ) from None
        if process.returncode != 0:
            lines = stderr.decode(errors="replace").strip().splitlines()
            tail = f": {lines[-1].strip()[:200]}" if lines else ""
            raise TokenUnavailable(f"{what} failed (exit {process.returncode}){tail}")
        first = stdout.decode(errors="replace").strip().splitlines()
        if not first or not first[0].strip():
            raise TokenUnavailable(f"{what} printed nothing")
        return first[0].strip()


async def _keyring_get(host: str) -> str | None:
    """The stored token, read off the event loop (keyring's import scans package metadata,
    and a Secret Service call may wait on D-Bus) and bounded."""
    try:
        async with asyncio.timeout(KEYRING_TIMEOUT):
            return await asyncio.to_thread(_keyring_call, "get", host, None)
    except TimeoutError:
        raise TokenUnavailable(f"the keyring did not answer within {KEYRING_TIMEOUT:g} s"
                               ) from None


def _keyring_call(action: str, host: str, token: str | None) -> str | None:
    """keyring's get or set, its failures as TokenUnavailable (imported here: optional)."""
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise TokenUnavailable("the keyring package is not installed (pip install "
                               "'rtui[keyring]'): use token_env or token_command") from None
    try:
        if action == "get":
            return keyring.get_password(KEYRING_SERVICE, host)
        keyring.set_password(KEYRING_SERVICE, host, token or "")
        return None
    except keyring.errors.NoKeyringError:
        raise TokenUnavailable(NO_KEYRING) from None
    except keyring.errors.KeyringError as exc:
        raise TokenUnavailable(f"the keyring failed ({type(exc).__name__}: {exc})") from None


def keyring_works() -> bool:
    """Whether an OS keyring can store a token here (blocking: call it off the loop)."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken backend config: no keyring to offer
        return False
    if isinstance(backend, fail.Keyring):
        return False
    return not (isinstance(backend, chainer.ChainerBackend) and not backend.backends)


def save_token(host: str, token: str) -> None:
    """Store ``host``'s token in the keyring (service "rtui", user = host); TokenUnavailable
    with a sentence when there is none (blocking: call it off the loop)."""
    _keyring_call("set", host, token)
