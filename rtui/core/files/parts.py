"""Part files: where a copy is written until it is whole, and where a retry resumes.

A copy goes to ``.NAME.rtui-HASH.part`` beside its final name and is renamed at the end, so
an interrupted copy never leaves a half file under the real name. ``HASH`` comes from the
source (where, size, mtime): a retry finds its part, and a source that changed since never
resumes a stale one. No state file: blocks are issued in order with at most a window of
them outstanding, so everything more than that window below the part's size was written.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

__all__ = ["PART_SUFFIX", "Tuning", "is_part_name", "part_name", "resume_offset"]

PART_SUFFIX = ".part"
TAR_PART_SUFFIX = ".rtui-part"
_MARK = ".rtui-"


@dataclass(frozen=True)
class Tuning:
    """How a transfer moves bytes. ``block`` None: the server's limit (255 KiB for
    OpenSSH); ``max_requests`` SFTP requests in flight per file (DESIGN16 §0.8);
    ``small_file``: files of a folder below it go in the tar stream; ``parallel_files``:
    big files of a folder copied at once."""

    block: int | None = None
    max_requests: int = 64
    small_file: int = 1 << 20
    parallel_files: int = 2
    local_block: int = 1 << 20  # a block when both sides are here


def part_name(final: str, source: str, size: int, mtime: float) -> str:
    """The part's path for a copy of ``source`` (its location's text, its size and mtime)
    to ``final`` (a POSIX path on either side)."""
    key = f"{source}\0{size}\0{int(mtime)}".encode("utf-8", "surrogateescape")
    digest = hashlib.sha1(key, usedforsecurity=False).hexdigest()[:10]
    directory, name = posixpath.split(final)
    return posixpath.join(directory, f".{name}{_MARK}{digest}{PART_SUFFIX}")


def is_part_name(name: str) -> bool:
    """Whether a file name is one of our parts, the engine's or a tar stream's
    (``.NAME.rtui-part``, see rtui/agent/tarstream.py): a folder copy skips them."""
    return name.startswith(".") and (name.endswith(TAR_PART_SUFFIX) or (
        name.endswith(PART_SUFFIX) and _MARK in name))


def resume_offset(part_size: int, source_size: int, window: int) -> int:
    """Where a copy resumes given the part's size: ``window`` bytes (the most that can have
    been in flight, out of order) below its end, never past the source's size."""
    return max(0, min(part_size, source_size) - window)
