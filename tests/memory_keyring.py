"""An in-memory keyring backend for tests.

``PYTHON_KEYRING_BACKEND=tests.memory_keyring.MemoryKeyring`` selects it.

This machine has no OS keyring (no Secret Service on D-Bus: keyring's backend is
``fail.Keyring``), and a test must never touch a developer's real one. keyring loads the class
named in the environment variable, in rtui's own process and in CLI subprocesses alike (those
need ``tests`` importable: run them from the repository's root, as ``run_rtui`` does).

Passwords live in the class, for the process. A CLI test that stores in one process and
reads in another sets ``RTUI_TEST_KEYRING_FILE`` to a path: the backend then also keeps them
there (a 0600 JSON file, read on every call). :func:`clear` empties both.
``PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring`` is the "no keyring" case.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

__all__ = ["FILE_ENV", "MemoryKeyring", "clear"]

FILE_ENV = "RTUI_TEST_KEYRING_FILE"
_passwords: dict[str, dict[str, str]] = {}  # service -> username -> password


def _file() -> Path | None:
    path = os.environ.get(FILE_ENV)
    return Path(path) if path else None


def _load() -> dict[str, dict[str, str]]:
    path = _file()
    if path is not None and path.exists():
        loaded: dict[str, dict[str, str]] = json.loads(path.read_text())
        _passwords.clear()
        _passwords.update(loaded)
    return _passwords


def _save() -> None:
    path = _file()
    if path is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(_passwords, handle)


def clear() -> None:
    """Forget every password (this process's and the file's)."""
    _passwords.clear()
    _save()


class MemoryKeyring(KeyringBackend):
    """keyring's backend API over a dict (and the optional file)."""

    priority = 1  # a plain number: keyring allows it (a classproperty in the base)

    def get_password(self, service: str, username: str) -> str | None:
        return _load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        _load().setdefault(service, {})[username] = password
        _save()

    def delete_password(self, service: str, username: str) -> None:
        users = _load().get(service, {})
        if username not in users:
            raise PasswordDeleteError(f"no password for {username!r} in {service!r}")
        del users[username]
        _save()
