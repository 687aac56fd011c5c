"""Private files: the one place rtui writes what only its user may read.

Everything rtui keeps on disk (hosts.toml, its known_hosts, console history, lock files) is
0600 in a 0700 directory. Whole-file writes are atomic (temp file, fsync, rename, fsync the
directory), so a crash or a full disk leaves the old file or the new one, never a mix; appends
are one ``write`` on an ``O_APPEND`` descriptor, so concurrent writers never interleave lines.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from rtui.core.safe_read import refuse_special, resolved_target

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "append_private",
    "make_private_dir",
    "open_private",
    "write_private",
]

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` and each missing parent as 0700 (as the XDG spec asks of the
    base directories); existing ones are left as they are."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for level in reversed(missing):
        level.mkdir(mode=DIR_MODE, exist_ok=True)


def write_private(path: Path, data: bytes, *, backup: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically, as a 0600 file in a 0700 directory.

    With ``backup`` the previous contents are kept as ``<name>.bak`` (written the same way).
    A symlinked file stays a symlink: its target is replaced. What is not a regular file (a
    FIFO, a device: someone put it there on purpose) is never replaced: ``NotAFileError``.
    Raises ``OSError`` (ELOOP for a symlink loop).
    """
    target = resolved_target(path)
    make_private_dir(target.parent)
    try:
        refuse_special(os.stat(target).st_mode)
    except FileNotFoundError:
        backup = False
    if backup:
        _replace(target.with_name(target.name + ".bak"), target.read_bytes())
    _replace(target, data)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` of a file rtui owns: created 0600 in a 0700 directory, and made 0600 if
    an older rtui or a person loosened it. Opened non-blocking, so a FIFO in its place is
    refused (``NotAFileError``, as a device is) instead of waiting for a reader for ever.
    Raises ``OSError``."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0),
                     FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO opened for writing that nobody reads
            refuse_special(os.stat(path).st_mode)
        raise
    try:
        mode = os.fstat(fd).st_mode
        refuse_special(mode)
        if mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_private(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Append ``data`` in one write to a private file (``sync``: fsync before returning)."""
    fd = open_private(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _replace(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
