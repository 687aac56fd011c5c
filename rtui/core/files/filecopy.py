"""One file from one side to the other: pipelined blocks into a part, resumed from the part
when asked, checked for a change of the source, optionally checksummed, then renamed.

The window (DESIGN16 §2): blocks are issued in order, at most ``window`` reads and
``window`` writes outstanding, so a part's bytes more than ``(reordering windows + 1)``
blocks below its end were all written: a resume starts there, with no state file.
"""

from __future__ import annotations

import asyncio
import copy
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from rtui.core.errors import (
    ChangedDuringTransferError,
    ChecksumMismatchError,
    DiskFullError,
    FilesError,
    RtuiError,
)
from rtui.core.files.model import FILE
from rtui.core.files.parts import Tuning, part_name, resume_offset
from rtui.core.files.paths import printable
from rtui.core.files.progress import ProgressMeter
from rtui.core.files.sides import FileInfo, Side

__all__ = ["CopyOptions", "FileOutcome", "copy_file", "geometry", "noted"]

DEFAULT_BLOCK = 256 * 1024


@dataclass(frozen=True)
class CopyOptions:
    """What a job asks of each file copy; ``keep_part_on_cancel`` is asked when a cancel
    comes (a person's cancel removes the part; an interrupted run keeps it to resume)."""

    resume: bool = False
    checksum: bool = False
    preserve: bool = True
    tuning: Tuning = field(default_factory=Tuning)
    keep_part_on_cancel: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class FileOutcome:
    sent: int  # bytes moved now
    resumed_from: int  # bytes found in the part and kept


def noted(exc: RtuiError, note: str) -> RtuiError:
    """``exc`` again, its message ending with ``note``."""
    new = copy.copy(exc)
    new.message = f"{exc.message}; {note}"
    new.args = (new.message,)
    return new


async def geometry(src: Side, dst: Side, tuning: Tuning) -> tuple[int, int, int]:
    """Block size, requests in flight and the resume window for a copy from ``src`` to
    ``dst``: blocks as large as both servers take, ``max_requests`` of them in flight per
    remote side, and the window as wide as the reorderings that can leave holes."""
    limits = [x for x in (await src.block_limit(), await dst.block_limit()) if x is not None]
    remote_sides = len(limits)
    if not limits:
        return tuning.local_block, 1, tuning.local_block
    block = min([tuning.block or DEFAULT_BLOCK, *limits])
    window = tuning.max_requests
    return block, window, (remote_sides * window + 1) * block


async def copy_file(src: Side, src_path: str, dst: Side, final: str, info: FileInfo,
                    options: CopyOptions, meter: ProgressMeter) -> FileOutcome:
    """Copy the regular file ``src_path`` (as ``info`` found it) to ``final``. Failure keeps
    the part (a resume goes on from it); a cancel removes it unless the options keep it."""
    block, window, margin = await geometry(src, dst, options.tuning)
    part = part_name(final, src.key(src_path), info.size, info.mtime)
    start = 0
    if options.resume:
        existing = await dst.info_or_none(part, follow=False)
        if existing is not None and existing.kind == FILE and existing.size <= info.size:
            start = resume_offset(existing.size, info.size, margin)
    meter.start_file(printable(posixpath.basename(final)))
    meter.add(start)
    try:
        writer = await dst.open_part(part, fresh=start == 0, block=block, window=window)
    except FilesError as exc:  # named by the file asked for, not by its part's name
        raise type(exc)(str(exc).replace(dst.where(part), dst.where(final)),
                        exc.title) from exc
    sent = 0

    async def deliver(offset: int, data: bytes) -> None:
        nonlocal sent
        await writer.write(offset, data)
        sent += len(data)
        meter.add(len(data))

    try:
        try:
            got = await src.pump(src_path, start, info.size - start, block, window, deliver)
            await writer.flush()
        finally:
            await asyncio.shield(writer.close())
        if got < info.size - start:
            raise _changed(src, src_path, dst, part, f"it ended at {start + got} bytes, "
                           f"not {info.size}")
        now = await src.info(src_path)
        if now.size != info.size or int(now.mtime) != int(info.mtime):
            raise _changed(src, src_path, dst, part,
                           f"size {info.size} → {now.size}, mtime {int(info.mtime)} → "
                           f"{int(now.mtime)}")
        if options.checksum:
            await _compare_checksums(src, src_path, dst, part)
        await dst.finish(part, final, info, preserve=options.preserve)
    except asyncio.CancelledError:
        if not options.keep_part_on_cancel():
            await asyncio.shield(dst.remove_quietly(part))
        raise
    except DiskFullError as exc:
        await dst.remove_quietly(part)  # nothing to resume on a full disk: free the space
        raise noted(exc, f"the partial copy {dst.where(part)} was removed") from exc
    except RtuiError as exc:
        if start + sent == 0:  # nothing in it worth keeping (the source could not be read)
            await dst.remove_quietly(part)
            raise
        if isinstance(exc, ChangedDuringTransferError | ChecksumMismatchError):
            raise
        raise noted(exc, f"{start + sent} bytes are kept in {dst.where(part)}: "
                    "resume to go on from there") from exc
    meter.file_done()
    return FileOutcome(sent, start)


def _changed(src: Side, src_path: str, dst: Side, part: str, how: str
             ) -> ChangedDuringTransferError:
    return ChangedDuringTransferError(
        f"{src.where(src_path)} changed while it was copied ({how}): the copy is not a "
        f"snapshot of it, so it is left as {dst.where(part)} and the target is untouched; "
        "copy it again once it is stable")


async def _compare_checksums(src: Side, src_path: str, dst: Side, part: str) -> None:
    """sha256 on both sides at once (the agent's on a host, hashlib in a thread here); a
    mismatch removes the part (it cannot be resumed from)."""
    ours, theirs = await asyncio.gather(src.checksum(src_path), dst.checksum(part))
    if ours != theirs:
        await dst.remove_quietly(part)
        raise ChecksumMismatchError(
            f"the copy of {src.where(src_path)} differs from it (sha256 {ours[:12]}… here, "
            f"{theirs[:12]}… in the copy): the copy was removed, copy it again")

