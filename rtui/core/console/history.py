"""Per-host input history for the live console, kept across runs in a JSON-lines file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from rtui.core.private import open_private
from rtui.core.safe_read import file_kind

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; appends stay atomic anyway
    fcntl = None  # type: ignore[assignment]

__all__ = ["History", "HistoryCursor"]

# The file is compacted on load once it holds this many times ``max_entries`` lines.
COMPACT_FACTOR = 2


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``fd`` (a no-op where flock does not exist)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _encode(text: str) -> bytes:
    record = {"time": round(time.time(), 3), "text": text}
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def _decode(line: bytes) -> str | None:
    """The text of one stored line, or None for a torn or foreign line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict):
        text = record.get("text")
        if isinstance(text, str) and text:
            return text
    return None


class History:
    """Input history of one host: entries oldest first, appended to ``path`` as JSON lines.

    Appends are one ``write`` on an ``O_APPEND`` descriptor, so two rtui processes sharing
    the file interleave whole entries. The file is read lazily, on first use.
    """

    def __init__(self, path: Path, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = Path(path)
        self.max_entries = max_entries
        self._entries: list[str] | None = None

    @property
    def entries(self) -> list[str]:
        """All entries, oldest first (a copy)."""
        return list(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def add(self, text: str) -> bool:
        """Remember ``text``; blank input and a repeat of the newest entry are skipped."""
        text = text.rstrip()
        if not text.strip():
            return False
        entries = self._load()
        if entries and entries[-1] == text:
            return False
        entries.append(text)
        del entries[: -self.max_entries]
        try:
            self._append(text)
        except OSError:
            # History is a convenience: a read-only or full disk must not break the console.
            pass
        return True

    def search(self, substring: str) -> list[str]:
        """Entries containing ``substring``, newest first, each text once."""
        seen: set[str] = set()
        found: list[str] = []
        for text in reversed(self._load()):
            if substring in text and text not in seen:
                seen.add(text)
                found.append(text)
        return found

    def cursor(self, *, prefix_filter: bool = True) -> HistoryCursor:
        """A new up/down navigator over this history."""
        return HistoryCursor(self, prefix_filter=prefix_filter)

    async def load(self) -> None:
        """Read the file now, in a thread: 10,000 entries take ~25 ms to read, which the
        first Enter or up-arrow would otherwise spend on the event loop."""
        if self._entries is None:
            entries = await asyncio.to_thread(self._read)
            if self._entries is None:  # used meanwhile: what the loop read (and added) stays
                self._entries = entries

    def _load(self) -> list[str]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> list[str]:
        writable = True
        try:  # non-blocking: a FIFO in the file's place must not hang the console
            fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        except PermissionError:
            writable = False
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                return []
        except OSError:
            return []
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):  # a FIFO, /dev/zero: no history rather than a hang
                log.warning("ignoring %s: it is %s, not a file", self.path, file_kind(mode))
                return []
            with _locked(fd):
                with os.fdopen(os.dup(fd), "rb") as stream:
                    lines = stream.read().splitlines()
                entries: list[str] = []
                for line in lines:
                    text = _decode(line)
                    if text is not None and (not entries or entries[-1] != text):
                        entries.append(text)
                del entries[: -self.max_entries]
                if writable and len(lines) > COMPACT_FACTOR * self.max_entries:
                    self._rewrite(fd, entries)
        finally:
            os.close(fd)
        return entries

    @staticmethod
    def _rewrite(fd: int, entries: list[str]) -> None:
        """Replace the file's content in place (same inode, so the lock keeps others out)."""
        data = b"".join(_encode(text) for text in entries)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.ftruncate(fd, len(data))

    def _append(self, text: str) -> None:
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            with _locked(fd):
                os.write(fd, _encode(text))
        finally:
            os.close(fd)


class HistoryCursor:
    """Up/down navigation over a :class:`History` that remembers the draft being edited.

    With ``prefix_filter`` (the IPython way) a non-empty draft restricts navigation to the
    entries that start with it.
    """

    def __init__(self, history: History, *, prefix_filter: bool = True) -> None:
        self.history = history
        self.prefix_filter = prefix_filter
        self._draft: str | None = None
        self._prefix = ""
        self._index = 0  # into the history's entries; len(entries) means "at the draft"

    @property
    def active(self) -> bool:
        """True while an entry (rather than the draft) is being shown."""
        return self._draft is not None

    @property
    def prefix(self) -> str:
        """The prefix entries must start with during this navigation."""
        return self._prefix

    def older(self, current_draft: str, prefix: str | None = None) -> str | None:
        """The next older matching entry, or None when there is none.

        The first call saves ``current_draft``; ``prefix`` overrides the prefix taken from it.
        """
        entries = self.history._load()
        if self._draft is None:
            self._draft = current_draft
            if prefix is None:
                prefix = current_draft if self.prefix_filter else ""
            self._prefix = prefix
            self._index = len(entries)
        for index in range(min(self._index, len(entries)) - 1, -1, -1):
            text = entries[index]
            if text.startswith(self._prefix) and text != self._current(entries):
                self._index = index
                return text
        if self._index == len(entries):
            # Nothing older at all: navigation never really began.
            self.reset()
        return None

    def newer(self) -> str | None:
        """The next newer matching entry, the saved draft past the newest, else None."""
        if self._draft is None:
            return None
        entries = self.history._load()
        current = self._current(entries)
        for index in range(self._index + 1, len(entries)):
            text = entries[index]
            if text.startswith(self._prefix) and text != current:
                self._index = index
                return text
        draft = self._draft
        self.reset()
        return draft

    def reset(self) -> None:
        """Stop navigating (after a submit, or when the user starts over)."""
        self._draft = None
        self._prefix = ""
        self._index = 0

    def _current(self, entries: list[str]) -> str | None:
        if self._draft is None or self._index >= len(entries):
            return None
        return entries[self._index]
