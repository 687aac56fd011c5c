"""A host's end of a file copy (see sides.py), through its files service: pipelined SFTP
reads and writes of one block each (``max_requests`` in flight), folders made level by level,
and each failure diagnosed (``diagnose``: disk full, link loop...) or, when the connection
went, an SSHError."""

from __future__ import annotations

import asyncio
import contextlib
import stat as statmod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncssh

from rtui.core.errors import FilesError, RemoteNotFoundError, RtuiError, SSHError
from rtui.core.files.diagnose import diagnose
from rtui.core.files.model import LINK, kind_of_mode, special_kind
from rtui.core.files.paths import printable
from rtui.core.files.sides import (
    CLOSE_TIMEOUT,
    Deliver,
    FileInfo,
    Writer,
    connection_lost,
    first_error,
    gather_all,
    part_of,
)

if TYPE_CHECKING:
    from rtui.core.files.service import HostFiles

__all__ = ["RemoteSide"]

_AT_ONCE = 64  # small SFTP requests in flight (mkdir, setstat)


class _RemoteWriter:
    def __init__(self, side: RemoteSide, handle: asyncssh.SFTPClientFile, part: str,
                 window: int) -> None:
        self.side, self.handle, self.part, self.window = side, handle, part, window
        self._pending: set[asyncio.Task[int]] = set()

    async def write(self, offset: int, data: bytes) -> None:
        while len(self._pending) >= self.window:
            await self._settle_one()
        self._pending.add(asyncio.ensure_future(self.handle.write(data, offset)))

    async def _settle_one(self) -> None:
        done, self._pending = await asyncio.wait(self._pending,
                                                 return_when=asyncio.FIRST_COMPLETED)
        error = first_error(done)
        if error is not None:
            raise await self.side.failure(error, self.part, writing=True) from error

    async def flush(self) -> None:
        while self._pending:
            await self._settle_one()

    async def close(self) -> None:
        pending, self._pending = self._pending, set()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
            await asyncio.wait_for(self.handle.close(), CLOSE_TIMEOUT)


