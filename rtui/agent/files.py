"""File operations on the host, where SFTP has none or is slow: a streamed listing (one
``lstat`` per name, sent as JSON rows in batches: several times faster than SFTP's
per-name parsing), a tree walk for the transfer plan, copy on the host, recursive delete,
disk usage and checksums.

Paths are str; a name that is not UTF-8 travels as lone surrogates (``os.fsdecode``'s
surrogateescape; JSON escapes them), so every name round-trips. ``~`` and relative paths
are from the home directory. Links are never followed, except to say what one leads to.
Long ops poll their request's cancelled flag and answer ``cancelled``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import time
import uuid

from .paths import home
from .protocol import OpError, arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO

    from .protocol import Progress

FIRST_ROWS = 100  # the first batch goes out with this many rows (or after FIRST_WAIT)
FIRST_WAIT = 0.05
LATER_WAIT = 0.5  # a slow directory (NFS...) still shows its rows this often
CHUNK = 1024 * 1024
PROGRESS_EVERY = 0.1  # at most 10 progress events a second

_ERRNO_TYPES = {
    errno.ENOENT: "not_found", errno.EACCES: "permission", errno.EPERM: "permission",
    errno.ENOTDIR: "not_a_directory", errno.EISDIR: "is_a_directory", errno.EEXIST: "exists",
    errno.ENOTEMPTY: "not_empty", errno.ELOOP: "link_loop", errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full", errno.EROFS: "permission",
}


def error_of(exc: OSError, path: str | None = None) -> OpError:
    """The typed error for an OSError: its kind by errno, its words and the path."""
    where = path if path is not None else exc.filename
    words = exc.strerror or str(exc)
    return OpError(_ERRNO_TYPES.get(exc.errno or 0, "io"),
                   f"{words}: {where}" if where is not None else words)


_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_kind(mode: int) -> str | None:
    """What a special file is ("a FIFO", "a socket", "a ... device"); None for the rest."""
    for test, words in _SPECIAL:
        if test(mode):
            return words
    return None


def not_a_file(path: str, mode: int) -> OpError:
    """The refusal of a path that is not a regular file (its kind named)."""
    if stat.S_ISDIR(mode):
        return OpError("is_a_directory", f"Is a directory: {path}")
    return OpError("not_a_file",
                   f"Not a regular file ({special_kind(mode) or 'a special file'}): {path}")


def open_regular(path: str) -> BinaryIO:
    """``path`` (links followed) opened to read, once known to be a regular file. A FIFO
    with no writer would block open() for good, out of reach of the cancel flag; a device
    or a socket is no file to copy or hash either: each is refused, named. The type is
    looked at first (no open at all), then again on the open file (O_NONBLOCK: a FIFO put
    there meanwhile does not block)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise not_a_file(path, st.st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise error_of(e, path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise not_a_file(path, st.st_mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def full_path(path: str) -> str:
    """``path`` made absolute: ``~`` expanded, relative to the home directory."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(home(), path)
    return os.path.normpath(path)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def _link(path: str) -> tuple[str | None, str | None]:
    """What the link at ``path`` says, and the kind it leads to (None: dangling or a loop)."""
    try:
        target: str | None = os.readlink(path)
    except OSError:
        target = None
    try:
        leads_to: str | None = _kind(os.stat(path).st_mode)
    except OSError:
        leads_to = None
    return target, leads_to


class Batches:
    """Rows sent in batches: the first as soon as it has ``min(size, FIRST_ROWS)`` rows or
    FIRST_WAIT passed (a screen fills at once), then full ones (or every LATER_WAIT)."""

    def __init__(self, progress: Progress, size: int) -> None:
        self.progress = progress
        self.size = max(1, size)
        self.limit = min(self.size, FIRST_ROWS)
        self.wait = FIRST_WAIT
        self.rows: list[list[Any]] = []
        self.count = 0
        self.since = time.monotonic()

    def add(self, row: list[Any]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= self.limit or time.monotonic() - self.since >= self.wait:
            self.flush()

    def flush(self) -> None:
        self.progress.check()
        if self.rows:
            self.progress.rows(self.rows)
        self.rows = []
        self.limit, self.wait, self.since = self.size, LATER_WAIT, time.monotonic()


def _size(args: dict[str, Any]) -> int:
    size = arg(args, "batch", int, 1000)
    if size < 1:
        raise OpError("bad_args", "argument 'batch' must be at least 1")
    return int(size)


def op_fs_home(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return {"home": home()}


def op_fs_list(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The names in a directory as rows ``[name, kind, size, mtime, mode, target,
    target_kind]`` (``lstat``'s; for a link what it says and what it leads to), streamed;
    no cap. Result: the directory's real path and the count."""
    path = full_path(arg(args, "path", str, "~"))
    batches = Batches(progress, _size(args))
    try:
        with os.scandir(path) as names:
            for entry in names:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:  # gone meanwhile
                    continue
                kind = _kind(st.st_mode)
                target, leads_to = _link(entry.path) if kind == "link" else (None, None)
                batches.add([entry.name, kind, st.st_size, st.st_mtime, st.st_mode, target,
                             leads_to])
    except OSError as e:
        raise error_of(e, path) from None
    batches.flush()
    return {"path": os.path.realpath(path), "count": batches.count}


def _walk(root: str, errors: list[list[str]],
          check: Callable[[], None]) -> Iterator[tuple[str, os.stat_result, str]]:
    """``(relpath, lstat, full path)`` of everything under ``root``, top-down (a directory
    before what it holds), links not followed; unreadable directories go to ``errors``."""
    stack = [("", root)]
    while stack:
        rel_dir, full_dir = stack.pop()
        check()
        try:
            with os.scandir(full_dir) as names:
                entries = list(names)
        except OSError as e:
            errors.append([rel_dir or ".", error_of(e, full_dir).message])
            continue
        subdirs = []
        for entry in entries:
            rel = rel_dir + "/" + entry.name if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                errors.append([rel, error_of(e, entry.path).message])
                continue
            yield rel, st, entry.path
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((rel, entry.path))
        stack.extend(reversed(subdirs))


def op_fs_walk(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Everything under a directory as rows ``[relpath, kind, size, mtime, mode, target]``
    (top-down, "/"-separated, links not followed), streamed: the plan of a transfer.
    Result: ``files`` (everything not a directory), ``dirs``, ``bytes`` (of regular files),
    ``errors`` (``[relpath, message]`` of what could not be read)."""
    path = full_path(arg(args, "path", str))
    try:
        top = os.lstat(path)
    except OSError as e:
        raise error_of(e, path) from None
    if not stat.S_ISDIR(top.st_mode):
        raise OpError("not_a_directory", f"Not a directory: {path}")
    batches = Batches(progress, _size(args))
    errors: list[list[str]] = []
    files = dirs = size = 0
    for rel, st, full in _walk(path, errors, progress.check):
        kind = _kind(st.st_mode)
        target = None
        if kind == "dir":
            dirs += 1
        else:
            files += 1
            if kind == "file":
                size += st.st_size
            elif kind == "link":
                target = _link(full)[0]
        batches.add([rel, kind, st.st_size, st.st_mtime, st.st_mode, target])
    batches.flush()
    return {"files": files, "dirs": dirs, "bytes": size, "errors": errors}


def op_fs_du(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """What deleting ``paths`` would remove: files (all but directories), dirs and bytes on
    disk (blocks, each inode once); ``complete`` False when ``time_limit`` cut the count."""
    paths = [full_path(p) for p in arg(args, "paths", list, of=str)]
    limit = float(arg(args, "time_limit", (int, float), 0.5))
    deadline = time.monotonic() + limit if limit > 0 else None
    seen: set[tuple[int, int]] = set()
    counts = {"files": 0, "dirs": 0, "bytes": 0}

    def count(st: os.stat_result) -> None:
        counts["dirs" if stat.S_ISDIR(st.st_mode) else "files"] += 1
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            blocks = getattr(st, "st_blocks", None)  # what a delete frees
            counts["bytes"] += st.st_size if blocks is None else blocks * 512

    complete = True
    for path in paths:
        try:
            top = os.lstat(path)
        except OSError as e:
            raise error_of(e, path) from None
        count(top)
        if not stat.S_ISDIR(top.st_mode):
            continue
        for n, (_, st, _) in enumerate(_walk(path, [], progress.check)):
            count(st)
            if deadline is not None and n % 64 == 0 and time.monotonic() > deadline:
                complete = False
                break
        if not complete:
            break
    return dict(counts, complete=complete)


def op_fs_checksum(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The digest of a file (or of ``length`` bytes from ``offset``), read in 1 MiB pieces
    with progress; ``size`` is the number of bytes hashed."""
    path = full_path(arg(args, "path", str))
    algo = arg(args, "algo", str, "sha256")
    offset = int(arg(args, "offset", int, 0))
    length = arg(args, "length", int, None)
    if algo not in hashlib.algorithms_available:
        raise OpError("bad_args", f"unknown checksum {algo!r}")
    digest = hashlib.new(algo)
    done = 0
    try:
        with open_regular(path) as f:
            total = os.fstat(f.fileno()).st_size - offset if length is None else int(length)
            total = max(0, total)
            if offset:  # (a pipe cannot seek, even to 0)
                f.seek(offset)
            last = time.monotonic()
            while length is None or done < total:
                progress.check()
                want = CHUNK if length is None else min(CHUNK, total - done)
                data = f.read(want)
                if not data:
                    break
                digest.update(data)
                done += len(data)
                if time.monotonic() - last >= PROGRESS_EVERY:
                    last = time.monotonic()
                    progress(path, min(1.0, done / total) if total else None)
    except OSError as e:
        raise error_of(e, path) from None
    return {"hex": digest.hexdigest(), "size": done}


# -- remove ------------------------------------------------------------------------------

def _rmtree(path: str, failed: list[list[str]], check: Callable[[], None]) -> bool:
    """Remove the directory ``path`` and what it holds without following links; what fails
    goes to ``failed`` (only where it failed: its parents stay, unreported). True if gone."""
    check()
    try:
        with os.scandir(path) as names:
            entries = list(names)
    except OSError as e:
        failed.append([path, error_of(e, path).message])
        return False
    whole = True
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            whole = _rmtree(entry.path, failed, check) and whole
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass
        except OSError as e:
            failed.append([entry.path, error_of(e, entry.path).message])
            whole = False
    if not whole:
        return False
    try:
        os.rmdir(path)
    except OSError as e:
        failed.append([path, error_of(e, path).message])
        return False
    return True


def op_fs_remove(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Delete ``paths`` (directories only with ``recursive``); links are removed, never
    followed. Result: how many were removed, and ``failed`` as ``[path, message]``."""
    paths = [full_path(p) for p in arg(args, "paths", list, of=str)]
    recursive = arg(args, "recursive", bool, False)
    missing_ok = arg(args, "missing_ok", bool, False)
    removed = 0
    failed: list[list[str]] = []
    for path in paths:
        try:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(path)
            elif not recursive:
                failed.append([path, f"Is a directory (not removed without recursive): {path}"])
                continue
            elif not _rmtree(path, failed, progress.check):
                continue
        except OSError as e:
            if not (missing_ok and e.errno == errno.ENOENT):
                failed.append([path, error_of(e, path).message])
            continue
        removed += 1
    return {"removed": removed, "failed": failed}


# -- copy --------------------------------------------------------------------------------

class _Copier:
    """Copies files in 1 MiB pieces, reporting the bytes done (as a fraction of ``total``)
    at most 10 times a second and stopping when cancelled."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self.last = 0.0
        self.skipped: list[str] = []  # special files met in trees, not copied

    def copy_file(self, src: str, dst: str) -> str:
        """copytree's ``copy_function``: contents, then copystat (copy2's habit)."""
        with open_regular(src) as fin, open(dst, "wb") as fout:
            while True:
                self.progress.check()
                data = fin.read(CHUNK)
                if not data:
                    break
                fout.write(data)
                self.done += len(data)
                now = time.monotonic()
                if now - self.last >= PROGRESS_EVERY:
                    self.last = now
                    self.progress(src, min(1.0, self.done / self.total) if self.total else None)
        shutil.copystat(src, dst)
        return dst

    def copy(self, src: str, st: os.stat_result, dst: str) -> None:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISDIR(st.st_mode):
            shutil.copytree(src, dst, symlinks=True, copy_function=self.copy_file,
                            ignore=self.specials)
        else:
            self.copy_file(src, dst)


    def specials(self, folder: str, names: list[str]) -> list[str]:
        """copytree's ``ignore``: the FIFOs, sockets and devices in ``folder`` (skipped,
        and counted: a FIFO with no writer would block the copy for good)."""
        skip = []
        for name in names:
            try:
                mode = os.lstat(os.path.join(folder, name)).st_mode
            except OSError:
                continue  # gone meanwhile: copytree says so
            if special_kind(mode) is not None:
                skip.append(name)
                self.skipped.append(os.path.join(folder, name))
        return skip


def _discard(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def op_fs_copy(args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Copy on the host: into ``dest`` when it is a directory, else to the name ``dest``
    (one source). Each copy is made under a part name beside its target and renamed at
    the end, so no half copy is ever under the real name; links are copied as links. A
    special file (FIFO, socket, device) given is refused; one in a tree is left out and
    listed in the result's ``skipped``."""
    sources = [full_path(p) for p in arg(args, "sources", list, of=str)]
    dest = full_path(arg(args, "dest", str))
    overwrite = arg(args, "overwrite", bool, False)
    if not sources:
        raise OpError("bad_args", "nothing to copy")
    into = os.path.isdir(dest)
    if not into and len(sources) > 1:
        raise OpError("not_a_directory", f"Not a directory (several sources): {dest}")
    plan = []
    total = 0
    for src in sources:
        try:
            st = os.lstat(src)
        except OSError as e:
            raise error_of(e, src) from None
        if special_kind(st.st_mode) is not None:
            raise not_a_file(src, st.st_mode)
        target = os.path.join(dest, os.path.basename(src)) if into else dest
        if not os.path.isdir(os.path.dirname(target)):
            raise OpError("not_found", f"No such directory: {os.path.dirname(target)}")
        if stat.S_ISDIR(st.st_mode) and _inside(os.path.realpath(target),
                                                 os.path.realpath(src)):
            raise OpError("invalid", f"cannot copy a directory into itself: {src} → {target}")
        if os.path.lexists(target):
            if not overwrite:
                raise OpError("exists", f"File exists: {target}")
            if os.path.isdir(target) and not os.path.islink(target) \
                    and not stat.S_ISDIR(st.st_mode):
                raise OpError("is_a_directory", f"Is a directory: {target}")
        if stat.S_ISDIR(st.st_mode):
            total += sum(s.st_size for _, s, _ in _walk(src, [], progress.check)
                         if stat.S_ISREG(s.st_mode))
        elif stat.S_ISREG(st.st_mode):
            total += st.st_size
        plan.append((src, st, target))
    copier = _Copier(progress, total)
    for src, st, target in plan:
        tag = uuid.uuid4().hex[:10]
        parent, name = os.path.split(target)
        part = os.path.join(parent, f".{name}.rtui-part-{tag}")
        old = None
        try:
            copier.copy(src, st, part)
            if os.path.isdir(target) and not os.path.islink(target):
                old = os.path.join(parent, f".{name}.rtui-old-{tag}")
                os.rename(target, old)  # a directory cannot be replaced while it holds names
            os.replace(part, target)
        except OSError as e:
            _discard(part)
            if old is not None and not os.path.lexists(target):
                os.rename(old, target)
                old = None
            if isinstance(e, shutil.Error):  # copytree's list of (src, dst, why)
                failures = e.args[0] if e.args and isinstance(e.args[0], list) else []
                first = failures[0][2] if failures else str(e)
                raise OpError("io", f"{len(failures) or 1} names not copied from {src}, "
                                    f"first: {first}") from None
            raise error_of(e) from None
        except BaseException:
            _discard(part)
            raise
        if old is not None:
            _discard(old)
    progress("copied", 1.0)
    result: dict[str, Any] = {"copied": len(plan)}
    if copier.skipped:
        result["skipped"] = copier.skipped
    return result
