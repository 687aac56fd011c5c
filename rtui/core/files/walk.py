"""A folder's whole tree, for a transfer's plan: here with ``os.scandir`` (in a thread), on a
host with the agent's ``fs_walk`` (streamed rows), or over SFTP when the agent cannot run or
links are to be followed (``-L``: followed by hand, loops cut by their real paths).

Each name comes as a ``Node``: its path relative to the root ("/"-separated), kind, size,
mtime, permission bits and a link's target. Our own part files are left out.
"""

from __future__ import annotations

import asyncio
import errno
import os
import posixpath
import stat as statmod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncssh

from rtui.core.errors import FilesError, RtuiError
from rtui.core.files.model import DIR, FILE, LINK, kind_of_mode
from rtui.core.files.parts import is_part_name

if TYPE_CHECKING:
    from rtui.core.files.remote_side import RemoteSide

__all__ = ["Node", "Walk", "walk_local", "walk_remote"]

_LISTINGS_AT_ONCE = 16  # SFTP directory listings in flight
_NO_AGENT = {"no_python", "old_python", "start", "unknown_op", "bad_request"}


@dataclass(frozen=True)
class Node:
    rel: str
    kind: str
    size: int
    mtime: float
    mode: int
    target: str | None = None


@dataclass
class Walk:
    """The tree under a root, and what could not be read in it (``[rel, message]``)."""

    nodes: list[Node]
    errors: list[tuple[str, str]]


def _skip(rel: str) -> bool:
    return is_part_name(posixpath.basename(rel))


# -- here ------------------------------------------------------------------------------------


def _walk_local_sync(root: str, follow: bool) -> Walk:
    nodes: list[Node] = []
    errors: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    if follow:
        st = os.stat(root)
        seen.add((st.st_dev, st.st_ino))
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append((rel_dir, _local_words(exc)))
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if _skip(rel):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                target = None
                if statmod.S_ISLNK(st.st_mode):
                    target = os.readlink(entry.path)
                    if follow:
                        st = entry.stat(follow_symlinks=True)
                        target = None
            except OSError as exc:
                errors.append((rel, _local_words(exc)))
                continue
            kind = kind_of_mode(st.st_mode)
            if kind == DIR:
                if follow:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        errors.append((rel, "symlink loop: a folder met again, not copied"))
                        continue
                    seen.add(key)
                stack.append(rel)
            nodes.append(Node(rel, kind, st.st_size if kind == FILE else 0, st.st_mtime,
                              statmod.S_IMODE(st.st_mode), target))
    return Walk(nodes, errors)


def _local_words(exc: OSError) -> str:
    return {errno.ELOOP: "symlink loop", errno.EACCES: "permission denied",
            errno.ENOENT: "no such file or directory"}.get(
        exc.errno or 0, (exc.strerror or str(exc)).lower())


async def walk_local(root: str, *, follow: bool = False) -> Walk:
    """The tree under ``root`` on this machine (in a thread)."""
    try:
        return await asyncio.to_thread(_walk_local_sync, root, follow)
    except OSError as exc:
        from rtui.core.files.diagnose import local_error

        raise local_error(exc, root) from exc


# -- on a host -------------------------------------------------------------------------------


async def walk_remote(side: RemoteSide, root: str, *, follow: bool = False) -> Walk:
    """The tree under ``root`` on the side's host: the agent's ``fs_walk``, or SFTP when
    the agent cannot run there or links are followed."""
    if not follow:
        walk = await _walk_agent(side, root)
        if walk is not None:
            return walk
    return await _walk_sftp(side, root, follow)


async def _walk_agent(side: RemoteSide, root: str) -> Walk | None:
    from rtui.core.remote.client import AgentError

    nodes: list[Node] = []

    def rows(batch: list[Any]) -> None:
        for row in batch:
            rel, kind, size, mtime, mode, target = row[:6]
            if not _skip(str(rel)):
                nodes.append(Node(str(rel), str(kind), int(size) if kind == FILE else 0,
                                  float(mtime), statmod.S_IMODE(int(mode)),
                                  None if target is None else str(target)))

    try:
        result = await side.files.agent.request("fs_walk", {"path": root}, on_rows=rows,
                                                idle_timeout=True)
    except AgentError as exc:
        if exc.type in _NO_AGENT:
            return None
        raise await side.failure(exc, root, action="list") from exc
    errors = [(str(rel), str(message)) for rel, message in result.get("errors", [])]
    return Walk(nodes, errors)


async def _walk_sftp(side: RemoteSide, root: str, follow: bool) -> Walk:
    sftp = await side.sftp()
    nodes: list[Node] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    gate = asyncio.Semaphore(_LISTINGS_AT_ONCE)
    if follow:
        seen.add(str(await sftp.realpath(root)))

    async def listing(rel_dir: str) -> list[str]:
        """The names of one directory as nodes; the sub-directories to walk next."""
        where = posixpath.join(root, rel_dir) if rel_dir else root
        subdirs: list[str] = []
        try:
            async with gate:
                names = [n async for n in sftp.scandir(where)]
        except (asyncssh.Error, OSError) as exc:
            errors.append((rel_dir, _words(await side.failure(exc, where, action="list"))))
            return []
        for name in sorted(names, key=lambda n: str(n.filename)):
            filename = str(name.filename)
            if filename in (".", ".."):
                continue
            rel = f"{rel_dir}/{filename}" if rel_dir else filename
            if _skip(rel):
                continue
            attrs, full = name.attrs, posixpath.join(where, filename)
            kind = kind_of_mode(attrs.permissions or 0)
            target = None
            try:
                if kind == LINK and follow:
                    attrs = await sftp.stat(full)
                    kind = kind_of_mode(attrs.permissions or 0)
                    if kind == DIR:
                        real = str(await sftp.realpath(full))
                        if real in seen:
                            errors.append((rel, "symlink loop: a folder met again, not "
                                                "copied"))
                            continue
                        seen.add(real)
                elif kind == LINK:
                    target = str(await sftp.readlink(full))
            except (asyncssh.Error, OSError) as exc:
                errors.append((rel, _words(await side.failure(exc, full, action="stat"))))
                continue
            if kind == DIR:
                subdirs.append(rel)
            nodes.append(Node(rel, kind, (attrs.size or 0) if kind == FILE else 0,
                              float(attrs.mtime or 0),
                              statmod.S_IMODE(attrs.permissions or 0), target))
        return subdirs

    level = [""]
    while level:
        found = await asyncio.gather(*(listing(rel) for rel in level))
        level = [rel for subdirs in found for rel in subdirs]
    if not nodes and errors and errors[0][0] == "":
        raise FilesError(f"{side.where(root)}: {errors[0][1]}")
    return Walk(nodes, errors)


def _words(error: RtuiError) -> str:
    """An error's words without the place (the walk names it itself)."""
    text = str(error)
    head, sep, tail = text.partition(": ")
    return tail if sep and ":" in head else text

