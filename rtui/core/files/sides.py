"""The two ends of a file copy, here or on a host (remote_side.py), behind one shape
(``Side``): stat, a pipelined reader, a pipelined writer of a part, and the last steps (mode,
mtime, rename). This machine's end is here.

Remote reads keep ``max_requests`` SFTP reads of one block in flight and hand each block
over as it comes (out of order); remote writes keep as many writes in flight. Local reads and
writes run in threads (``os.pread``/``os.pwrite``), never on the event loop. Errors come out
as FilesError kinds (``diagnose``) or, when the connection went, SSHError.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import posixpath
import stat as statmod
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncssh

from rtui.core.errors import WrongKindError
from rtui.core.files.diagnose import local_error
from rtui.core.files.model import LINK, kind_of_mode, special_kind
from rtui.core.files.parts import TAR_PART_SUFFIX
from rtui.core.files.paths import printable

__all__ = ["CLOSE_TIMEOUT", "Deliver", "FileInfo", "LocalSide", "Side", "Writer",
           "connection_lost", "first_error", "gather_all"]

Deliver = Callable[[int, bytes], Awaitable[None]]
CLOSE_TIMEOUT = 10.0  # closing a handle or removing a part after a failure or a cancel
READ_AHEAD = 1 << 20  # bytes read here in one trip to a thread
_LOST = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection, asyncssh.ConnectionLost,
         asyncssh.DisconnectError, asyncssh.ChannelOpenError, ConnectionError)


@dataclass(frozen=True)
class FileInfo:
    """What a copy needs of a path: its kind (file, dir, link, other), size, mtime (s),
    permission bits, and a link's target when not followed; for ``other``, which special
    file it is (``special_kind``)."""

    kind: str
    size: int
    mtime: float
    mode: int
    target: str | None = None
    special: str | None = None


def part_of(path: str) -> str:
    """The part name a link or a small file is made under before its rename (tar-in's)."""
    head, name = posixpath.split(path)
    return posixpath.join(head, f".{name}{TAR_PART_SUFFIX}")


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection (not the file) failed."""
    return isinstance(exc, _LOST)


async def gather_all(works: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``works`` at once; the first failure raised once all ended (none left
    running, none unretrieved)."""
    tasks = [asyncio.ensure_future(w) for w in works]
    try:
        if tasks:
            await asyncio.wait(tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    error = first_error(tasks)
    if error is not None:
        raise error


def first_error(done: Iterable[asyncio.Future[Any]]) -> BaseException | None:
    """The first failure among finished tasks, every one's outcome retrieved (asyncio logs
    the ones nobody looked at, on stderr)."""
    errors = [task.exception() for task in done if not task.cancelled()]
    return next((e for e in errors if e is not None), None)


class Writer(Protocol):
    """A part being written: writes may return before they are on disk (pipelined); their
    errors come from a later write or from ``flush``."""

    async def write(self, offset: int, data: bytes) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


class Side(Protocol):
    """One end of a copy (see LocalSide and RemoteSide)."""

    def where(self, path: str) -> str: ...
    def key(self, path: str) -> str: ...
    async def block_limit(self) -> int | None: ...
    async def info(self, path: str, *, follow: bool = True) -> FileInfo: ...
    async def info_or_none(self, path: str, *, follow: bool = True) -> FileInfo | None: ...
    async def pump(self, path: str, start: int, size: int, block: int, window: int,
                   deliver: Deliver) -> int: ...
    async def open_part(self, part: str, *, fresh: bool, block: int, window: int
                        ) -> Writer: ...
    async def finish(self, part: str, final: str, source: FileInfo, *,
                     preserve: bool) -> None: ...
    async def remove_quietly(self, path: str) -> None: ...
    async def checksum(self, path: str) -> str: ...
    async def mkdir(self, path: str) -> None: ...
    async def symlink(self, target: str, path: str) -> None: ...
    async def make_dirs(self, paths: Sequence[str]) -> None: ...
    async def set_dir_attrs(self, items: Sequence[tuple[str, int, float | None]]
                            ) -> None: ...


# -- here ------------------------------------------------------------------------------------


def _local_info(path: str, follow: bool) -> FileInfo:
    st = os.stat(path) if follow else os.lstat(path)
    kind = kind_of_mode(st.st_mode)
    target = os.readlink(path) if kind == LINK else None
    return FileInfo(kind, st.st_size, st.st_mtime, statmod.S_IMODE(st.st_mode), target,
                    special_kind(st.st_mode))


def _open_regular(path: str) -> int:
    """``path`` opened to read, refused unless a regular file: O_NONBLOCK, so a FIFO put
    there since it was looked at does not block the thread for good."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not statmod.S_ISREG(mode):
        os.close(fd)
        raise WrongKindError(f"{printable(path)} (here): not a regular file "
                             f"(a {special_kind(mode) or 'directory'})")
    return fd


class _Thread:
    """Runs blocking calls in a thread, one at a time, and remembers the one under way:
    a file descriptor is closed only after its last call returned, even when cancelled."""

    def __init__(self) -> None:
        self._busy: asyncio.Future[Any] | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        self._busy = future
        return await asyncio.shield(future)  # a cancel leaves it to end: ``idle`` waits

    async def idle(self) -> None:
        busy, self._busy = self._busy, None
        if busy is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(busy)


class _LocalWriter:
    def __init__(self, fd: int, part: str) -> None:
        self.fd, self.part = fd, part
        self._thread = _Thread()

    async def write(self, offset: int, data: bytes) -> None:
        try:
            await self._thread.run(os.pwrite, self.fd, data, offset)
        except OSError as exc:
            raise local_error(exc, self.part) from exc

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        await self._thread.idle()
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


class LocalSide:
    """This machine."""

    def where(self, path: str) -> str:
        return printable(path)

    def key(self, path: str) -> str:
        return os.path.abspath(path)

    async def block_limit(self) -> int | None:
        return None  # any size

    async def info(self, path: str, *, follow: bool = True) -> FileInfo:
        try:
            return await asyncio.to_thread(_local_info, path, follow)
        except OSError as exc:
            raise local_error(exc, path) from exc

    async def info_or_none(self, path: str, *, follow: bool = True) -> FileInfo | None:
        try:
            return await asyncio.to_thread(_local_info, path, follow)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise local_error(exc, path) from exc

    async def pump(self, path: str, start: int, size: int, block: int, window: int,
                   deliver: Deliver) -> int:
        """Read ``size`` bytes from ``start`` in order, the next reads (about 1 MiB at a
        time: fewer trips to the thread) under way while the last ones are delivered, block
        by block; the bytes read (fewer: the file shrank)."""
        thread = _Thread()
        step = block * max(1, READ_AHEAD // block)
        try:
            fd = await asyncio.to_thread(_open_regular, path)
        except OSError as exc:
            raise local_error(exc, path) from exc
        offset, end, got = start, start + size, 0
        ahead: asyncio.Future[bytes] | None = None
        try:
            def read_at(off: int) -> asyncio.Future[bytes]:
                return asyncio.ensure_future(thread.run(os.pread, fd, min(step, end - off), off))

            ahead = read_at(offset) if offset < end else None
            while ahead is not None:
                data = await ahead
                ahead = None
                if not data:
                    break  # the file ended early: the caller finds it changed
                here = offset
                offset += len(data)
                if offset < end:
                    ahead = read_at(offset)
                for cut in range(0, len(data), block):
                    piece = data[cut:cut + block] if len(data) > block else data
                    await deliver(here + cut, piece)
                    got += len(piece)
        except OSError as exc:
            raise local_error(exc, path) from exc
        finally:
            if ahead is not None:  # one block's read: let it end before the close
                with contextlib.suppress(BaseException):
                    await asyncio.shield(ahead)
            await thread.idle()
            os.close(fd)
        return got

    async def open_part(self, part: str, *, fresh: bool, block: int, window: int
                        ) -> Writer:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if fresh else 0)
        try:
            fd = await asyncio.to_thread(os.open, part, flags, 0o600)
        except OSError as exc:
            raise local_error(exc, part) from exc
        return _LocalWriter(fd, part)

    async def finish(self, part: str, final: str, source: FileInfo, *,
                     preserve: bool) -> None:
        def last_steps() -> None:
            os.chmod(part, source.mode & 0o7777)
            if preserve:
                os.utime(part, (source.mtime, source.mtime))
            os.replace(part, final)

        try:
            await asyncio.to_thread(last_steps)
        except OSError as exc:
            raise local_error(exc, final) from exc

    async def remove_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(os.unlink, path)

    async def checksum(self, path: str) -> str:
        def digest() -> str:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            return h.hexdigest()

        try:
            return await asyncio.to_thread(digest)
        except OSError as exc:
            raise local_error(exc, path) from exc

    async def mkdir(self, path: str) -> None:
        """``path`` and its parents, there already or made."""
        try:
            await asyncio.to_thread(os.makedirs, path, 0o777, True)
        except OSError as exc:
            raise local_error(exc, path) from exc

    async def make_dirs(self, paths: Sequence[str]) -> None:
        """Each of ``paths`` (parents first), there already or made."""
        def make() -> None:
            for path in paths:
                try:
                    os.mkdir(path)
                except FileExistsError:
                    if not os.path.isdir(path):
                        raise

        try:
            await asyncio.to_thread(make)
        except OSError as exc:
            raise local_error(exc, exc.filename or paths[0]) from exc

    async def symlink(self, target: str, path: str) -> None:
        """A link at ``path`` to ``target``, made under a part name then renamed over what
        is there."""
        def link() -> None:
            part = part_of(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            os.symlink(target, part)
            os.replace(part, path)

        try:
            await asyncio.to_thread(link)
        except OSError as exc:
            raise local_error(exc, path) from exc

    async def set_dir_attrs(self, items: Sequence[tuple[str, int, float | None]]) -> None:
        """Modes and mtimes of folders, in the order given (best effort)."""
        def apply() -> None:
            for path, mode, mtime in items:
                with contextlib.suppress(OSError):
                    os.chmod(path, mode)
                    if mtime is not None:
                        os.utime(path, (mtime, mtime))

        await asyncio.to_thread(apply)
