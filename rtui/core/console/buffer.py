"""The console's lines by absolute number: bounded, editable in place, with a change log for views.

Its own module so the storage rules are in one place: the oldest lines are dropped in bulk
(amortised O(1) per line), every index that points into the buffer (a stream's open line, the
current cell's start, a display's lines) follows drops and splices, and in-place edits are
remembered so a view redoes only what changed. What to write is the model's business.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from rich.text import Text

from rtui.core.console.blocks import Block
from rtui.core.console.lines import Line, as_text, line_length, overwrite, plain_text

__all__ = ["ConsoleChanges", "Cursor", "LineBuffer"]

_LOG_SIZE: Final = 1024
# Edits (in-place changes, removals) remembered for views; a view further behind redraws all.
_COMPACT_MIN: Final = 4096
# Dropped lines are sliced off the list in bulk, not one ``del`` per append (that is O(n) each).
_SPLICE_AS_MODIFIED: Final = 32
# A same-length replacement up to this many lines is reported line by line, not as a reflow.


@dataclass(frozen=True, slots=True)
class ConsoleChanges:
    """What a reader must redo since the version it last saw.

    Lines ``>= restructured_from`` were replaced, removed or shifted; lines in ``modified``
    changed in place (an open line continued, a ``\\r`` redraw). Lines below ``first_index``
    are gone; lines past what the reader saw are new. Indices are absolute.
    """

    version: int
    first_index: int
    total: int
    modified: frozenset[int]
    restructured_from: int | None


@dataclass(slots=True)
class Cursor:
    """Where a writer writes next: its open (unterminated) line, if any, and the column in it."""

    line: int | None = None  # absolute index of the open line
    col: int = 0  # a lone \r sets it to 0 so text overwrites

    def close(self) -> None:
        """End the open line: the next write starts a new one."""
        self.line = None
        self.col = 0


CursorT = TypeVar("CursorT", bound=Cursor)


class LineBuffer(Generic[CursorT]):
    """At most ``max_lines`` lines, numbered ``first_index <= i < total``; a base for the model.

    ``version`` changes whenever the content does. Writers keep a :class:`Cursor` each in
    ``_streams``; the buffer closes a cursor whose line is dropped or replaced. The model's
    edits go through ``_append``, ``_write`` and ``_splice``, each closed by ``_commit``.
    """

    def __init__(self, max_lines: int) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        self._buf: list[Line] = []
        self._skip = 0  # dropped lines still at the front of _buf (sliced off in bulk)
        self._first = 0
        self._version = 0
        self._log: deque[tuple[int, int | None, frozenset[int]]] = deque()
        self._log_floor = 0  # readers that saw a version below this must redo everything
        self._mod: set[int] = set()
        self._restruct: int | None = None
        self._streams: dict[str, CursorT] = {}
        self._cell_start = 0  # absolute index where the current cell's output begins
        self._displays: dict[str, list[tuple[int, int]]] = {}  # display_id -> line ranges

    # -- reading ------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Bumped by every change; compare with the last one seen to know whether to repaint."""
        return self._version

    @property
    def first_index(self) -> int:
        """Absolute index of the oldest kept line; only grows (lines dropped from the top)."""
        return self._first

    @property
    def total(self) -> int:
        """One past the absolute index of the newest line (``first_index + line_count``)."""
        return self._first + len(self._buf) - self._skip

    @property
    def line_count(self) -> int:
        """Lines kept now (at most ``max_lines``)."""
        return len(self._buf) - self._skip

    def lines(self, start: int | None = None, stop: int | None = None) -> list[Text]:
        """Styled lines ``start <= i < stop`` (absolute, clamped to what is kept); read-only."""
        p0, p1 = self._span(start, stop)
        return [as_text(x) for x in self._buf[p0:p1]]

    def plain_lines(self, start: int | None = None, stop: int | None = None) -> list[str]:
        """The same lines without styles (cheap: no Text objects for plain lines)."""
        p0, p1 = self._span(start, stop)
        return [x if isinstance(x, str) else plain_text(x) for x in self._buf[p0:p1]]

    def row_items(self, start: int | None = None, stop: int | None = None) -> list[str | Block]:
        """What a view lays out: each line's characters, or the ``Block`` itself (whose rows
        depend on the width)."""
        p0, p1 = self._span(start, stop)
        return [x if isinstance(x, str) or isinstance(x, Block) else plain_text(x)
                for x in self._buf[p0:p1]]

    def block_at(self, index: int) -> Block | None:
        """The block stored at absolute line ``index``, if that line is one."""
        if not self._first <= index < self.total:
            return None
        item = self._buf[index - self._first + self._skip]
        return item if isinstance(item, Block) else None

    def block_changed(self, index: int) -> None:
        """The block at ``index`` changed its rows (its raw form toggled): views redo it."""
        if self._first <= index < self.total:
            first, total = self._first, self.total
            self._mod.add(index)
            self._commit(first, total)

    def changes_since(self, version: int) -> ConsoleChanges:
        """What changed after ``version`` besides appends and drops from the top."""
        first, total = self._first, self.total
        if version < self._log_floor:
            return ConsoleChanges(self._version, first, total, frozenset(), first)
        restruct: int | None = None
        modified: set[int] = set()
        for seen, r, mods in reversed(self._log):
            if seen <= version:
                break
            if r is not None and (restruct is None or r < restruct):
                restruct = r
            modified |= mods
        if restruct is not None:
            restruct = max(restruct, first)
        limit = total if restruct is None else restruct
        return ConsoleChanges(
            self._version,
            first,
            total,
            frozenset(i for i in modified if first <= i < limit),
            restruct,
        )

    # -- editing ------------------------------------------------------------------------------

    def _span(self, start: int | None, stop: int | None) -> tuple[int, int]:
        first, total = self._first, self.total
        a = first if start is None else min(max(start, first), total)
        b = total if stop is None else min(max(stop, a), total)
        return a - first + self._skip, b - first + self._skip

    def _write(self, st: CursorT, piece: Line) -> None:
        """Write one piece (no newline) at the cursor, opening a line if needed."""
        if st.line is None:
            self._append([piece])
            st.line = self.total - 1
            st.col = line_length(piece)
            return
        index = st.line
        pos = index - self._first + self._skip
        self._buf[pos] = overwrite(self._buf[pos], st.col, piece)
        st.col += line_length(piece)
        self._mod.add(index)

    def _append(self, lines: list[Line]) -> None:
        if lines:
            self._buf.extend(lines)
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest lines beyond ``max_lines`` (amortised O(1) per line)."""
        excess = len(self._buf) - self._skip - self.max_lines
        if excess <= 0:
            return
        self._first += excess
        self._skip += excess
        if self._skip >= _COMPACT_MIN and self._skip * 4 >= len(self._buf):
            del self._buf[: self._skip]
            self._skip = 0
        first = self._first
        for st in self._streams.values():
            if st.line is not None and st.line < first:
                st.close()
        if self._cell_start < first:
            self._cell_start = first

    def _splice(self, start: int, stop: int, new: list[Line]) -> None:
        """Replace lines ``start:stop`` (absolute) and move every remembered index along."""
        offset = self._skip - self._first
        self._buf[start + offset : stop + offset] = new
        delta = len(new) - (stop - start)
        if delta == 0 and len(new) <= _SPLICE_AS_MODIFIED:
            self._mod.update(range(start, stop))
        elif self._restruct is None or start < self._restruct:
            self._restruct = start
        for st in self._streams.values():
            if st.line is not None and st.line >= start:
                if st.line < stop:
                    st.close()
                else:
                    st.line += delta
        if self._cell_start > start:
            self._cell_start = self._cell_start + delta if self._cell_start >= stop else start
        for display_id, ranges in self._displays.items():
            moved: list[tuple[int, int]] = []
            for a, b in ranges:
                if b <= start:
                    moved.append((a, b))
                elif a >= stop:
                    moved.append((a + delta, b + delta))
                elif (a, b) == (start, stop):
                    moved.append((start, start + len(new)))
            self._displays[display_id] = moved
        self._trim()

    def _commit(self, first: int, total: int) -> None:
        """Close one edit: bump the version and remember in-place changes for readers."""
        mod, restruct = self._mod, self._restruct
        if not mod and restruct is None and first == self._first and total == self.total:
            return
        self._version += 1
        if mod or restruct is not None:
            limit = self.total if restruct is None else restruct
            kept = frozenset(i for i in mod if self._first <= i < limit)
            if len(self._log) >= _LOG_SIZE:
                self._log_floor = self._log.popleft()[0]
            self._log.append((self._version, restruct, kept))
            self._mod = set()
            self._restruct = None
