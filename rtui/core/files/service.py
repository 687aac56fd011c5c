"""One host's files over its one SSH connection: SFTP for what SFTP does well (stat, read,
write, rename, mkdir, statvfs), the host's rtui agent for what it lacks or does slowly
(listing a big folder, copy on the host, recursive delete, disk usage, checksum).

The SFTP client is started on first use with ``path_errors="surrogateescape"`` (a name that
is not UTF-8 would otherwise break a whole listing) and again after a reconnect. Paths are
POSIX strings; ``~`` and relative paths are from the home directory the agent reports (the
one kernels start in), so SFTP and the agent agree on what a relative path means.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import posixpath
import secrets
import stat as statmod
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from typing import TypeVar

import asyncssh

from rtui.core.errors import (
    AlreadyExistsError,
    FilesError,
    RemoteNotFoundError,
    RtuiError,
    SSHError,
    WrongKindError,
)
from rtui.core.files.diagnose import (
    LOST,
    agent_failures,
    diagnose,
    remote_error,
    several,
)
from rtui.core.files.model import DIR, FILE, LINK, DiskUsage, Entry, kind_of_mode, special_kind
from rtui.core.files.paths import printable
from rtui.core.remote.client import AgentClient, AgentError, Progress
from rtui.core.ssh.connection import ConnState, HostConnection

__all__ = ["HostFiles"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Entries = list[Entry]  # a batch of a listing (``list`` is a method name in the class)
Paths = list[str]

REQUEST_TIMEOUT = 60.0  # one SFTP request, or a short agent request
AGENT_IDLE_TIMEOUT = 60.0  # a long agent op: seconds without a word from it
_SETTLE_TIMEOUT = 5.0  # for the connection to notice that its link is gone
# The agent cannot run there (no Python, too old): SFTP does what it can instead.
_NO_AGENT = frozenset({"no_python", "old_python", "start"})
_FIRST_BATCH = 100  # rows drawn at once, before the rest of a listing comes


class _AgentCannotRun(Exception):
    """The agent cannot run on the host (no Python, too old): SFTP stands in where it can."""


class HostFiles:
    """The files of one host (``Workspace.files(name)``), sharing the host's connection and
    the agent of its kernels service."""

    def __init__(self, connection: HostConnection, agent: AgentClient) -> None:
        self.name = connection.name
        self.connection = connection
        self.agent = agent
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_conn: asyncssh.SSHClientConnection | None = None  # the one it runs on
        self._sftp_lock = asyncio.Lock()
        self._home: str | None = None
        self._home_generation: int | None = -1  # None: for good
        self._closing: set[asyncio.Task[None]] = set()  # file handles being closed
        self._agent_missing: AgentError | None = None  # why the agent cannot run, if so
        self._agent_generation = -1

    async def close(self) -> None:
        """Stop the SFTP client (the connection and the agent are the kernels service's)."""
        sftp, self._sftp = self._sftp, None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.exit()

    # -- the SFTP client ---------------------------------------------------------------------

    async def sftp(self) -> asyncssh.SFTPClient:
        """The SFTP client on the current connection: started on first use, and again after
        a reconnect (it dies with the connection it ran on)."""
        async with self._sftp_lock:
            stale = self._sftp_conn
            if stale is not None and stale.is_closed():
                await self._settle(stale)
            conn = await self.connection.connect()
            if self._sftp is not None and self._sftp_conn is conn:
                return self._sftp
            await self.close()
            timeout = self.connection.settings.connect_timeout
            try:
                client = await asyncio.wait_for(
                    conn.start_sftp_client(path_errors="surrogateescape"), timeout)
            except TimeoutError as exc:
                raise SSHError(f"{self.name} did not start an SFTP session within "
                               f"{timeout:g} s") from exc
            except asyncssh.ChannelOpenError as exc:
                raise FilesError(f"{self.name} refused an SFTP session: {exc.reason}") from exc
            except (asyncssh.Error, OSError) as exc:
                raise SSHError(f"starting SFTP on {self.name} failed: {exc}") from exc
            self._sftp, self._sftp_conn = client, conn
            return client

    async def _settle(self, stale: asyncssh.SSHClientConnection) -> None:
        """Give the connection a moment to notice that ``stale`` closed (so ``connect()``
        makes a new one rather than handing back the dead one)."""
        changed = asyncio.Event()
        unsubscribe = self.connection.subscribe(lambda _change: changed.set())
        try:
            if (self.connection.state is ConnState.CONNECTED
                    and self._current_conn() is stale):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), _SETTLE_TIMEOUT)
        finally:
            unsubscribe()

    def _current_conn(self) -> asyncssh.SSHClientConnection | None:
        try:
            return self.connection.conn
        except SSHError:
            return None

    async def _call(self, action: str, path: str,
                    request: Callable[[asyncssh.SFTPClient], Awaitable[T]], *,
                    writing: bool = False, idempotent: bool = True,
                    report: str | None = None) -> T:
        """``request`` on the SFTP client, bounded, its failure diagnosed at ``path`` (or
        ``report``: the path the message names). A request that meets a connection lost
        between two calls is made once more on the new connection, if it can be repeated."""
        for attempt in (1, 2):
            sftp = await self.sftp()
            try:
                return await asyncio.wait_for(request(sftp), REQUEST_TIMEOUT)
            except LOST as exc:
                if self._sftp is sftp:
                    await self.close()  # its channel is gone: the next call starts another
                if attempt == 1 and idempotent:
                    log.debug("%s: SFTP lost during %s, once more: %s", self.name, action, exc)
                    continue
                raise await diagnose(self, exc, report or path) from exc
            except TimeoutError as exc:
                raise SSHError(f"{self.name}:{printable(report or path)}: no answer to "
                               f"{action} within {REQUEST_TIMEOUT:g} s") from exc
            except (asyncssh.Error, OSError) as exc:
                raise await diagnose(self, exc, report or path, writing=writing,
                                     action=action) from exc
        raise AssertionError("unreachable")

    # -- paths -------------------------------------------------------------------------------

    async def home(self) -> str:
        """The home directory: the agent's (where kernels start; kept for good), else SFTP's
        start point (asked again after a reconnect: the agent may run by then)."""
        if self._home is not None and self._home_generation in {None,
                                                                self.connection.generation}:
            return self._home
        if self._agent_usable():
            try:
                hello = await self.agent.start()
            except AgentError as exc:
                self._note_agent(exc)
            else:
                if hello.get("home"):
                    self._home, self._home_generation = str(hello["home"]), None
                    return self._home
        home = await self._call("realpath", ".", lambda s: s.realpath("."))
        self._home, self._home_generation = home, self.connection.generation
        return home

    async def absolute(self, path: str) -> str:
        """``path`` with ``~`` and a relative start made absolute (no round trip after the
        first; links are not resolved)."""
        if path.startswith("/"):
            return path
        home = await self.home()
        if path in {"", ".", "~"}:
            return home
        if path.startswith("~/"):
            path = path[2:]
        return posixpath.join(home, path)

    async def resolve(self, path: str) -> str:
        """``path`` made absolute, links and ``..`` resolved (the host's ``realpath``)."""
        full = await self.absolute(path)
        return await self._call("realpath", full, lambda s: s.realpath(full))

    # -- looking -----------------------------------------------------------------------------

    async def stat(self, path: str) -> Entry:
        """What ``path`` is, links followed; ``name`` is its base name."""
        full = await self.absolute(path)
        attrs = await self._call("stat", full, lambda s: s.stat(full))
        return _entry(_basename(full), attrs)

    async def lstat(self, path: str) -> Entry:
        """What the name ``path`` is (a link as a link, with its target and what that is)."""
        full = await self.absolute(path)
        attrs = await self._call("stat", full, lambda s: s.lstat(full))
        entry = _entry(_basename(full), attrs)
        if entry.kind != LINK:
            return entry
        sftp = await self.sftp()
        return await _with_target(sftp, full, entry)

    async def exists(self, path: str) -> bool:
        """Whether the name ``path`` exists (a link to nothing does)."""
        try:
            await self.lstat(path)
        except RemoteNotFoundError:
            return False
        return True

    async def free_space(self, path: str) -> int | None:
        """Bytes free for this account on ``path``'s file system (None: the server cannot
        say). A path that does not exist yet is asked about its folder."""
        full = await self.absolute(path)

        async def ask(sftp: asyncssh.SFTPClient) -> int | None:
            for where in (full, posixpath.dirname(full.rstrip("/")) or "/"):
                try:
                    vfs = await sftp.statvfs(where)
                except asyncssh.SFTPOpUnsupported:
                    return None
                except asyncssh.SFTPNoSuchFile:
                    continue
                return int(vfs.bavail) * int(vfs.frsize or vfs.bsize)
            raise asyncssh.SFTPNoSuchFile("No such file")

        return await self._call("statvfs", full, ask)

    def list(self, path: str, *, batch: int = 1000) -> AsyncIterator[Entries]:
        """The entries of folder ``path`` in batches as they come (the first one small and
        soon), without ``.`` and ``..``; no cap. The agent lists (a streamed ``scandir``,
        several times faster than SFTP on a big folder); SFTP where it cannot run."""
        return self._list(path, batch)

    async def _list(self, path: str, batch: int) -> AsyncGenerator[Entries, None]:
        # Each source closed as soon as this is (a reader that stops early cancels the
        # agent's listing at once, not when the garbage collector comes by).
        full = await self.absolute(path)
        if self._agent_usable():
            try:
                async with contextlib.aclosing(self._list_agent(full, batch)) as batches:
                    async for rows in batches:
                        yield rows
                return
            except _AgentCannotRun:
                pass
        async with contextlib.aclosing(self._list_sftp(full, batch)) as batches:
            async for rows in batches:
                yield rows

    async def _list_agent(self, full: str, batch: int) -> AsyncGenerator[Entries, None]:
        """The agent's ``fs_list``: its rows handed on batch by batch as they arrive; the
        request is cancelled on the host when the caller stops reading."""
        batches: asyncio.Queue[Entries | None] = asyncio.Queue()

        def rows(data: Sequence[Sequence[object]]) -> None:
            batches.put_nowait([Entry.from_row(row) for row in data])

        request = asyncio.ensure_future(self.agent.request(
            "fs_list", {"path": full, "batch": batch}, timeout=AGENT_IDLE_TIMEOUT,
            idle_timeout=True, on_rows=rows))
        request.add_done_callback(lambda _: batches.put_nowait(None))
        try:
            while (got := await batches.get()) is not None:
                yield got
            try:
                request.result()
            except AgentError as exc:
                self._note_agent(exc)
                if exc.type in _NO_AGENT:
                    raise _AgentCannotRun from exc
                raise await diagnose(self, exc, full, action="list") from exc
        finally:
            if not request.done():
                request.cancel()
                with contextlib.suppress(BaseException):
                    await request

    async def _list_sftp(self, path: str, batch: int) -> AsyncGenerator[Entries, None]:
        """The listing by SFTP ``scandir`` (a round trip per ~100 names; links looked at
        once more each, for their target)."""
        full = await self.absolute(path)
        sftp = await self.sftp()
        rows: Entries = []
        size = min(batch, _FIRST_BATCH)
        names = sftp.scandir(full)
        loop = asyncio.get_running_loop()
        try:
            # Each name within REQUEST_TIMEOUT of the one before (a timer moved on, not a
            # wait_for per name: that costs a task each, a third of a big listing's time).
            async with asyncio.timeout(REQUEST_TIMEOUT) as bound:
                async for item in names:
                    bound.reschedule(loop.time() + REQUEST_TIMEOUT)
                    if item.filename in {".", ".."}:
                        continue
                    assert isinstance(item.filename, str)
                    rows.append(_entry(item.filename, item.attrs))
                    if len(rows) >= size:
                        with _paused(bound):
                            yield await _with_targets(sftp, full, rows)
                        rows, size = [], batch
        except TimeoutError as exc:
            raise SSHError(f"{self.name}:{printable(full)}: no answer to a listing within "
                           f"{REQUEST_TIMEOUT:g} s") from exc
        except (asyncssh.Error, OSError) as exc:
            raise await diagnose(self, exc, full, action="list") from exc
        finally:
            with contextlib.suppress(Exception):
                await names.aclose()  # type: ignore[attr-defined]
        if rows:
            yield await _with_targets(sftp, full, rows)

    # -- changing ----------------------------------------------------------------------------

    async def mkdir(self, path: str, *, parents: bool = False) -> None:
        """Make folder ``path``; ``parents``: its missing parents too, and an existing folder
        is fine (``mkdir -p``)."""
        full = await self.absolute(path)
        if not parents:
            await self._call("mkdir", full, lambda s: s.mkdir(full), writing=True,
                             idempotent=False)
            return
        missing: list[str] = []
        where = full.rstrip("/") or "/"
        while True:
            try:
                entry = await self.stat(where)
            except RemoteNotFoundError:
                missing.append(where)
                where = posixpath.dirname(where) or "/"
                continue
            if not entry.is_dir:
                raise remote_error(WrongKindError, self.name, where, "not a directory")
            break
        for folder in reversed(missing):
            try:
                await self._call("mkdir", folder, _request("mkdir", folder), writing=True,
                                 idempotent=False)
            except FilesError:
                if not await self._is_dir(folder):  # made meanwhile by someone else: fine
                    raise

    async def _is_dir(self, path: str) -> bool:
        with contextlib.suppress(FilesError):
            return (await self.stat(path)).is_dir
        return False

    async def rename(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Move ``src`` to ``dst``; into ``dst`` when it is a folder (mv's habit). An
        existing target is refused, or replaced atomically with ``overwrite``. To another
        file system of the host, it is copied there on the host, then removed (mv's way)."""
        source, target = await self.absolute(src), await self.absolute(dst)
        if target.rstrip("/") == source.rstrip("/"):
            return  # already its name (a rename to the same name)
        if await self._is_dir(target):
            target = posixpath.join(target, _basename(source))
        if target.startswith(source.rstrip("/") + "/"):
            if (await self.lstat(source)).kind != DIR:  # ``mv d/f d/f/x``: f is a file
                raise remote_error(WrongKindError, self.name, target,
                                   f"{printable(source)} is not a directory")
            raise remote_error(FilesError, self.name, source,
                               f"cannot move it into itself ({printable(target)})")

        async def move(sftp: asyncssh.SFTPClient) -> None:
            if overwrite:
                await sftp.posix_rename(source, target)
            else:  # v3 rename: OpenSSH refuses an existing target (link, then unlink)
                await sftp.rename(source, target)

        try:
            await self._call("move", source, move, idempotent=False)
        except RemoteNotFoundError as exc:
            # SFTP says "no such file" for a missing target folder too: name what is missing
            if await self._lstat_or_none(source) is None:
                raise
            raise await diagnose(self, asyncssh.SFTPNoSuchFile("No such file"), target,
                                 writing=True, action="move") from exc
        except FilesError as exc:
            if type(exc) is not FilesError:  # permission...: said as it is
                raise
            # SFTP v3 said only "Failure": an existing target, or another file system?
            there = await self._lstat_or_none(target)
            if there is not None and (not overwrite or there.kind == DIR):
                raise remote_error(AlreadyExistsError, self.name, target,
                                   "already exists") from exc
            if not await self._other_filesystem(source, target):
                raise
            await self._move_across(source, target, overwrite=overwrite)

    async def _lstat_or_none(self, path: str) -> Entry | None:
        try:
            return await self.lstat(path)
        except RemoteNotFoundError:
            return None

    async def _other_filesystem(self, source: str, target: str) -> bool:
        """Whether ``target``'s folder is on another file system than ``source`` (by the
        statvfs ids; False when the server cannot tell)."""
        async def fsid(sftp: asyncssh.SFTPClient, path: str) -> int | None:
            with contextlib.suppress(asyncssh.Error):
                return int((await sftp.statvfs(path)).fsid)
            return None

        folder = posixpath.dirname(target.rstrip("/")) or "/"
        ids = await self._call("statvfs", source, lambda s: asyncio.gather(
            fsid(s, source), fsid(s, folder)))
        return None not in ids and ids[0] != ids[1]

    async def _move_across(self, source: str, target: str, *, overwrite: bool) -> None:
        """Copy ``source`` to ``target`` on the host (by a part name, renamed at the end),
        then remove ``source``."""
        await self._agent_only("fs_copy", {"sources": [source], "dest": target,
                                           "overwrite": overwrite}, source,
                               timeout=AGENT_IDLE_TIMEOUT)
        await self.remove([source], recursive=True)

    async def remove(self, paths: Sequence[str], *, recursive: bool = False,
                     missing_ok: bool = False) -> None:
        """Remove files, links (never what they point to) and, with ``recursive``, folders
        and all they hold (by the agent, in one request); without it, only empty folders.
        One FilesError at the end lists what could not be removed."""
        if recursive and paths and self._agent_usable():
            targets = [await self.absolute(p) for p in paths]
            try:
                result = await self._agent("fs_remove", {
                    "paths": targets, "recursive": True, "missing_ok": missing_ok},
                    targets[0], timeout=AGENT_IDLE_TIMEOUT)
            except _AgentCannotRun:
                pass
            else:
                failed_rows = result.get("failed") or []
                if isinstance(failed_rows, list) and failed_rows:
                    raise agent_failures(self.name, failed_rows)
                return
        failed: list[FilesError] = []
        for path in paths:  # every path tried, whatever failed before (rm's habit)
            full = await self.absolute(path)
            try:
                await self._remove_one(full, recursive)
            except RemoteNotFoundError as exc:
                if not missing_ok:
                    failed.append(exc)
            except FilesError as exc:
                failed.append(exc)
        if failed:
            raise several(failed)

    async def _remove_one(self, full: str, recursive: bool) -> None:
        entry = await self.lstat(full)
        if entry.kind != DIR:
            await self._call("remove", full, lambda s: s.remove(full), idempotent=False)
        elif recursive:
            await self._remove_tree_sftp(full)
        else:
            await self._call("remove", full, lambda s: s.rmdir(full), idempotent=False)

    async def _remove_tree_sftp(self, full: str) -> None:
        """``rm -r`` by SFTP, one request per name (for hosts where the agent cannot run)."""
        entries = [e async for rows in self._list_sftp(full, 1000) for e in rows]
        for entry in entries:
            child = posixpath.join(full, entry.name)
            if entry.kind == DIR:
                await self._remove_tree_sftp(child)
            else:
                await self._call("remove", child, _request("remove", child), idempotent=False)
        await self._call("remove", full, lambda s: s.rmdir(full), idempotent=False)

    # -- reading and writing -----------------------------------------------------------------

    async def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of file ``path`` from ``offset`` (fewer at its end)."""
        full = await self._regular_file(path)

        async def read(sftp: asyncssh.SFTPClient) -> bytes:
            handle = await sftp.open(full, "rb")
            try:
                data = await handle.read(length, offset)
            finally:
                self._close_later(handle)  # its answer is not waited for: a round trip less
            assert isinstance(data, bytes)
            return data

        return await self._call("read", full, read)

    async def read_chunks(self, path: str, *,
                          chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
        """File ``path`` from start to end, ``chunk`` bytes at a time (never all of it held)."""
        full = await self._regular_file(path)
        handle = await self._call("read", full, lambda s: s.open(full, "rb"))
        try:
            offset = 0
            while True:
                try:
                    data = await asyncio.wait_for(handle.read(chunk, offset), REQUEST_TIMEOUT)
                except TimeoutError as exc:
                    raise SSHError(f"{self.name}:{printable(full)}: no answer to a read "
                                   f"within {REQUEST_TIMEOUT:g} s") from exc
                except (asyncssh.Error, OSError) as exc:
                    raise await diagnose(self, exc, full, action="read") from exc
                if not data:
                    return
                assert isinstance(data, bytes)
                offset += len(data)
                yield data
        finally:
            self._close_later(handle)

    async def _regular_file(self, path: str) -> str:
        """``path`` made absolute, once it is known to be a file (links followed). A FIFO or
        a device is refused: OpenSSH's sftp-server, one thread for the whole session, would
        block in its open() (a FIFO with no writer) and answer nothing more."""
        full = await self.absolute(path)
        entry = await self.stat(full)
        if entry.kind == DIR:
            raise remote_error(WrongKindError, self.name, full, "is a directory")
        if entry.kind != FILE:
            what = special_kind(entry.mode) or "special file"
            raise remote_error(WrongKindError, self.name, full,
                               f"not a regular file (a {what})")
        return full

    def _close_later(self, handle: asyncssh.SFTPClientFile) -> None:
        """Close ``handle`` without waiting for the answer (bounded; errors ignored)."""
        async def close() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.close(), 10)

        task = asyncio.ensure_future(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def write_small(self, path: str, data: bytes) -> None:
        """Write file ``path`` whole, by a temporary name renamed over it at the end (a
        failure never leaves a half file under the name); an existing file keeps its mode,
        and a link keeps pointing at the file written."""
        full = await self.absolute(path)
        mode = 0o644
        try:
            entry = await self.lstat(full)
        except RemoteNotFoundError:
            entry = None
        if entry is not None and entry.kind == LINK:
            full = await self.resolve(full)
            entry = await self.lstat(full)
        if entry is not None:
            if entry.kind == DIR:
                raise remote_error(WrongKindError, self.name, full, "is a directory")
            mode = statmod.S_IMODE(entry.mode)
        folder, name = posixpath.split(full)
        temp = posixpath.join(folder, f".{name}.rtui-{secrets.token_hex(4)}.part")

        async def write(sftp: asyncssh.SFTPClient) -> None:
            async with sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=mode)) as handle:
                await handle.write(data, 0)
            await sftp.chmod(temp, mode)  # the server's umask may have taken bits away
            await sftp.posix_rename(temp, full)

        try:
            await self._call("write", temp, write, writing=True, idempotent=False,
                             report=full)
        except RtuiError:
            with contextlib.suppress(Exception):
                sftp = await self.sftp()
                await asyncio.wait_for(sftp.remove(temp), 10)
            raise

    # -- on the host, by the agent -----------------------------------------------------------

    def _agent_usable(self) -> bool:
        """False when the agent was found unable to run on this connection (then SFTP does
        what it can)."""
        if self._agent_generation != self.connection.generation:
            self._agent_missing = None
        return self._agent_missing is None

    def _note_agent(self, exc: AgentError) -> None:
        if exc.type in _NO_AGENT:
            self._agent_missing, self._agent_generation = exc, self.connection.generation

    async def _agent(self, op: str, args: dict[str, object], path: str, *,
                     on_progress: Callable[[float], None] | None = None,
                     timeout: float = REQUEST_TIMEOUT) -> dict[str, object]:
        """One agent request, its failure diagnosed at ``path``; ``timeout`` counts from
        its last progress. _AgentCannotRun when the agent cannot run on the host."""
        def progress(update: Progress) -> None:
            if on_progress is not None and update.fraction is not None:
                on_progress(float(update.fraction))

        try:
            result = await self.agent.request(op, args, timeout=timeout, on_progress=progress,
                                              idle_timeout=True)
        except AgentError as exc:
            self._note_agent(exc)
            if exc.type in _NO_AGENT:
                raise _AgentCannotRun(str(exc)) from exc
            raise await diagnose(self, exc, path) from exc
        return dict(result or {})

    async def _agent_only(self, op: str, args: dict[str, object], path: str, *,
                          on_progress: Callable[[float], None] | None = None,
                          timeout: float = REQUEST_TIMEOUT) -> dict[str, object]:
        """An agent request that SFTP cannot stand in for: a FilesError saying why when
        the agent cannot run."""
        try:
            return await self._agent(op, args, path, on_progress=on_progress, timeout=timeout)
        except _AgentCannotRun as exc:
            raise FilesError(f"{self.name}:{printable(path)}: this needs rtui's agent, which "
                             f"cannot run on {self.name}: {exc}") from exc

    async def copy(self, sources: Sequence[str], dest: str, *,
                   on_progress: Callable[[float], None] | None = None) -> Paths:
        """Copy on the host (nothing passes through here): into ``dest`` when it is a
        folder, else to the new name ``dest`` (one source). Folders whole, links as links;
        a FIFO, socket or device given is refused. The special files found inside folders
        are left out: their paths are returned (and logged)."""
        full = [await self.absolute(s) for s in sources]
        target = await self.absolute(dest)
        result = await self._agent_only("fs_copy", {"sources": full, "dest": target}, target,
                                        on_progress=on_progress, timeout=AGENT_IDLE_TIMEOUT)
        said = result.get("skipped")
        skipped = [p for p in said if isinstance(p, str)] if isinstance(said, list) else []
        if skipped:
            log.warning("%s: %d special file(s) (FIFO, socket, device) not copied, first %s",
                        self.name, len(skipped), printable(skipped[0]))
        return skipped

    async def du(self, paths: Sequence[str], *, time_limit: float = 0.5) -> DiskUsage:
        """Files, folders and bytes on disk under ``paths`` (what a delete removes); counted
        for ``time_limit`` seconds at most (then ``complete`` is False: lower bounds)."""
        full = [await self.absolute(p) for p in paths]
        if self._agent_usable():
            try:
                result = await self._agent("fs_du", {"paths": full, "time_limit": time_limit},
                                           full[0] if full else ".",
                                           timeout=time_limit + REQUEST_TIMEOUT)
            except _AgentCannotRun:
                pass
            else:
                return DiskUsage(_int(result.get("files")), _int(result.get("dirs")),
                                 _int(result.get("bytes")), bool(result.get("complete", True)))
        return await self._du_sftp(full, time_limit)

    async def _du_sftp(self, paths: Sequence[str], time_limit: float) -> DiskUsage:
        """``du`` by SFTP listings where the agent cannot run: sizes rather than blocks
        (SFTP v3 has none), a folder that cannot be read left out, as the agent does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_limit
        counts = {DIR: 0, "other": 0, "bytes": 0}

        def count(entry: Entry) -> None:
            counts[DIR if entry.kind == DIR else "other"] += 1
            counts["bytes"] += entry.size if entry.kind == FILE else 0

        folders: list[str] = []
        for path in paths:
            entry = await self.lstat(path)
            count(entry)
            if entry.kind == DIR:
                folders.append(path)
        complete = True
        while folders and complete:
            folder = folders.pop()
            with contextlib.suppress(FilesError):
                async with contextlib.aclosing(self._list_sftp(folder, 1000)) as batches:
                    async for rows in batches:
                        for entry in rows:
                            count(entry)
                            if entry.kind == DIR:
                                folders.append(posixpath.join(folder, entry.name))
                        if loop.time() > deadline:
                            complete = False
                            break
        return DiskUsage(counts["other"], counts[DIR], counts["bytes"], complete)

    async def checksum(self, path: str, *,
                       on_progress: Callable[[float], None] | None = None) -> str:
        """The SHA-256 of file ``path`` (hex): computed on the host by the agent, or where
        it cannot run, from the bytes read by SFTP (slower: they cross the link)."""
        full = await self.absolute(path)
        if self._agent_usable():
            try:
                result = await self._agent("fs_checksum", {"path": full, "algo": "sha256"},
                                           full, on_progress=on_progress,
                                           timeout=AGENT_IDLE_TIMEOUT)
            except _AgentCannotRun:
                pass
            else:
                return str(result.get("hex", ""))
        return await self._checksum_sftp(full, on_progress)

    async def _checksum_sftp(self, full: str,
                             on_progress: Callable[[float], None] | None) -> str:
        entry = await self.stat(full)
        if entry.is_dir:
            raise remote_error(WrongKindError, self.name, full, "is a directory")
        digest = hashlib.sha256()
        done = 0
        async for data in self.read_chunks(full, chunk=1024 * 1024):
            digest.update(data)
            done += len(data)
            if on_progress is not None and entry.size:
                on_progress(min(1.0, done / entry.size))
        if on_progress is not None:
            on_progress(1.0)
        return digest.hexdigest()


@contextlib.contextmanager
def _paused(bound: asyncio.Timeout) -> Iterator[None]:
    """No timeout while the caller holds a batch (a reader may take its time)."""
    bound.reschedule(None)
    try:
        yield
    finally:
        bound.reschedule(asyncio.get_running_loop().time() + REQUEST_TIMEOUT)


def _request(method: str, path: str) -> Callable[[asyncssh.SFTPClient], Awaitable[None]]:
    """The SFTP client's ``method`` on ``path`` (one path, no answer), as a request."""
    async def request(sftp: asyncssh.SFTPClient) -> None:
        await getattr(sftp, method)(path)

    return request


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) or "/"


def _entry(name: str, attrs: asyncssh.SFTPAttrs) -> Entry:
    mode = attrs.permissions or 0
    return Entry(name, kind_of_mode(mode), attrs.size or 0, float(attrs.mtime or 0), mode)


async def _with_target(sftp: asyncssh.SFTPClient, path: str, entry: Entry) -> Entry:
    """A link's entry with what it says and what it leads to (None: nowhere, a loop)."""
    target: str | None = None
    kind: str | None = None
    with contextlib.suppress(asyncssh.Error, TimeoutError):
        said = await asyncio.wait_for(sftp.readlink(path), REQUEST_TIMEOUT)
        target = said if isinstance(said, str) else None
    with contextlib.suppress(asyncssh.Error, TimeoutError):
        attrs = await asyncio.wait_for(sftp.stat(path), REQUEST_TIMEOUT)
        kind = kind_of_mode(attrs.permissions or 0)
    return Entry(entry.name, entry.kind, entry.size, entry.mtime, entry.mode, target, kind)


async def _with_targets(sftp: asyncssh.SFTPClient, folder: str, rows: Entries) -> Entries:
    """``rows`` with the links' targets looked up (all at once)."""
    links = [i for i, e in enumerate(rows) if e.kind == LINK]
    if links:
        found = await asyncio.gather(*(
            _with_target(sftp, posixpath.join(folder, rows[i].name), rows[i]) for i in links))
        for i, entry in zip(links, found, strict=True):
            rows[i] = entry
    return rows

