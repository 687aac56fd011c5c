"""The hosts file on disk: read with line-numbered errors, change under a lock, write atomically.

Every change is lock → re-read → apply → validate → write, so two rtui processes changing the
file at once both land, and a broken file is never overwritten.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import tomli_w

from rtui.core.config.model import Config, Problem, config_from_data, config_to_data
from rtui.core.config.text_limits import nesting_problem, not_utf8
from rtui.core.errors import ConfigError
from rtui.core.private import open_private, write_private
from rtui.core.safe_read import read_regular_file, resolved_target

__all__ = ["MAX_FILE_BYTES", "MAX_NESTING", "HostStore", "atomic_write", "parse_config_bytes",
           "parse_config_text"]

MAX_FILE_BYTES = 4 << 20
"""A hosts file of a thousand hosts is ~200 KiB; past 4 MiB it is refused unread."""
MAX_NESTING = 32
"""Arrays and inline tables nested deeper than this are refused before parsing (Python's
TOML parser recurses: a thousand levels end in a RecursionError)."""
MAX_SHOWN_PROBLEMS = 20
"""Problems listed in one message; the rest are counted."""

_HEADER = (
    "# rtui hosts file. rtui rewrites it on every change (comments are not kept);\n"
    "# the previous version is kept next to it as hosts.toml.bak.\n"
    "# Passwords and passphrases are never stored here.\n\n"
)
_LOCK_TIMEOUT = 10.0


class HostStore:
    """The hosts file at ``path``. Reads need no lock; every change takes one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Config:
        """The config on disk; an absent file is an empty config.

        Only a regular file (or a symlink to one) is read, and at most MAX_FILE_BYTES of it:
        a FIFO, a device or a symlink loop in its place is named, never waited on.
        """
        try:
            data = read_regular_file(self.path, MAX_FILE_BYTES)
        except FileNotFoundError:
            return Config()
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {_reason(exc)}") from exc
        return parse_config_bytes(data, self.path)

    def update(self, change: Callable[[Config], Config]) -> Config:
        """Apply ``change`` to the current file contents and write the result.

        ``change`` may raise :class:`ConfigError` to refuse; then nothing is written.
        """
        with self._locked():
            before = self.load()
            after = change(before)
            # Validate through the same path a reader takes, so what we write always loads.
            text = _HEADER + tomli_w.dumps(config_to_data(after))
            parse_config_text(text, self.path)
            if after != before or not self.path.exists():
                atomic_write(self.path, text.encode("utf-8"))
            return after

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on a sidecar file; the kernel drops it if the process dies."""
        try:
            target = resolved_target(self.path)
        except OSError as exc:  # a symlink loop
            raise ConfigError(f"cannot read {self.path}: {_reason(exc)}") from exc
        lock_path = target.with_name(target.name + ".lock")
        try:
            fd = open_private(lock_path, os.O_RDWR)
        except OSError as exc:
            raise ConfigError(f"cannot open lock file {lock_path}: {_reason(exc)}") from exc
        try:
            deadline = time.monotonic() + _LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise ConfigError(f"cannot lock {lock_path}: {_reason(exc)}") from exc
                    if time.monotonic() > deadline:
                        raise ConfigError(
                            f"{self.path} is locked by another rtui for over "
                            f"{_LOCK_TIMEOUT:.0f} s; try again"
                        ) from exc
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)


def parse_config_bytes(data: bytes, path: Path) -> Config:
    """Parse the hosts file's bytes: UTF-8 (a BOM allowed), else the line of the first bad
    byte is named."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {not_utf8(exc)}; the file was left as it is") from None
    return parse_config_text(text, path)


def parse_config_text(text: str, path: Path) -> Config:
    """Parse hosts-file text; errors name the file and, where it can be found, the line."""
    too_deep = nesting_problem(text, MAX_NESTING)
    if too_deep:
        raise ConfigError(f"{path}: {too_deep}; the file was left as it is")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {_toml_error(exc, text)}; the file was left as it is") from exc
    except ValueError as exc:  # Python's own limit: an integer of over 4300 digits
        raise ConfigError(f"{path}: {_number_error(text)}; the file was left as it "
                          "is") from exc
    except RecursionError:  # nesting_problem's count is an upper bound: not expected here
        raise ConfigError(f"{path}: nested too deeply to read; the file was left as it "
                          "is") from None
    try:
        return config_from_data(data)
    except ConfigError as exc:
        raise _located(exc, text, path) from None


def _located(exc: ConfigError, text: str, path: Path) -> ConfigError:
    """``exc`` with each problem's line; the first MAX_SHOWN_PROBLEMS of them."""
    layout = _Layout(text)
    shown = exc.problems[:MAX_SHOWN_PROBLEMS]
    lines = [f"{path}{layout.locate(p)}: {p}" for p in shown] or [f"{path}: {exc}"]
    more = len(exc.problems) - len(shown)
    if more > 0:
        lines.append(f"{path}: ... and {more} more problem{'s' if more != 1 else ''}")
    return ConfigError("\n".join(lines), problems=exc.problems)


