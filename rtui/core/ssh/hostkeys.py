"""Host-key trust: the user's known_hosts files plus rtui's own, read with file and line.

asyncssh can read known_hosts itself, but a changed key must be reported with the file and
line to fix, and an unknown key must reach a person before any credential is sent; so the
files are read here and asyncssh gets the resulting key lists.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from rtui.core.config.ssh_aliases import host_matches
from rtui.core.errors import ConfigError, HostKeyError
from rtui.core.private import append_private
from rtui.core.safe_read import read_regular_file
from rtui.core.ssh.prompts import KnownKeyRecord

__all__ = ["MAX_KNOWN_HOSTS_BYTES", "KnownHosts", "KnownKey", "host_entry_name"]

MAX_KNOWN_HOSTS_BYTES = 64 << 20
"""A known_hosts file of 100,000 hosts is ~60 MiB hashed; a bigger one is not read."""


@dataclass(frozen=True)
class KnownKey:
    """One key line from a known_hosts file that applies to a host."""

    key: asyncssh.SSHKey
    marker: str  # "", "@cert-authority" or "@revoked"
    file: Path
    line: int

    def record(self) -> KnownKeyRecord:
        return KnownKeyRecord(
            key_type=self.key.get_algorithm(),
            fingerprint=self.key.get_fingerprint("sha256"),
            file=_display(self.file),
            line=self.line,
        )


def host_entry_name(host: str, port: int) -> str:
    """How known_hosts names a host: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """Trusted keys from ``files`` (read on every lookup, so edits apply) and ``own_file``.

    New keys are only ever written to ``own_file``; the user's files are never changed.
    """

    def __init__(self, files: Sequence[Path], own_file: Path) -> None:
        self.files = [f for f in files if f != own_file]
        self.own_file = own_file

    def lookup(self, host: str, port: int) -> list[KnownKey]:
        names = {host_entry_name(host, port)}
        found: list[KnownKey] = []
        for path in [*self.files, self.own_file]:
            found.extend(_matching_keys(path, names))
        return found

    def trusted(self, host: str, port: int) -> tuple[
        list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]
    ]:
        """``(host keys, CA keys, revoked keys)`` in the form asyncssh's ``known_hosts`` takes."""
        keys = self.lookup(host, port)
        return (
            [k.key for k in keys if not k.marker],
            [k.key for k in keys if k.marker == "@cert-authority"],
            [k.key for k in keys if k.marker == "@revoked"],
        )

    def remember(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Append ``key`` for ``host`` to rtui's own file (0600, in a 0700 directory)."""
        line = f"{host_entry_name(host, port)} {key.export_public_key().decode().strip()}\n"
        try:
            append_private(self.own_file, line.encode(), sync=True)
        except OSError as exc:
            raise ConfigError(f"cannot record the host key in {self.own_file}: "
                              f"{exc.strerror or exc}") from exc


def _matching_keys(path: Path, names: set[str]) -> Iterable[KnownKey]:
    try:
        text = read_regular_file(path, MAX_KNOWN_HOSTS_BYTES).decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
        return
    except OSError as exc:  # a FIFO, a device, a symlink loop, too big: said, never waited on
        reason = exc.strerror or str(exc)
        raise HostKeyError(f"cannot read {_display(path)}, a file of known host keys: "
                           f"{reason[:1].lower()}{reason[1:]}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        marker = ""
        if parts[0].startswith("@"):
            marker, parts = parts[0], parts[1:]
        if len(parts) < 3 or not _patterns_match(parts[0], names):
            continue
        with contextlib.suppress(asyncssh.KeyImportError, ValueError):
            key = asyncssh.import_public_key(f"{parts[1]} {parts[2]}")
            yield KnownKey(key=key, marker=marker, file=path, line=number)


def _patterns_match(field: str, names: set[str]) -> bool:
    """A hashed entry, or ``,``-separated ssh patterns compared case-insensitively."""
    if field.startswith("|1|"):
        return any(_hashed_match(field, name) for name in names)
    return host_matches(field.lower().split(","), *(name.lower() for name in names))


def _hashed_match(field: str, name: str) -> bool:
    """OpenSSH HashKnownHosts entries: ``|1|base64(salt)|base64(HMAC-SHA1(salt, name))``."""
    try:
        _, _, salt_b64, digest_b64 = field.split("|", 3)
        salt = base64.b64decode(salt_b64)
        digest = base64.b64decode(digest_b64)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


def _display(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text
