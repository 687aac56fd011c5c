"""A folder's small files as one tar stream (DESIGN16 §0.6): per-file SFTP costs about a
millisecond of Python per file, one stream runs at the disk's pace.

Sub-commands, each on its own exec channel (``<python> <agent .pyz> tar-out``):

- ``tar-out``: stdin is one JSON line ``{"root": DIR, "paths": [relpath, ...],
  "follow": false}``; stdout is a tar of those members (regular files, symlinks as links,
  directories as entries; ``follow``: links read through). A member that cannot be read
  is left out; stderr then carries a JSON line ``{"error": [relpath, type, message]}``. A
  file that changes while it is read (size or mtime) is left out too, with
  ``{"changed": relpath}`` on stderr (files over 4 MiB, streamed, go padded or cut to the
  size they had: their reader must drop them). The last stderr line is ``{"done": {"files": n}}``.
- ``tar-in``: stdin is one JSON line ``{"root": DIR, "preserve": true}`` and then a tar
  stream. Each file is written to ``.NAME.rtui-part`` beside its name and ``os.replace``d
  when whole (a cut stream leaves complete files, never a half one under its name);
  directories get their modes and mtimes at the end. stdout has a JSON line per file
  ``{"file": [relpath, size]}``, ``{"error": [relpath, type, message]}`` for a member
  that failed (a full disk ends the stream), and ``{"done": {"files": n, "bytes": n}}``.

``pack`` and ``unpack`` do the work for a file object each, so rtui uses them on this
machine too (its end of a stream). Standard library only (Python >= 3.8).
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import sys
import tarfile
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import IO, Any

    Report = Callable[[dict[str, Any]], None]

# tarfile's stream buffer: each small read or write of its copies what the buffer holds, so
# a large one makes a folder of small files slow (1 MiB: 5x slower than 64 KiB here).
BUFSIZE = 64 * 1024
COPY = 1 << 20  # a file's bytes are written in pieces of this size
WHOLE = 4 << 20  # files up to this size are read whole before they go (a change shows)
PART_SUFFIX = ".rtui-part"
_ERRNO_TYPES = {
    errno.ENOENT: "not_found", errno.EACCES: "permission", errno.EPERM: "permission",
    errno.EROFS: "permission", errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full",
    errno.ENOTDIR: "not_a_directory", errno.EISDIR: "is_a_directory", errno.EEXIST: "exists",
    errno.ELOOP: "link_loop",
}


def error_type(exc: OSError) -> str:
    return _ERRNO_TYPES.get(exc.errno or 0, "io")


def _fs(path: str) -> bytes:
    return os.fsencode(path)


class _Exact:
    """A file read as exactly ``size`` bytes: zeros after an early end, nothing past the
    size; ``short`` tells whether the file ended early."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f, self.left, self.short = f, size, False

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n) if n else b""
        if len(data) < n:
            self.short = True
            data += b"\0" * (n - len(data))
        self.left -= len(data)
        return data


def pack(root: str, paths: Iterable[str], out: IO[bytes], report: Report, *,
         follow: bool = False, on_bytes: Callable[[int], None] | None = None) -> int:
    """Write a tar of ``root``'s ``paths`` (relative) to ``out``; the members written."""
    written = 0
    with tarfile.open(fileobj=out, mode="w|", bufsize=BUFSIZE,
                      format=tarfile.PAX_FORMAT) as tar:
        for rel in paths:
            path = os.path.join(root, rel)
            try:
                written += _add(tar, path, rel, report, follow, on_bytes)
            except OSError as exc:
                report({"error": [rel, error_type(exc), exc.strerror or str(exc)]})
    return written


def _add(tar: tarfile.TarFile, path: str, rel: str, report: Report, follow: bool,
         on_bytes: Callable[[int], None] | None) -> int:
    st = os.stat(path) if follow else os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            info = _info(rel, st, tarfile.REGTYPE)
            info.size = st.st_size
            if st.st_size <= WHOLE:  # read first: a file that changes is not sent at all
                data = f.read(st.st_size + 1)
                after = os.fstat(f.fileno())
                if len(data) != st.st_size or _changed(st, after):
                    report({"changed": rel})
                    return 0
                tar.addfile(info, io.BytesIO(data))
            else:
                exact = _Exact(f, st.st_size)
                tar.addfile(info, exact)
                if exact.short or _changed(st, os.fstat(f.fileno())):
                    report({"changed": rel})
        if on_bytes is not None:
            on_bytes(st.st_size)
        return 1
    if stat.S_ISLNK(st.st_mode):
        info = _info(rel, st, tarfile.SYMTYPE)
        info.linkname = os.readlink(path)
        tar.addfile(info)
        return 1
    if stat.S_ISDIR(st.st_mode):
        tar.addfile(_info(rel, st, tarfile.DIRTYPE))
        return 1
    report({"error": [rel, "io", "not a regular file, link or directory"]})
    return 0


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime) != (after.st_size, after.st_mtime)


