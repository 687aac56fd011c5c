"""Reading a local file a person controls (hosts.toml, an ssh config) without hanging on it.

Such a path can be anything: a FIFO (a plain ``open`` waits for a writer for ever), a symlink
to ``/dev/zero`` (``read()`` never ends), a symlink loop, or a file of gigabytes. Here only a
regular file is read (symlinks to one are followed: a symlinked config is a normal setup),
opened non-blocking, and at most ``limit`` + 1 bytes are read. Each refusal is an ``OSError``
whose ``strerror`` says what the path is, so callers that already turn an ``OSError`` into a
message ("cannot read X: ...") need nothing new.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["FileTooLargeError", "NotAFileError", "file_kind", "read_regular_file",
           "refuse_special", "resolved_target"]


class NotAFileError(OSError):
    """The path is a FIFO, a device, a socket or a directory, not a regular file."""


class FileTooLargeError(OSError):
    """The file is larger than the most its reader takes."""


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (following symlinks), at most ``limit``.

    Raises FileNotFoundError, NotAFileError (IsADirectoryError for a directory),
    FileTooLargeError, or the OSError of the open or read (ELOOP for a symlink loop).
    """
    refuse_special(os.stat(path).st_mode)  # before opening: opening a device can act
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        refuse_special(os.fstat(fd).st_mode)  # again: it may have been swapped in between
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileTooLargeError(errno.EFBIG, f"it is larger than {_size(limit)}, the most "
                                             "rtui reads of such a file")
    return b"".join(chunks)


def refuse_special(mode: int) -> None:
    """Raise NotAFileError (IsADirectoryError for a directory) unless ``mode`` is a regular
    file's."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory, not a file")
    raise NotAFileError(errno.EINVAL, f"it is {file_kind(mode)}, not a file")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in a person's words ("a FIFO (named pipe)")."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _size(limit: int) -> str:
    if limit >= 1 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit >= 1 << 10 and limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"


def resolved_target(path: Path) -> Path:
    """Where writes to ``path`` land: its symlink's final target, or ``path`` itself.

    Raises OSError(ELOOP) for a symlink loop (``Path.resolve`` raises RuntimeError there).
    """
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=False)
    except RuntimeError:  # Python 3.11-3.12: "Symlink loop from ..."
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None
