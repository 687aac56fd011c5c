"""Whole folders: walk the source for a plan (a total for the ETA), make the folders, then
copy the small files and links as one tar stream while the big files go through the
pipelined engine, two at a time; folders get their modes and mtimes last. Where the host's
agent cannot run (no Python), the small files go one by one over SFTP instead.

A resume walks the target too and skips the files already there whole (same size, and same
mtime when mtimes are kept); a big file half done goes on from its part. Failures of single
members do not stop the others (scp's habit): they are said together at the end.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from rtui.core.errors import (
    ChangedDuringTransferError,
    DiskFullError,
    FilesError,
    LinkLoopError,
    RemoteNotFoundError,
    RemotePermissionError,
    RtuiError,
    SSHError,
)
from rtui.core.files.filecopy import CopyOptions, copy_file
from rtui.core.files.model import DIR, FILE, LINK
from rtui.core.files.paths import printable
from rtui.core.files.progress import ProgressMeter
from rtui.core.files.remote_side import RemoteSide
from rtui.core.files.sides import FileInfo, Side
from rtui.core.files.tarpipe import StreamOutcome, StreamUnavailable, tar_stream
from rtui.core.files.walk import Node, Walk, walk_local, walk_remote

__all__ = ["FolderPlan", "TreeOutcome", "plan_folder"]

_KINDS: dict[str, type[FilesError]] = {
    "disk_full": DiskFullError, "permission": RemotePermissionError,
    "not_found": RemoteNotFoundError, "link_loop": LinkLoopError,
}
_WORDS = {"disk_full": "disk full", "permission": "permission denied",
          "not_found": "no such file or directory", "link_loop": "symlink loop"}
_SHOWN = 5  # failures named in a message; the rest are counted
_ONE_BY_ONE = 8  # small files copied at once where the agent cannot run (no tar stream)


@dataclass(frozen=True)
class TreeOutcome:
    files: int
    sent: int
    skipped: int
    resumed_from: int


@dataclass
class FolderPlan:
    """What copying one folder will do (see ``plan_folder``), and its ``run``."""

    src: Side
    src_root: str
    dst: Side
    dst_root: str
    options: CopyOptions
    follow: bool
    top: FileInfo | None = None  # the source folder itself
    dirs: list[Node] = field(default_factory=list)
    stream: list[Node] = field(default_factory=list)  # small files and links
    big: list[Node] = field(default_factory=list)
    skipped: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # rel, type, words
    special: list[str] = field(default_factory=list)  # FIFOs, sockets, devices: left out

    @property
    def total_bytes(self) -> int:
        return sum(n.size for n in self.stream) + sum(n.size for n in self.big)

    @property
    def total_files(self) -> int:
        return sum(1 for n in self.stream if n.kind == FILE) + len(self.big)

    async def run(self, meter: ProgressMeter) -> TreeOutcome:
        """Copy it all; FilesError (or SSHError) naming what failed, once the rest is done."""
        await _make_dirs(self.dst, self.dst_root, [n.rel for n in self.dirs])
        stream_task = asyncio.ensure_future(self._small_files(meter))
        big_task = asyncio.ensure_future(self._big_files(meter))
        try:
            await asyncio.wait([stream_task, big_task])
        finally:
            for task in (stream_task, big_task):
                task.cancel()
            await asyncio.gather(stream_task, big_task, return_exceptions=True)
        failures: list[RtuiError] = []
        stream = None
        if stream_task.exception() is not None:
            failures.append(_as_rtui(stream_task.exception()))
        else:
            stream = stream_task.result()
        sent, resumed, copied, big_failures = big_task.result()
        failures += big_failures
        await _set_dir_attrs(self.dst, self.dst_root, self.dirs, self.top,
                             self.options.preserve)
        problems = list(self.problems)
        changed: list[str] = []
        if stream is not None:
            problems += stream.errors
            changed = stream.changed
            failures += stream.failures
            sent += stream.bytes
            copied += stream.files
        self._raise_failures(failures, problems, changed)
        return TreeOutcome(copied, sent, self.skipped, resumed)

    async def _small_files(self, meter: ProgressMeter) -> StreamOutcome:
        """The small files and links as one tar stream; where the agent cannot run, one at
        a time over SFTP (a few at once)."""
        rels = [n.rel for n in self.stream]
        try:
            return await tar_stream(self.src, self.src_root, self.dst, self.dst_root, rels,
                                    follow=self.follow, preserve=self.options.preserve,
                                    meter=meter)
        except StreamUnavailable:
            return await self._one_by_one(meter)

    async def _one_by_one(self, meter: ProgressMeter) -> StreamOutcome:
        outcome = StreamOutcome()
        queue = list(self.stream)

        async def worker() -> None:
            while queue:
                node = queue.pop(0)
                src = posixpath.join(self.src_root, node.rel)
                dst = posixpath.join(self.dst_root, node.rel)
                try:
                    if node.kind == LINK and node.target is not None:
                        await self.dst.symlink(node.target, dst)
                        continue
                    info = FileInfo(FILE, node.size, node.mtime, node.mode)
                    done = await copy_file(self.src, src, self.dst, dst, info, self.options,
                                           meter)
                except ChangedDuringTransferError:
                    outcome.changed.append(node.rel)
                except RtuiError as exc:
                    outcome.failures.append(exc)
                    if isinstance(exc, SSHError):
                        queue.clear()
                else:
                    outcome.files += 1
                    outcome.bytes += done.sent

        await asyncio.gather(*(worker() for _ in range(_ONE_BY_ONE)))
        return outcome

    async def _big_files(self, meter: ProgressMeter
                         ) -> tuple[int, int, int, list[RtuiError]]:
        """The big files, ``parallel_files`` at a time: bytes sent, resumed, files copied,
        and the failures (a lost connection stops the rest)."""
        queue = list(self.big)
        sent = resumed = copied = 0
        failures: list[RtuiError] = []

        async def worker() -> None:
            nonlocal sent, resumed, copied
            while queue and not any(isinstance(f, SSHError) for f in failures):
                node = queue.pop(0)
                info = FileInfo(FILE, node.size, node.mtime, node.mode)
                try:
                    outcome = await copy_file(
                        self.src, posixpath.join(self.src_root, node.rel), self.dst,
                        posixpath.join(self.dst_root, node.rel), info, self.options, meter)
                except RtuiError as exc:
                    failures.append(exc)
                    continue
                sent, resumed, copied = (sent + outcome.sent, resumed + outcome.resumed_from,
                                         copied + 1)

        workers = max(1, self.options.tuning.parallel_files)
        await asyncio.gather(*(worker() for _ in range(min(workers, len(self.big)) or 1)))
        return sent, resumed, copied, failures

    def _raise_failures(self, failures: list[RtuiError], problems: list[tuple[str, str, str]],
                        changed: list[str]) -> None:
        where = self.src.where(self.src_root)
        lost = [f for f in failures if isinstance(f, SSHError)]
        if lost:
            raise lost[0]
        if changed:
            names = ", ".join(printable(n) for n in changed[:_SHOWN])
            more = f" and {len(changed) - _SHOWN} more" if len(changed) > _SHOWN else ""
            raise ChangedDuringTransferError(
                f"{len(changed)} file(s) under {where} changed while they were copied and "
                f"were not copied: {names}{more}; copy again once they are stable")
        if not failures and not problems:
            return
        words = [f"{printable(rel) or '.'}: {_WORDS.get(kind, message)}"
                 for rel, kind, message in problems]
        words += [str(f) for f in failures]
        kinds = [_KINDS.get(kind, FilesError) for _, kind, _ in problems]
        kinds += [type(f) for f in failures if isinstance(f, FilesError)]
        kind = DiskFullError if DiskFullError in kinds else (kinds[0] if kinds else FilesError)
        more = f"; and {len(words) - _SHOWN} more" if len(words) > _SHOWN else ""
        raise kind(f"{len(words)} item(s) under {where} were not copied: "
                   + "; ".join(words[:_SHOWN]) + more)


def _as_rtui(exc: BaseException | None) -> RtuiError:
    if isinstance(exc, RtuiError):
        return exc
    return FilesError(str(exc))


async def walk(side: Side, root: str, *, follow: bool = False) -> Walk:
    if isinstance(side, RemoteSide):
        return await walk_remote(side, root, follow=follow)
    return await walk_local(root, follow=follow)


async def plan_folder(src: Side, src_root: str, dst: Side, dst_root: str,
                      options: CopyOptions, follow: bool, top: FileInfo | None = None
                      ) -> FolderPlan:
    """Walk ``src_root`` (and with ``resume`` the target) and sort what is there: folders to
    make, small files and links for the stream, big files for the engine."""
    plan = FolderPlan(src, src_root, dst, dst_root, options, follow, top)
    tree = await walk(src, src_root, follow=follow)
    plan.problems += [(rel, "io", message) for rel, message in tree.errors]
    there: dict[str, Node] = {}
    if options.resume:
        target = await dst.info_or_none(dst_root)
        if target is not None and target.kind == DIR:
            there = {n.rel: n for n in (await walk(dst, dst_root)).nodes}
    small = options.tuning.small_file
    for node in tree.nodes:
        done = there.get(node.rel)
        if node.kind == DIR:
            plan.dirs.append(node)
        elif node.kind == LINK:
            if done is not None and done.kind == LINK and done.target == node.target:
                plan.skipped += 1
            else:
                plan.stream.append(node)
        elif node.kind == FILE:
            if done is not None and done.kind == FILE and done.size == node.size and (
                    not options.preserve or int(done.mtime) == int(node.mtime)):
                plan.skipped += 1
            else:
                (plan.stream if node.size < small else plan.big).append(node)
        else:  # never opened (a FIFO would block): left out, and counted
            plan.special.append(node.rel)
    return plan


async def _make_dirs(side: Side, root: str, rels: Sequence[str]) -> None:
    """``root`` and its folders ``rels`` (parents before children, as walked)."""
    await side.mkdir(root)
    await side.make_dirs([posixpath.join(root, rel) for rel in rels])


async def _set_dir_attrs(side: Side, root: str, dirs: Sequence[Node], top: FileInfo | None,
                         preserve: bool) -> None:
    """Folders' modes (and mtimes when kept), deepest first: writing in a folder changes
    its mtime, and a read-only folder must stay writable until its files are in."""
    items = [(posixpath.join(root, n.rel), n.mode, n.mtime if preserve else None)
             for n in sorted(dirs, key=lambda n: -n.rel.count("/"))]
    if top is not None:
        items.append((root, top.mode, top.mtime if preserve else None))
    await side.set_dir_attrs(items)
