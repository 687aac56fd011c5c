"""Saving a console's output (a plot, an unknown mime's bytes) to this machine or to the host.

Its own module because the Plots tab, the console's output pane and the CLI share one rule
set: a name to offer, writing whole or not at all (a temporary name renamed at the end), never
over an existing file, and a message a person can act on when it fails (no such folder, no
permission, disk full).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rtui.core.errors import RtuiError

if TYPE_CHECKING:
    from rtui.core.files.service import HostFiles

__all__ = ["SaveError", "default_name", "save_local", "save_to_host"]


class SaveError(RtuiError):
    """The output could not be saved where asked; nothing was written under that name."""


def default_name(host: str, seq: int, suffix: str, when: float | None = None) -> str:
    """"lab-plot-3-20261207-1203.png": the host, the image's number and when it was shown."""
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(when or time.time()))
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in host)
    return f"{safe}-plot-{seq}-{stamp}{suffix}"


def save_local(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` on this machine (``~`` expanded, relative to the current
    folder) whole or not at all; refuses to replace a file. Returns the absolute path."""
    target = Path(os.path.expanduser(str(path))).absolute()
    if target.is_dir():
        raise SaveError(f"{target} is a folder: give a file name", "Not saved")
    if target.exists():
        raise SaveError(f"{target} exists already: choose another name", "Not saved")
    if not target.parent.is_dir():
        raise SaveError(f"No folder {target.parent} on this machine", "Not saved")
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                   suffix=".part")
    except OSError as exc:
        raise _local_error(exc, target) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.link(tmp, target)  # fails if the name was taken meanwhile: never replaces
    except OSError as exc:
        raise _local_error(exc, target) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _local_error(exc: OSError, target: Path) -> SaveError:
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EACCES: "no permission to write there",
        errno.EPERM: "no permission to write there",
        errno.EROFS: "the file system is read-only",
        errno.EEXIST: "a file of that name appeared meanwhile",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return SaveError(f"Could not save {target}: {reason}", "Not saved")


async def save_to_host(files: HostFiles, path: str, data: bytes) -> str:
    """Write ``data`` to ``path`` on the host (``~`` is the home) whole or not at all;
    refuses to replace a file. Returns the absolute path on the host."""
    full = await files.absolute(path)
    if await files.exists(full):
        raise SaveError(f"{files.name}:{full} exists already: choose another name",
                        "Not saved")
    await files.write_small(full, data)
    return full
