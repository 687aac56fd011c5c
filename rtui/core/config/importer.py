"""Turn OpenSSH config aliases into rtui hosts and merge them without duplicating anything.

The aliases come resolved by asyncssh (``rtui.core.ssh.ssh_config.resolved_aliases``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rtui.core.config.model import Config, Host, host_from_data
from rtui.core.errors import ConfigError

__all__ = ["ImportResult", "ImportedAlias", "merge_imported"]

#: The fields an ssh config defines; the rest (tags, note, python, ...) are rtui's own.
_SSH_FIELDS = ("hostname", "port", "user", "identity_files", "jump")


@dataclass(frozen=True)
class ImportedAlias:
    """An ssh config alias with what ssh would use for it; unset values are None or empty."""

    alias: str
    hostname: str | None
    port: int | None
    user: str | None
    identity_files: tuple[str, ...]
    proxy_jump: tuple[str, ...]
    source: Path  # the Host line first naming it
    line: int


@dataclass
class ImportResult:
    """What an import did, name by name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)  # differ from ssh config, kept (no --update)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (alias, why)

    def summary(self) -> str:
        parts = [
            f"added {len(self.added)}",
            f"updated {len(self.updated)}",
            f"unchanged {len(self.unchanged)}",
        ]
        if self.differ:
            parts.append(
                f"{len(self.differ)} differ and were kept ({', '.join(self.differ)}; "
                "use --update to take the ssh config's values)"
            )
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)}")
        return ", ".join(parts)


def _host_from_entry(entry: ImportedAlias) -> Host:
    data: dict[str, object] = {"name": entry.alias}
    if entry.hostname and entry.hostname != entry.alias:
        data["hostname"] = entry.hostname
    if entry.port is not None:
        data["port"] = entry.port
    if entry.user:
        data["user"] = entry.user
    if entry.identity_files:
        data["identity_files"] = list(entry.identity_files)
    if entry.proxy_jump:
        data["jump"] = list(entry.proxy_jump)
    return host_from_data(data)


def merge_imported(
    config: Config, entries: Iterable[ImportedAlias], *, update: bool
) -> tuple[Config, ImportResult]:
    """Add each alias not yet known; refresh known ones only when ``update`` is set."""
    result = ImportResult()
    for entry in entries:
        try:
            imported = _host_from_entry(entry)
        except ConfigError as exc:
            reason = str(exc).replace("\n", "; ")
            result.skipped.append((entry.alias, f"{entry.source} line {entry.line}: {reason}"))
            continue
        existing = config.get(imported.name)
        if existing is None:
            config = config.with_host(imported)
            result.added.append(imported.name)
            continue
        refreshed = dataclasses.replace(
            existing, **{f: getattr(imported, f) for f in _SSH_FIELDS}
        )
        if refreshed == existing:
            result.unchanged.append(imported.name)
        elif update:
            config = config.with_host(refreshed)
            result.updated.append(imported.name)
        else:
            result.differ.append(imported.name)
    return config, result
