"""The transfer engine: files and whole folders up, down and from host to host (through this
machine), with progress, cancel, resume, an optional checksum and change detection.

``transfer(workspace, spec)`` resolves the sources and the target with scp's habits (an
existing directory receives the sources; several sources need one; a directory needs
``recursive``), walks folders for a total, then copies: single files through the pipelined
engine (filecopy), a folder's small files as one tar stream (tree). Nothing is ever written
under a final name until it is whole: parts, then a rename.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rtui.core.errors import FilesError, WrongKindError
from rtui.core.files.filecopy import CopyOptions, copy_file
from rtui.core.files.model import DIR, FILE, LINK
from rtui.core.files.parts import Tuning
from rtui.core.files.paths import Local, Location, Remote
from rtui.core.files.progress import ProgressMeter, TransferProgress
from rtui.core.files.remote_side import RemoteSide
from rtui.core.files.sides import FileInfo, LocalSide, Side

if TYPE_CHECKING:
    from rtui.core.workspace import Workspace

__all__ = ["TransferProgress", "TransferResult", "TransferSpec", "Tuning", "transfer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferSpec:
    """What to copy where: ``sources`` to ``dest`` (either side may be a host's).
    ``recursive`` copies folders; ``resume`` goes on from parts left by a broken copy;
    ``checksum`` compares sha256 of both ends; ``preserve`` keeps mtimes (modes are always
    kept); ``follow_links`` copies what links in a folder point at (``-L``)."""

    sources: tuple[Location, ...]
    dest: Location
    recursive: bool = False
    resume: bool = False
    checksum: bool = False
    preserve: bool = True
    follow_links: bool = False


@dataclass(frozen=True)
class TransferResult:
    """What a job did: files copied, bytes moved now, files skipped (already complete, on a
    resume), bytes found in parts and kept, and how long it took; ``special``: the FIFOs,
    sockets and devices found in folders and left out (each where it is)."""

    files: int
    bytes: int
    skipped: int
    resumed_from: int
    seconds: float
    special: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """A resolved source: its side, path, what it is, and where it goes."""

    side: Side
    path: str
    info: FileInfo
    target: str


async def transfer(workspace: Workspace, spec: TransferSpec, *,
                   on_progress: Callable[[TransferProgress], None] | None = None,
                   tuning: Tuning | None = None,
                   keep_part_on_cancel: bool | Callable[[], bool] = False) -> TransferResult:
    """Run one job. Raises FilesError kinds (SSHError when a connection went); a cancel of
    the awaiting task removes the part of the file under way, unless
    ``keep_part_on_cancel`` says to keep it (an interrupted CLI run, kept for ``--resume``).
    Any failure keeps the part, which ``resume`` goes on from."""
    began = time.monotonic()
    keep = keep_part_on_cancel if callable(keep_part_on_cancel) else (
        lambda: bool(keep_part_on_cancel))
    options = CopyOptions(resume=spec.resume, checksum=spec.checksum, preserve=spec.preserve,
                          tuning=tuning or Tuning(), keep_part_on_cancel=keep)
    sides = _Sides(workspace)
    dst_side = await sides.side(spec.dest)
    dest = await sides.path(spec.dest)
    sources = await _resolve(sides, spec, dst_side, dest)
    folders = [s for s in sources if s.info.kind == DIR]
    files = [s for s in sources if s.info.kind != DIR]
    meter = ProgressMeter(sum(s.info.size for s in files), len(files), on_progress)
    plans = []
    if folders:
        from rtui.core.files.tree import plan_folder

        for source in folders:
            plan = await plan_folder(source.side, source.path, dst_side, source.target,
                                     options, spec.follow_links, source.info)
            meter.grow(plan.total_bytes, plan.total_files)
            plans.append(plan)
    sent = resumed = copied = skipped = 0
    for source in files:
        outcome = await copy_file(source.side, source.path, dst_side, source.target,
                                  source.info, options, meter)
        sent, resumed, copied = sent + outcome.sent, resumed + outcome.resumed_from, copied + 1
    for plan in plans:
        outcome_tree = await plan.run(meter)
        sent += outcome_tree.sent
        resumed += outcome_tree.resumed_from
        copied += outcome_tree.files
        skipped += outcome_tree.skipped
    meter.finish()
    special = tuple(plan.src.where(posixpath.join(plan.src_root, rel))
                    for plan in plans for rel in plan.special)
    if special:
        log.warning("%d special file(s) (FIFO, socket, device) not copied, first %s",
                    len(special), special[0])
    return TransferResult(copied, sent, skipped, resumed, time.monotonic() - began, special)


class _Sides:
    """The side of each location (one per host), and its paths made usable."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._local = LocalSide()
        self._remote: dict[str, RemoteSide] = {}

    async def side(self, location: Location) -> Side:
        if isinstance(location, Local):
            return self._local
        side = self._remote.get(location.host)
        if side is None:
            files = await self.workspace.files(location.host)
            side = self._remote[location.host] = RemoteSide(files)
        return side

    async def path(self, location: Location) -> str:
        """A local path with ``~`` expanded; a remote one made absolute as HostFiles does
        (``~`` and relative paths from the login's home, the agent's, which SFTP's start
        folder need not be: an sshd that sets HOME)."""
        if isinstance(location, Local):
            return _local_path(location.path)
        assert isinstance(location, Remote)
        side = await self.side(location)
        assert isinstance(side, RemoteSide)
        full = await side.files.absolute(location.path or ".")
        return posixpath.normpath(full) if full.rstrip("/") else "/"


async def _resolve(sides: _Sides, spec: TransferSpec, dst_side: Side, dest: str
                   ) -> list[Source]:
    """Each source with what it is and its target, scp's way: into ``dest`` when it is a
    directory, else as ``dest``; several sources need a directory."""
    if not spec.sources:
        raise FilesError("nothing to copy: no source given")
    dest_info = await dst_side.info_or_none(dest)
    into = dest_info is not None and dest_info.kind == DIR
    if len(spec.sources) > 1 and not into:
        what = "does not exist" if dest_info is None else "is not a directory"
        raise WrongKindError(f"{dst_side.where(dest)} {what}: copying several sources needs "
                             "an existing directory")
    if not into and spec.dest.path.endswith("/"):
        raise WrongKindError(f"{dst_side.where(dest)} is not a directory")
    resolved = []
    for location in spec.sources:
        side = await sides.side(location)
        path = await sides.path(location)
        info = await side.info(path)
        if info.kind == DIR and not spec.recursive:
            raise WrongKindError(f"{side.where(path)} is a directory: copy it recursively "
                                 "(-r)")
        if info.kind not in (FILE, DIR, LINK):  # never opened: a FIFO would block its reader
            raise WrongKindError(f"{side.where(path)}: not a regular file (a "
                                 f"{info.special or 'special file'}): not copied")
        name = posixpath.basename(path.rstrip("/"))  # "" for "/": its contents go in dest
        target = posixpath.join(dest, name) if into and name else dest
        if (into and spec.resume and info.kind == DIR and len(spec.sources) == 1
                and await dst_side.info_or_none(target) is None):
            target = dest  # the broken copy made ``dest`` itself: go on in it
        resolved.append(Source(side, path, info, target))
    return resolved


def _local_path(path: str) -> str:
    """``~`` expanded (the environment's HOME) and made absolute and normal, so ``.`` and
    ``..`` have a name to copy under."""
    if path == "~" or path.startswith("~/"):
        path = os.environ.get("HOME", "~") + path[1:]
    return os.path.abspath(path)