_LONG_NUMBER = re.compile(r"(?<![0-9_])[0-9][0-9_]{4000,}")


def _number_error(text: str) -> str:
    """Where a number too long for Python to convert is (tomllib raises a bare ValueError)."""
    match = _LONG_NUMBER.search(text)
    where = f"line {text.count(chr(10), 0, match.start()) + 1}: " if match else ""
    return f"{where}a number of more than 4000 digits (no setting needs one)"


def _toml_error(exc: tomllib.TOMLDecodeError, text: str) -> str:
    # Python 3.14 gives lineno/colno; 3.11 only has them in the message "(at line L, column C)".
    msg = getattr(exc, "msg", None) or str(exc)
    line = getattr(exc, "lineno", None)
    col = getattr(exc, "colno", None)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", msg)
    if match:
        msg = msg[: match.start()]
        line, col = int(match.group(1)), int(match.group(2))
    elif "(at end of document)" in msg:
        msg = msg.replace(" (at end of document)", "")
        last = max(len(text.splitlines()), 1)
        return f"line {last} (end of file): invalid TOML: {msg}"
    if line is None:
        return f"invalid TOML: {msg}"
    return f"line {line}, column {col}: invalid TOML: {msg}"


_HOSTS_HEADER = re.compile(r"^\s*\[\[\s*hosts\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[")


class _Layout:
    """Where each ``[[hosts]]`` block of a file's text starts and ends: found once, then
    looked up per problem (a file with thousands of problems is read once, not per problem)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        lines = self.lines
        starts = [i for i, line in enumerate(lines) if _HOSTS_HEADER.match(line)]
        headers = [i for i, line in enumerate(lines) if _TABLE_HEADER.match(line)]
        self.blocks: list[tuple[int, int]] = []
        for start in starts:
            after = bisect.bisect_right(headers, start)
            self.blocks.append((start, headers[after] if after < len(headers) else len(lines)))

    def locate(self, problem: Problem) -> str:
        """`` line N`` for the host (and field) a problem is about, when the layout shows it."""
        lines, blocks = self.lines, self.blocks
        block: tuple[int, int] | None = None
        if problem.index is not None and problem.index < len(blocks):
            block = blocks[problem.index]
        elif problem.host is not None:
            name_re = re.compile(r"^\s*name\s*=\s*[\"']" + re.escape(problem.host) + r"[\"']")
            matches = [b for b in blocks if any(name_re.match(lines[i]) for i in range(*b))]
            # A duplicate name: point at the second one, which is the one to fix.
            block = matches[-1] if matches else None
        elif problem.field and problem.field.startswith("settings."):
            key = problem.field.split(".", 1)[1]
            key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
            hit = next((i for i, line in enumerate(lines) if key_re.match(line)), None)
            return f" line {hit + 1}" if hit is not None else ""
        if block is None:
            return ""
        table = (problem.field or "").partition(".")[0]
        if table in _SUB_TABLES:
            hit = _locate_sub_table(lines, block, problem.field or "")
            if hit is not None:
                return f" line {hit + 1}"
        if problem.field:
            field_re = re.compile(r"^\s*" + re.escape(problem.field) + r"\s*=")
            hit = next((i for i in range(*block) if field_re.match(lines[i])), None)
            if hit is not None:
                return f" line {hit + 1}"
        return f" line {block[0] + 1}"


_SUB_TABLES = ("slurm", "jupyter")
_SUB_HEADER = re.compile(r"^\s*\[\s*hosts\s*\.\s*([A-Za-z_]+)\s*\]\s*(#.*)?$")


def _locate_sub_table(lines: list[str], block: tuple[int, int], field: str) -> int | None:
    """The line of a key of a host's ``slurm`` or ``jupyter`` table (its ``[hosts.slurm]``
    table follows the host's block, maybe after another of the host's tables), or of the table
    itself; None when the layout does not show it."""
    table, _, key = field.partition(".")
    start = block[1]
    while start < len(lines):
        header = _SUB_HEADER.match(lines[start])
        if header is None:
            return None
        if header.group(1) == table:
            break
        start = next((i for i in range(start + 1, len(lines)) if _TABLE_HEADER.match(lines[i])),
                     len(lines))
    else:
        return None
    end = next((i for i in range(start + 1, len(lines)) if _TABLE_HEADER.match(lines[i])),
               len(lines))
    if key:
        key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        hit = next((i for i in range(start + 1, end) if key_re.match(lines[i])), None)
        if hit is not None:
            return hit
    return start


def atomic_write(path: Path, data: bytes, *, backup: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix
    (0600 in a 0700 directory; the previous contents kept as ``<name>.bak``)."""
    try:
        write_private(path, data, backup=backup)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """An OSError's words, as the middle of a sentence ("permission denied"; rtui's own
    "it is a FIFO (named pipe), not a file" kept as written)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)
