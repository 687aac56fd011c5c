"""What a listing holds (one ``Entry`` per name) and the view's filter and sort over it.

The same rows come from the agent's ``fs_list`` and from SFTP: ``Entry.from_row`` reads the
agent's compact ``[name, kind, size, mtime, mode, target, target_kind]`` row.
"""

from __future__ import annotations

import stat as statmod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

__all__ = ["DiskUsage", "Entry", "SortKey", "filter_entries", "kind_of_mode", "sort_entries",
           "special_kind"]

FILE, DIR, LINK, OTHER = "file", "dir", "link", "other"


def special_kind(mode: int) -> str | None:
    """What a special file is (``FIFO``, ``socket``, ``character device``, ``block
    device``); None for a file, folder or link. Copies refuse them: a FIFO with no writer
    blocks whoever opens it, OpenSSH's one-threaded sftp-server included."""
    if statmod.S_ISFIFO(mode):
        return "FIFO"
    if statmod.S_ISSOCK(mode):
        return "socket"
    if statmod.S_ISCHR(mode):
        return "character device"
    if statmod.S_ISBLK(mode):
        return "block device"
    return None


def kind_of_mode(mode: int) -> str:
    """``file``, ``dir``, ``link`` or ``other`` for an ``st_mode``."""
    if statmod.S_ISLNK(mode):
        return LINK
    if statmod.S_ISDIR(mode):
        return DIR
    if statmod.S_ISREG(mode):
        return FILE
    return OTHER


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a directory, as ``lstat`` sees it. For a link, ``target`` is what it
    says and ``target_kind`` what it leads to (None: dangling, a loop, or unreadable)."""

    name: str
    kind: str
    size: int
    mtime: float
    mode: int
    target: str | None = None
    target_kind: str | None = None

    @property
    def hidden(self) -> bool:
        return self.name.startswith(".")

    @property
    def is_dir(self) -> bool:
        """A directory, or a link to one: something to open rather than to preview."""
        return self.kind == DIR or (self.kind == LINK and self.target_kind == DIR)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Entry:
        """An entry from the agent's row ``[name, kind, size, mtime, mode, target,
        target_kind]`` (the last two may be missing or null).

        A big listing makes 100,000 of these. When the row's types are already right (the
        agent's are), the fields are set straight into the slots: the frozen dataclass's
        ``__init__`` (one ``object.__setattr__`` call per field) and the conversions cost
        most of the time otherwise."""
        if len(row) == 7:
            name, kind, size, mtime, mode, target, target_kind = row
            if ((type(name), type(kind), type(size), type(mtime), type(mode)) == _ROW_TYPES
                    and type(target) in _TEXT_OR_NONE and type(target_kind) in _TEXT_OR_NONE):
                entry = _new(cls)
                _set_name(entry, name)
                _set_kind(entry, kind)
                _set_size(entry, size)
                _set_mtime(entry, mtime)
                _set_mode(entry, mode)
                _set_target(entry, target)
                _set_target_kind(entry, target_kind)
                return entry
        name, kind, size, mtime, mode = row[:5]
        target = row[5] if len(row) > 5 else None
        target_kind = row[6] if len(row) > 6 else None
        return cls(str(name), str(kind), int(size), float(mtime), int(mode),
                   None if target is None else str(target),
                   None if target_kind is None else str(target_kind))

    def to_row(self) -> list[Any]:
        return [self.name, self.kind, self.size, self.mtime, self.mode, self.target,
                self.target_kind]


_ROW_TYPES = (str, str, int, float, int)
_TEXT_OR_NONE = (str, type(None))
_new = object.__new__
# The slots' own setters (a frozen dataclass refuses plain assignment, not these).
(_set_name, _set_kind, _set_size, _set_mtime, _set_mode, _set_target,
 _set_target_kind) = (getattr(Entry, f.name).__set__ for f in fields(Entry))


class SortKey(Enum):
    NAME = "name"
    SIZE = "size"
    TIME = "time"

    def next(self) -> SortKey:
        """The key after this one, round: name → size → time → name."""
        order = list(SortKey)
        return order[(order.index(self) + 1) % len(order)]


def sort_entries(entries: Iterable[Entry], key: SortKey = SortKey.NAME,
                 reverse: bool = False) -> list[Entry]:
    """Directories first, then files; by name (case-insensitive), size or mtime (newest
    first when by time, largest first when by size), ``reverse`` flipping that order."""
    if key is SortKey.NAME:
        def order(e: Entry) -> Any:
            return e.name.casefold(), e.name
    elif key is SortKey.SIZE:
        def order(e: Entry) -> Any:
            return -e.size, e.name.casefold()
    else:
        def order(e: Entry) -> Any:
            return -e.mtime, e.name.casefold()
    ranked = sorted(entries, key=order, reverse=reverse)
    return [e for e in ranked if e.is_dir] + [e for e in ranked if not e.is_dir]


def filter_entries(entries: Iterable[Entry], text: str = "",
                   show_hidden: bool = False) -> list[Entry]:
    """The entries whose name holds ``text`` (case-insensitive; all of them when empty),
    hidden ones only with ``show_hidden``."""
    needle = text.casefold()
    return [e for e in entries
            if (show_hidden or not e.hidden) and (not needle or needle in e.name.casefold())]


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """What a delete would remove: counts and bytes on disk; ``complete`` False when the
    count stopped at its time bound (then these are lower bounds: "at least")."""

    files: int
    dirs: int
    bytes: int
    complete: bool = True
