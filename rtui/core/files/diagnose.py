"""What went wrong with a file operation, in words a person can act on.

OpenSSH speaks SFTP v3, whose errors are vague: a full disk, a non-empty directory and an
existing target are all "Failure", and a symlink loop is "No such file". So a vague error is
diagnosed after the fact with a look at the place: ``statvfs`` (0 B free: the disk is full),
``lstat`` plus following the links (a loop, or a link to nothing), ``stat`` (it exists, it is a
directory). The agent's errors come typed, and this machine's are ``OSError`` with an errno.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import posixpath
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, TypeVar

import asyncssh

from rtui.core.errors import (
    AlreadyExistsError,
    ConnectTimeoutError,
    DiskFullError,
    FilesError,
    LinkLoopError,
    RemoteNotFoundError,
    RemotePermissionError,
    RtuiError,
    SSHError,
    TransferCancelledError,
    WrongKindError,
)
from rtui.core.files.paths import printable
from rtui.core.remote.client import AgentError
from rtui.core.units import byte_size

if TYPE_CHECKING:
    from rtui.core.files.service import HostFiles

T = TypeVar("T")

__all__ = ["LOST", "agent_failures", "agent_path", "diagnose", "local_error",
           "remote_error", "several"]

# The SFTP errors that mean the channel (or the connection under it) is gone.
LOST = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection, asyncssh.ConnectionLost,
        asyncssh.DisconnectError, BrokenPipeError, ConnectionError)
_LOOK_TIMEOUT = 10.0  # each follow-up look; a diagnosis must not hang a failed operation
_MAX_LINKS = 40  # as Linux's ELOOP bound
# Less than this free after a failed write: the disk is full (the write that failed wanted
# more than was left; a few KiB may stay free for the file system's own use).
_NEARLY_FULL = 64 * 1024
_ST_RDONLY = 1  # statvfs's flag (OpenSSH sends the host's f_flag)

_WORDS = {
    RemoteNotFoundError: "no such file or directory",
    RemotePermissionError: "permission denied",
    LinkLoopError: "symlink loop",
    AlreadyExistsError: "already exists",
}

# asyncssh's error classes of SFTP v4+ servers, which say the kind themselves.
_SFTP_KINDS: tuple[tuple[type[asyncssh.SFTPError], type[FilesError], str], ...] = (
    (asyncssh.SFTPNoSuchFile, RemoteNotFoundError, "no such file or directory"),
    (asyncssh.SFTPNoSuchPath, RemoteNotFoundError, "no such file or directory"),
    (asyncssh.SFTPPermissionDenied, RemotePermissionError, "permission denied"),
    (asyncssh.SFTPWriteProtect, RemotePermissionError, "read-only file system"),
    (asyncssh.SFTPNoSpaceOnFilesystem, DiskFullError, "disk full"),
    (asyncssh.SFTPQuotaExceeded, DiskFullError, "disk quota exceeded"),
    (asyncssh.SFTPFileAlreadyExists, AlreadyExistsError, "already exists"),
    (asyncssh.SFTPNotADirectory, WrongKindError, "not a directory"),
    (asyncssh.SFTPFileIsADirectory, WrongKindError, "is a directory"),
    (asyncssh.SFTPLinkLoop, LinkLoopError, "symlink loop"),
    (asyncssh.SFTPDirNotEmpty, FilesError, "directory not empty"),
)

# The agent's error types (CONTRACT16 part A).
_AGENT_KINDS: dict[str, tuple[type[FilesError], str]] = {
    "not_found": (RemoteNotFoundError, "no such file or directory"),
    "permission": (RemotePermissionError, "permission denied"),
    "not_a_directory": (WrongKindError, "not a directory"),
    "is_a_directory": (WrongKindError, "is a directory"),
    "exists": (AlreadyExistsError, "already exists"),
    "not_empty": (FilesError, "directory not empty"),
    "not_a_file": (WrongKindError, ""),  # the agent's words: which kind of special file
    "link_loop": (LinkLoopError, "symlink loop"),
    "disk_full": (DiskFullError, "disk full"),
    "cancelled": (TransferCancelledError, "cancelled"),
}
# The agent's types that say it cannot run at all (its own message says why).
_AGENT_CANNOT_RUN = frozenset({"no_python", "old_python", "start"})

_ERRNO_KINDS: dict[int, tuple[type[FilesError], str]] = {
    errno.ENOENT: (RemoteNotFoundError, "no such file or directory"),
    errno.EACCES: (RemotePermissionError, "permission denied"),
    errno.EPERM: (RemotePermissionError, "operation not permitted"),
    errno.EROFS: (RemotePermissionError, "read-only file system"),
    errno.ENOSPC: (DiskFullError, "disk full"),
    errno.EDQUOT: (DiskFullError, "disk quota exceeded"),
    errno.ENOTDIR: (WrongKindError, "not a directory"),
    errno.EISDIR: (WrongKindError, "is a directory"),
    errno.EEXIST: (AlreadyExistsError, "already exists"),
    errno.ELOOP: (LinkLoopError, "symlink loop"),
    errno.ENOTEMPTY: (FilesError, "directory not empty"),
}


def remote_error(kind: type[FilesError], host: str, path: str, words: str) -> FilesError:
    """``kind`` with the message ``HOST:PATH: words`` (scp's way of naming the place)."""
    return kind(f"{host}:{printable(path)}: {words}")


def local_error(exc: OSError, path: str) -> FilesError:
    """An ``OSError`` on this machine as its FilesError kind; the message says "here"."""
    kind, words = _ERRNO_KINDS.get(exc.errno or 0, (FilesError, ""))
    words = words or (exc.strerror or str(exc)).lower()
    return kind(f"{printable(path)} (here): {words}")


async def diagnose(files: HostFiles, exc: BaseException, path: str, *, writing: bool = False,
                   action: str = "") -> RtuiError:
    """The error to raise for ``exc`` met at ``path`` on ``files``' host: a FilesError kind,
    or an SSHError when the connection failed (or ``exc`` already is an RtuiError).

    ``writing``: the operation wrote there (a vague failure is checked for a full disk).
    ``action``: what was done (``mkdir``, ``rename``, ``remove``, ``read``, ``list``): which
    follow-up look explains a vague failure."""
    host = files.name
    if isinstance(exc, AgentError):
        return _agent_error(host, exc, path)
    if isinstance(exc, RtuiError):
        return exc
    if isinstance(exc, TimeoutError):
        return SSHError(f"{host}:{printable(path)}: no answer from {host} in time")
    if isinstance(exc, LOST):
        return SSHError(f"{host}:{printable(path)}: lost the connection to {host} ({exc})")
    if isinstance(exc, asyncssh.ChannelOpenError):
        return FilesError(f"{host} refused an SFTP session: {exc.reason}")
    if isinstance(exc, OSError):
        kind, words = _ERRNO_KINDS.get(exc.errno or 0, (FilesError, ""))
        return remote_error(kind, host, path, words or (exc.strerror or str(exc)).lower())
    if not isinstance(exc, asyncssh.SFTPError):
        return FilesError(f"{host}:{printable(path)}: {exc}")
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return await _missing(files, path, writing=writing, action=action)
    if isinstance(exc, asyncssh.SFTPFailure):
        return await _vague(files, exc, path, writing=writing, action=action)
    for sftp_kind, kind, words in _SFTP_KINDS:
        if isinstance(exc, sftp_kind):
            return remote_error(kind, host, path, words)
    reason = exc.reason or type(exc).__name__
    return remote_error(FilesError, host, path, reason[:1].lower() + reason[1:])


def _agent_error(host: str, exc: AgentError, path: str) -> RtuiError:
    """The agent's typed error (its message ``"Words: /path"``, naming the path that failed,
    which may be a member of ``path``'s tree) in this module's words."""
    if exc.type == "timeout":
        return ConnectTimeoutError(str(exc))
    known = _AGENT_KINDS.get(exc.type)
    if known is None:
        if exc.type in _AGENT_CANNOT_RUN:
            return exc
        return FilesError(f"{host}: {printable(exc.message)}")
    kind, words = known
    if not words:
        said = exc.message.partition(": /")[0]
        words = printable(said[:1].lower() + said[1:])
    return remote_error(kind, host, agent_path(exc.message) or path, words)


def agent_path(message: str) -> str | None:
    """The path at the end of an agent's message (``"Permission denied: /x/y"``), if any."""
    _, sep, where = message.partition(": /")
    return "/" + where if sep else None


def agent_failures(host: str, failed: Sequence[Sequence[str]]) -> FilesError:
    """One error for what an agent op could not do to several paths (``[path, message]``
    each): the kind of the first, the first few named, a line each."""
    words = [_words_of(str(message)) for _, message in failed]
    kind = words[0][0]
    shown = [f"{host}:{printable(str(path))}: {said}"
             for (path, _), (_, said) in zip(failed[:5], words[:5], strict=False)]
    more = f"\n(and {len(failed) - 5} more)" if len(failed) > 5 else ""
    return kind("\n".join(shown) + more)


def several(failures: Sequence[FilesError]) -> FilesError:
    """One error for several: each named on a line of its own (a shell tool's habit); the
    kind they share, else a plain FilesError."""
    if len(failures) == 1:
        return failures[0]
    kinds = {type(f) for f in failures}
    kind = kinds.pop() if len(kinds) == 1 else FilesError
    return kind("\n".join(str(f) for f in failures))


def _words_of(message: str) -> tuple[type[FilesError], str]:
    """The kind and words of an agent's ``"Strerror: path"`` message (the host's C library
    words, the same as this machine's for the errnos that have a kind)."""
    said = message.partition(": /")[0] if ": /" in message else message
    for number, (kind, words) in _ERRNO_KINDS.items():
        if said == os.strerror(number):
            return kind, words
    return FilesError, printable(said[:1].lower() + said[1:])


async def _look(look: Awaitable[T]) -> T | None:
    """A follow-up look's answer, or None when it fails or takes too long."""
    with contextlib.suppress(Exception):
        return await asyncio.wait_for(look, _LOOK_TIMEOUT)
    return None


async def _missing(files: HostFiles, path: str, *, writing: bool, action: str) -> FilesError:
    """"No such file" (OpenSSH says it for ENOENT, ENOTDIR and ELOOP alike): the name, or a
    folder on the way to it, may be a link that loops or leads nowhere, or a file where a
    folder was meant; or (when writing) the folder to write in may be missing."""
    host = files.name
    sftp = await _look(files.sftp())
    if sftp is None:
        return remote_error(RemoteNotFoundError, host, path, "no such file or directory")
    attrs = await _look(sftp.lstat(path))
    if attrs is not None and attrs.type == asyncssh.FILEXFER_TYPE_SYMLINK:
        followed = await _look(sftp.stat(path))
        if followed is None:
            return await _bad_link(sftp, host, path, path)
        attrs = followed
    if attrs is not None:
        if action == "list" and attrs.type != asyncssh.FILEXFER_TYPE_DIRECTORY:
            return remote_error(WrongKindError, host, path, "not a directory")
        return remote_error(RemoteNotFoundError, host, path, "no such file or directory")
    parent = posixpath.dirname(path.rstrip("/")) or "/"
    culprit = await _on_the_way(sftp, host, path, parent)
    if culprit is not None:
        return culprit
    if writing and await _look(sftp.stat(parent)) is None:
        return remote_error(RemoteNotFoundError, host, parent, "no such directory")
    return remote_error(RemoteNotFoundError, host, path, "no such file or directory")


async def _on_the_way(sftp: asyncssh.SFTPClient, host: str, path: str,
                      folder: str) -> FilesError | None:
    """What is wrong on the way to ``path``, looking from ``folder`` up: a file where a
    folder should be, or a link that loops or leads nowhere (None: the way is fine up to
    where it stops existing)."""
    for _ in range(_MAX_LINKS):
        if folder in {"", "/"}:
            return None
        attrs = await _look(sftp.stat(folder))
        if attrs is not None:
            if attrs.type != asyncssh.FILEXFER_TYPE_DIRECTORY:
                return remote_error(WrongKindError, host, path,
                                    f"{printable(folder)} is not a directory")
            return None
        named = await _look(sftp.lstat(folder))
        if named is not None:
            if named.type == asyncssh.FILEXFER_TYPE_SYMLINK:
                return await _bad_link(sftp, host, path, folder)
            return None  # there, but not to be looked at (permission): nothing more to say
        folder = posixpath.dirname(folder) or "/"
    return None


async def _bad_link(sftp: asyncssh.SFTPClient, host: str, path: str, link: str) -> FilesError:
    """The error for a ``link`` (``path`` itself or a folder on its way) that cannot be
    followed: a loop, or a link to nothing."""
    loop, target = await _follow(sftp, link)
    at = "" if link == path else f" at {printable(link)}"
    if loop:
        return remote_error(LinkLoopError, host, path, f"symlink loop{at}")
    return remote_error(RemoteNotFoundError, host, path,
                        f"symlink{at} to a missing target ({printable(target)})")


async def _follow(sftp: asyncssh.SFTPClient, path: str) -> tuple[bool, str]:
    """Follow the link at ``path`` by hand: (True, where) for a loop, (False, the missing
    target) for a link to nothing."""
    seen: set[str] = set()
    current = path
    for _ in range(_MAX_LINKS):
        if current in seen:
            return True, current
        seen.add(current)
        target = await _look(sftp.readlink(current))
        if target is None:
            return False, current
        current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
        attrs = await _look(sftp.lstat(current))
        if attrs is None:
            return False, current
        if attrs.type != asyncssh.FILEXFER_TYPE_SYMLINK:
            return False, current
    return True, current


async def _vague(files: HostFiles, exc: asyncssh.SFTPError, path: str, *, writing: bool,
                 action: str) -> FilesError:
    """SFTP v3's plain "Failure": a full disk, an existing target, a non-empty folder or a
    folder where a file was meant, told apart by looking."""
    host = files.name
    sftp = await _look(files.sftp())
    if writing and sftp is not None:
        where = posixpath.dirname(path.rstrip("/")) or "/"
        vfs = await _look(sftp.statvfs(path)) or await _look(sftp.statvfs(where))
        if vfs is not None and vfs.flags & _ST_RDONLY:
            return remote_error(RemotePermissionError, host, path, "read-only file system")
        free = None if vfs is None else int(vfs.bavail) * int(vfs.frsize or vfs.bsize)
        if free is not None and free < _NEARLY_FULL:
            return remote_error(DiskFullError, host, path,
                                f"disk full ({byte_size(free)} free on {printable(where)})")
    attrs = await _look(sftp.lstat(path)) if sftp is not None else None
    if attrs is not None:
        is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY
        if action in {"mkdir", "rename", "create"}:
            return remote_error(AlreadyExistsError, host, path, "already exists")
        if action == "remove" and is_dir:
            return remote_error(FilesError, host, path, "directory not empty")
        if action in {"read", "write"} and is_dir:
            return remote_error(WrongKindError, host, path, "is a directory")
        if action == "list" and not is_dir:
            return remote_error(WrongKindError, host, path, "not a directory")
    reason = exc.reason or "failure"
    return remote_error(FilesError, host, path, reason[:1].lower() + reason[1:])