def _info(rel: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(rel)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = 0, 0
    info.uname = info.gname = ""
    return info


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts


def _part(path: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(head, "." + name + PART_SUFFIX)


def unpack(root: str, stream: IO[bytes], report: Report, *, preserve: bool = True,
           on_bytes: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Unpack a tar stream into ``root`` (part, then rename, for each file); the files and
    bytes written. A full disk stops it (reported); other failures skip the member."""
    files = nbytes = 0
    dirs: list[tuple[str, int, int]] = []
    with tarfile.open(fileobj=stream, mode="r|", bufsize=BUFSIZE) as tar:
        for member in tar:
            rel = member.name.rstrip("/")
            if not _safe(rel):
                report({"error": [rel, "io", "unsafe name in the stream, skipped"]})
                continue
            path = os.path.join(root, rel)
            try:
                if member.isdir():
                    _mkdirs(path)
                    dirs.append((path, member.mode, int(member.mtime)))
                elif member.issym():
                    _mkdirs(os.path.dirname(path))
                    _place_link(path, member.linkname)
                elif member.isreg():
                    _mkdirs(os.path.dirname(path))
                    source = tar.extractfile(member)
                    assert source is not None
                    _place_file(path, source, member, preserve, on_bytes)
                    files += 1
                    nbytes += member.size
                    report({"file": [rel, member.size]})
                else:
                    report({"error": [rel, "io", "not a regular file, link or directory"]})
            except OSError as exc:
                report({"error": [rel, error_type(exc), exc.strerror or str(exc)]})
                if error_type(exc) == "disk_full":
                    break
    for path, mode, mtime in reversed(dirs):  # deepest first: a parent's mtime last
        try:
            os.chmod(path, mode)
            if preserve:
                os.utime(path, (mtime, mtime))
        except OSError:
            pass
    return files, nbytes


def drain(stream: IO[bytes]) -> None:
    """Read what is left (an unpack that stopped early must not leave its sender blocked
    on a full pipe)."""
    while stream.read(COPY):
        pass


def _mkdirs(path: str) -> None:
    if path and not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)


def _place_file(path: str, source: IO[bytes], member: tarfile.TarInfo, preserve: bool,
                on_bytes: Callable[[int], None] | None) -> None:
    part = _part(path)
    done = False
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                chunk = source.read(COPY)
                if not chunk:
                    break
                os.write(fd, chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        finally:
            os.close(fd)
        os.chmod(part, member.mode & 0o7777)
        if preserve:
            os.utime(part, (member.mtime, member.mtime))
        os.replace(part, path)
        done = True
    finally:
        if not done:
            try:
                os.unlink(part)
            except OSError:
                pass


def _place_link(path: str, target: str) -> None:
    part = _part(path)
    try:
        os.unlink(part)
    except OSError:
        pass
    os.symlink(target, part)
    try:
        os.replace(part, path)
    except OSError:
        os.unlink(part)
        raise


# -- the sub-commands ------------------------------------------------------------------------


def _json_line(stream: IO[bytes], payload: dict[str, Any]) -> None:
    stream.write((json.dumps(payload) + "\n").encode("utf-8", "surrogateescape"))
    stream.flush()


class _Lines:
    """Report lines gathered and written at most every ``every`` seconds (one line per
    file of a folder of small files would be a packet each), and when flushed."""

    def __init__(self, stream: IO[bytes], every: float = 0.05) -> None:
        self.stream, self.every = stream, every
        self.pending: list[str] = []
        self.last = time.monotonic()

    def __call__(self, payload: dict[str, Any]) -> None:
        self.pending.append(json.dumps(payload) + "\n")
        now = time.monotonic()
        if now - self.last >= self.every:
            self.flush()
            self.last = now

    def flush(self) -> None:
        if self.pending:
            self.stream.write("".join(self.pending).encode("utf-8", "surrogateescape"))
            self.pending = []
        self.stream.flush()


def _header(stdin: IO[bytes]) -> dict[str, Any]:
    line = stdin.readline()
    header = json.loads(line.decode("utf-8", "surrogateescape")) if line.strip() else {}
    if not isinstance(header, dict) or not isinstance(header.get("root"), str):
        raise SystemExit("tar: the first line must be a JSON object with a root")
    return header


def tar_out_main() -> None:
    """``tar-out``: the stream of the members asked for, on stdout."""
    stdin, stdout, stderr = sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer
    header = _header(stdin)
    root = header["root"]
    files = pack(root, [str(p) for p in header.get("paths", [])], stdout,
                 lambda event: _json_line(stderr, event), follow=bool(header.get("follow")))
    stdout.flush()
    _json_line(stderr, {"done": {"files": files}})


def tar_in_main() -> None:
    """``tar-in``: unpack stdin into the root; a line per file on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    header = _header(stdin)
    root = header["root"]
    lines = _Lines(stdout)
    try:
        files, nbytes = unpack(root, stdin, lines, preserve=bool(header.get("preserve", True)))
    except (tarfile.TarError, EOFError) as exc:
        lines({"error": ["", "cut", f"the stream ended early: {exc}"]})
        lines.flush()
        sys.exit(1)
    lines({"done": {"files": files, "bytes": nbytes}})
    lines.flush()
    drain(stdin)


def main(argv: list[str]) -> None:
    if argv[:1] == ["tar-out"]:
        tar_out_main()
    else:
        tar_in_main()