class RemoteSide:
    """A host, through its files service (one SFTP client on the host's connection)."""

    def __init__(self, files: HostFiles) -> None:
        self.files = files
        self.host = files.name

    def where(self, path: str) -> str:
        return f"{self.host}:{printable(path)}"

    def key(self, path: str) -> str:
        return f"{self.host}:{path}"

    async def sftp(self) -> asyncssh.SFTPClient:
        return await self.files.sftp()

    async def failure(self, exc: BaseException, path: str, *, writing: bool = False,
                      action: str = "") -> RtuiError:
        """``exc`` as rtui's error: SSHError when the connection went, else a FilesError
        kind found by diagnosis (disk full, link loop, ...)."""
        if connection_lost(exc):
            return SSHError(f"lost the connection to {self.host} while copying "
                            f"{self.where(path)}: {exc}")
        try:
            return await diagnose(self.files, exc, path, writing=writing,
                                  action=action or ("write" if writing else "read"))
        except RtuiError as other:  # the diagnosis itself met a lost connection
            return other

    async def block_limit(self) -> int | None:
        """The largest read or write the server takes in one request (its limits@openssh.com
        answer; asyncssh's safe default without it)."""
        try:
            sftp = await self.sftp()
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, ".") from exc
        return min(sftp.limits.max_read_len, sftp.limits.max_write_len) or 16384

    async def info(self, path: str, *, follow: bool = True) -> FileInfo:
        try:
            sftp = await self.sftp()
            attrs = await (sftp.stat(path) if follow else sftp.lstat(path))
            target = None
            mode = attrs.permissions or 0
            if kind_of_mode(mode) == LINK:
                target = str(await sftp.readlink(path))
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, path, action="stat") from exc
        return FileInfo(kind_of_mode(mode), attrs.size or 0, float(attrs.mtime or 0),
                        statmod.S_IMODE(mode), target, special_kind(mode))

    async def info_or_none(self, path: str, *, follow: bool = True) -> FileInfo | None:
        try:
            return await self.info(path, follow=follow)
        except FilesError as exc:
            if isinstance(exc, RemoteNotFoundError):
                return None
            raise

    async def pump(self, path: str, start: int, size: int, block: int, window: int,
                   deliver: Deliver) -> int:
        """Read ``size`` bytes from ``start`` with ``window`` block reads in flight,
        delivering each block as it comes; the bytes read (fewer: the file shrank)."""
        try:
            sftp = await self.sftp()
            # block_size 0: each read() is one request (the blocks are cut here, and a
            # request per block spares asyncssh's own task per block)
            handle = await sftp.open(path, "rb", block_size=0)
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, path) from exc
        pending: set[asyncio.Task[tuple[int, int, bytes]]] = set()
        offset, end, got, at_end = start, start + size, 0, False

        async def read(off: int, length: int) -> tuple[int, int, bytes]:
            return off, length, await handle.read(length, off)

        try:
            while pending or (offset < end and not at_end):
                while offset < end and not at_end and len(pending) < window:
                    length = min(block, end - offset)
                    pending.add(asyncio.ensure_future(read(offset, length)))
                    offset += length
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                error = first_error(done)
                if error is not None:
                    raise error
                for task in done:
                    off, length, data = task.result()
                    if not data:
                        at_end = True  # shorter than its stat said: it changed
                        continue
                    if len(data) < length:  # a short read: ask again for the rest
                        pending.add(asyncio.ensure_future(read(off + len(data),
                                                               length - len(data))))
                    await deliver(off, data)
                    got += len(data)
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, path) from exc
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
                await asyncio.wait_for(handle.close(), CLOSE_TIMEOUT)
        return got

    async def open_part(self, part: str, *, fresh: bool, block: int, window: int
                        ) -> Writer:
        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | (asyncssh.FXF_TRUNC if fresh else 0)
        try:
            sftp = await self.sftp()
            handle = await sftp.open(part, flags, asyncssh.SFTPAttrs(permissions=0o600),
                                     encoding=None, block_size=0)  # a write, a request
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, part, writing=True) from exc
        return _RemoteWriter(self, handle, part, window)

    async def finish(self, part: str, final: str, source: FileInfo, *,
                     preserve: bool) -> None:
        attrs = asyncssh.SFTPAttrs(permissions=source.mode & 0o7777)
        if preserve:
            attrs.atime = attrs.mtime = int(source.mtime)
        try:
            sftp = await self.sftp()
            await sftp.setstat(part, attrs)
            await sftp.posix_rename(part, final)
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, final, writing=True) from exc

    async def remove_quietly(self, path: str) -> None:
        with contextlib.suppress(asyncssh.Error, OSError, RtuiError, TimeoutError):
            sftp = await self.sftp()
            await asyncio.wait_for(sftp.remove(path), CLOSE_TIMEOUT)

    async def checksum(self, path: str) -> str:
        return await self.files.checksum(path)

    async def mkdir(self, path: str) -> None:
        """``path`` and its parents, there already or made."""
        try:
            sftp = await self.sftp()
            await sftp.makedirs(path, exist_ok=True)
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, path, writing=True, action="mkdir") from exc

    async def make_dirs(self, paths: Sequence[str]) -> None:
        """Each of ``paths`` (parents first), there already or made: one level of depth at a
        time, the folders of a level asked for at once."""
        sftp = await self.sftp()
        gate = asyncio.Semaphore(_AT_ONCE)

        async def one(path: str) -> None:
            async with gate:
                try:
                    await sftp.mkdir(path)
                except asyncssh.SFTPFailure as exc:  # v3's word for "it exists", among others
                    with contextlib.suppress(asyncssh.Error, OSError):
                        if (await sftp.stat(path)).type == asyncssh.FILEXFER_TYPE_DIRECTORY:
                            return
                    raise await self.failure(exc, path, writing=True, action="mkdir") from exc
                except (asyncssh.Error, OSError) as exc:
                    raise await self.failure(exc, path, writing=True, action="mkdir") from exc

        by_depth: dict[int, list[str]] = {}
        for path in paths:
            by_depth.setdefault(path.rstrip("/").count("/"), []).append(path)
        for depth in sorted(by_depth):
            await gather_all(one(path) for path in by_depth[depth])

    async def symlink(self, target: str, path: str) -> None:
        """A link at ``path`` to ``target``, made under a part name then renamed over what
        is there."""
        part = part_of(path)
        try:
            sftp = await self.sftp()
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await sftp.remove(part)
            await sftp.symlink(target, part)
            await sftp.posix_rename(part, path)
        except (asyncssh.Error, OSError) as exc:
            raise await self.failure(exc, path, writing=True, action="create") from exc

    async def set_dir_attrs(self, items: Sequence[tuple[str, int, float | None]]) -> None:
        """Modes and mtimes of folders (best effort), asked for at once: order does not
        matter to SFTP's setstat, which writes nothing in the folder."""
        sftp = await self.sftp()
        gate = asyncio.Semaphore(_AT_ONCE)

        async def one(path: str, mode: int, mtime: float | None) -> None:
            attrs = asyncssh.SFTPAttrs(permissions=mode)
            if mtime is not None:
                attrs.atime = attrs.mtime = int(mtime)
            async with gate:
                with contextlib.suppress(asyncssh.Error, OSError):
                    await sftp.setstat(path, attrs)

        await gather_all(one(*item) for item in items)
