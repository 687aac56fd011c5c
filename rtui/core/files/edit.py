"""Editing a remote file in a local editor: a private temporary copy, uploaded on each save,
never over a change made on the host meanwhile.

The copy lives in a 0700 directory under rtui's runtime dir (``edit/<random>/NAME``, so the
editor sees the file's own name and picks its syntax). What the host held when it was
fetched (or last uploaded) is remembered as size, mtime and sha256: a save finds the host's
file changed when its size or mtime differ, or, as SFTP mtimes are whole seconds, when
they match and the host's checksum does not. A change found is not overwritten: the save
returns a :class:`Conflict`, which the UI puts to the person (:class:`Resolution`:
overwrite, keep both as ``NAME (rtui HHMMSS).EXT`` beside it, or cancel).

No Textual here: the TUI runs the editor and shows the decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from rtui.core import locations
from rtui.core.errors import (
    ChangedDuringTransferError,
    FilesError,
    RemoteNotFoundError,
    RtuiError,
)
from rtui.core.files.model import Entry
from rtui.core.files.paths import printable, remote_join

__all__ = [
    "EDIT_LIMIT",
    "Conflict",
    "EditSession",
    "EditableFiles",
    "Resolution",
    "Stamp",
    "SyncResult",
    "Unchanged",
    "Uploaded",
    "keep_both_name",
]

EDIT_LIMIT = 32 * 1024 * 1024
"""The largest file edited this way: a save is uploaded whole (temp name, then rename)."""

_CHUNK = 256 * 1024


class EditableFiles(Protocol):
    """What an edit needs of a host's files service (``HostFiles``)."""

    name: str

    async def stat(self, path: str) -> Entry: ...
    async def exists(self, path: str) -> bool: ...
    async def checksum(self, path: str) -> str: ...
    def read_chunks(self, path: str, *, chunk: int = ...) -> AsyncIterator[bytes]: ...
    async def write_small(self, path: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class Stamp:
    """A version of the remote file: its size, mtime and content's sha256."""

    size: int
    mtime: float
    sha256: str


@dataclass(frozen=True)
class Unchanged:
    """Nothing to upload: the local copy holds what the host has from us."""


@dataclass(frozen=True)
class Uploaded:
    """The local copy is now on the host at ``path``."""

    path: str


@dataclass(frozen=True)
class Conflict:
    """The host's file changed since it was fetched (or last uploaded): nothing was
    written. ``keep_both`` is where "keep both" would put the local copy."""

    path: str
    keep_both: str
    reason: str


SyncResult = Unchanged | Uploaded | Conflict


class Resolution(Enum):
    """What the person chose for a :class:`Conflict`."""

    OVERWRITE = "overwrite"
    KEEP_BOTH = "keep_both"
    CANCEL = "cancel"


def keep_both_name(path: str, when: time.struct_time | None = None) -> str:
    """``dir/name (rtui HHMMSS).ext``: where the local copy goes beside a changed file."""
    folder, base = posixpath.split(path)
    stem, ext = posixpath.splitext(base)
    stamp = time.strftime("%H%M%S", when or time.localtime())
    return remote_join(folder, f"{stem} (rtui {stamp}){ext}")


@dataclass(frozen=True)
class _LocalState:
    key: tuple[int, int, int]  # mtime_ns, size, inode: what a save changes
    sha256: str


def _local_state(path: Path) -> _LocalState:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        while block := f.read(1024 * 1024):
            digest.update(block)
    return _LocalState((info.st_mtime_ns, info.st_size, info.st_ino), digest.hexdigest())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:  # mid-save by rename: looked at again at the next poll
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


class EditSession:
    """One remote file being edited here: :meth:`fetch`, then :meth:`sync` after each save
    (or :meth:`watch` to poll for saves), :meth:`resolve` a conflict, :meth:`close`."""

    def __init__(self, files: EditableFiles, path: str, *, root: Path | None = None) -> None:
        self.files = files
        self.path = path  # where saves go (another name after "keep both")
        self._root = root
        self._dir: Path | None = None
        self.local: Path | None = None
        self._stamp: Stamp | None = None  # the host's file as we last saw it
        self._seen: tuple[int, int, int] | None = None  # the local file as last synced
        self._sent: str | None = None  # sha256 of what the host has from us
        self.conflict: Conflict | None = None  # found, not resolved yet
        self.error: RtuiError | None = None  # the last failure of a watched save

    @property
    def where(self) -> str:
        return f"{self.files.name}:{printable(self.path)}"

    async def fetch(self) -> Path:
        """Copy the host's file into a new private directory; the local path."""
        entry = await self.files.stat(self.path)
        if entry.is_dir:
            raise FilesError(f"{self.where} is a directory: only files can be edited")
        if entry.size > EDIT_LIMIT:
            raise FilesError(f"{self.where} is {entry.size // (1024 * 1024)} MiB: too big to "
                             f"edit here (at most {EDIT_LIMIT // (1024 * 1024)} MiB); "
                             "download it instead")
        parent = locations.private_dir(self._root or locations.private_dir(
            locations.runtime_dir() / "edit"))
        self._dir = Path(tempfile.mkdtemp(dir=parent))  # 0700, ours
        self.local = self._dir / (posixpath.basename(self.path.rstrip("/")) or "file")
        for _ in range(3):  # a file that changes while it is read is read again
            digest = await self._download(self.local)
            after = await self.files.stat(self.path)
            if (after.size, after.mtime) == (entry.size, entry.mtime):
                break
            entry = after
        else:
            raise ChangedDuringTransferError(f"{self.where} kept changing while it was read")
        self._stamp = Stamp(entry.size, entry.mtime, digest)
        self._sent = digest
        self._seen = _stat_key(self.local)
        return self.local

    async def _download(self, target: Path) -> str:
        digest = hashlib.sha256()
        fd = await asyncio.to_thread(
            os.open, target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            async for chunk in self.files.read_chunks(self.path, chunk=_CHUNK):
                digest.update(chunk)
                await asyncio.to_thread(_write_all, fd, chunk)
        finally:
            os.close(fd)
        return digest.hexdigest()

    def saved(self) -> bool:
        """Whether the local copy changed on disk since it was last synced."""
        return self.local is not None and _stat_key(self.local) not in (None, self._seen)

    async def sync(self) -> SyncResult:
        """Upload the local copy when it holds something new; a :class:`Conflict` (and no
        write) when the host's file changed meanwhile, until :meth:`resolve` says what to do."""
        local = self._require_local()
        try:
            state = await asyncio.to_thread(_local_state, local)
        except OSError as exc:  # an editor that saves by delete and create, caught between
            raise FilesError(f"cannot read the local copy {printable(str(local))}: "
                             f"{exc.strerror}") from exc
        self._seen = state.key
        if state.sha256 == self._sent:
            return Unchanged()
        if self.conflict is not None:
            return self.conflict
        reason = await self._changed_on_host()
        if reason is not None:
            self.conflict = Conflict(self.path, await self._free_keep_both_name(), reason)
            return self.conflict
        await self._upload(local, self.path)
        return Uploaded(self.path)

    async def resolve(self, conflict: Conflict, choice: Resolution) -> SyncResult:
        """Do what the person chose: overwrite the host's file, keep both (later saves go to
        the new name), or upload nothing."""
        self.conflict = None
        if choice is Resolution.CANCEL:
            return Unchanged()
        local = self._require_local()
        target = conflict.path if choice is Resolution.OVERWRITE else conflict.keep_both
        await self._upload(local, target)
        self.path = target
        return Uploaded(target)

    async def watch(self, on_result: Callable[[SyncResult], None], *, stop: asyncio.Event,
                    interval: float = 0.5) -> None:
        """Sync after each save (polled every ``interval`` s) until ``stop`` is set: while
        the editor runs. A save being uploaded when it is set is finished first. A failed
        save is kept in :attr:`error` and tried again at the next one."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set() or not self.saved():
                continue
            try:
                result = await self.sync()
            except RtuiError as exc:
                self.error = exc
                continue
            self.error = None
            on_result(result)

    def close(self) -> None:
        """Remove the local copy and its directory."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- internals -----------------------------------------------------------------------

    def _require_local(self) -> Path:
        if self.local is None or self._stamp is None:
            raise RtuiError("the file was not fetched")
        return self.local

    async def _changed_on_host(self) -> str | None:
        """Why the host's file is no longer what we last saw, or None."""
        stamp = self._stamp
        assert stamp is not None
        try:
            now = await self.files.stat(self.path)
        except RemoteNotFoundError:
            return f"{self.where} was removed on the host since it was opened"
        if (now.size, now.mtime) != (stamp.size, stamp.mtime):
            return f"{self.where} changed on the host since it was opened"
        if await self.files.checksum(self.path) != stamp.sha256:  # same second, same size
            return f"{self.where} changed on the host since it was opened (its checksum)"
        return None

    async def _free_keep_both_name(self) -> str:
        first = name = keep_both_name(self.path)
        stem, ext = posixpath.splitext(first)
        n = 2
        while await self.files.exists(name):  # "x (rtui 101502-2).py"
            name = f"{stem[:-1]}-{n}){ext}"
            n += 1
        return name

    async def _upload(self, local: Path, target: str) -> None:
        data = await asyncio.to_thread(local.read_bytes)
        if len(data) > EDIT_LIMIT:
            raise FilesError(f"{printable(str(local))} grew past "
                             f"{EDIT_LIMIT // (1024 * 1024)} MiB: not uploaded")
        await self.files.write_small(target, data)
        entry = await self.files.stat(target)
        self._stamp = Stamp(entry.size, entry.mtime, hashlib.sha256(data).hexdigest())
        self._sent = self._stamp.sha256

