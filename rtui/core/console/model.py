"""A bounded buffer of styled console lines built from typed kernel events (no Textual here).

Lines are stored as plain ``str`` when they carry no style (the common case in an output flood:
no per-line objects beyond the string) and as ``rich.text.Text`` otherwise. Lines have absolute
numbers: ``first_index`` grows as old lines are dropped, so a view can keep its place.
A view asks :meth:`ConsoleModel.changes_since` what to redo instead of re-reading everything.
"""

from __future__ import annotations

import functools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from rich.ansi import AnsiDecoder
from rich.control import strip_control_codes
from rich.style import Style
from rich.text import Span, Text

from rtui.core.kernels.events import (
    ClearOutput,
    DisplayData,
    Error,
    ExecuteInput,
    ExecuteResult,
    KernelEvent,
    Stream,
)

__all__ = ["ConsoleChanges", "ConsoleModel", "ConsoleStyles"]

StyleType: TypeAlias = str | Style

_Styled: TypeAlias = tuple[str, StyleType]
_Line: TypeAlias = str | _Styled | Text
# A stored line: plain str (no style), (str, style) for one style (stderr, notes), or a Text.
# Floods stay cheap: no Text (three objects the garbage collector walks) for simple lines.

_LOG_SIZE: Final = 1024
# Edits (in-place changes, removals) remembered for views; a view further behind redraws all.
_COMPACT_MIN: Final = 4096
# Dropped lines are sliced off the list in bulk, not one ``del`` per append (that is O(n) each).
_HOLD_MAX: Final = 64
# Longest escape sequence held back when a chunk ends inside one.
_MAX_DISPLAYS: Final = 1000
# display_ids remembered for update_display_data; the oldest are forgotten first.
_SPLICE_AS_MODIFIED: Final = 32
# A same-length replacement up to this many lines is reported line by line, not as a reflow.
_TEXT_MIMES: Final = ("text/plain", "text/markdown", "text/latex")
_INCOMPLETE_ESCAPE: Final = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?")
_ESCAPE: Final = re.compile(r"\x1b(?:\[([0-9;:]*)m|\[[0-?]*[ -/]*[@-~]|[@-Z\\-_0-?]|[()].?)")
# SGR (group 1) or another escape sequence, which a console ignores (cursor moves, erase...).


@dataclass(frozen=True, slots=True)
class ConsoleStyles:
    """Styles for what the model adds itself; ANSI colour names follow the terminal's theme."""

    prompt_in: StyleType = "green"
    prompt_out: StyleType = "red"
    stderr: StyleType = "bright_red"
    error: StyleType = "bold red"
    info: StyleType = "italic blue"
    placeholder: StyleType = "dim"


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


@functools.lru_cache(maxsize=4096)
def _after_sgr(style: Style, params: str) -> Style:
    """The style after one SGR sequence: rich's own rules, computed once per (style, codes)."""
    decoder = AnsiDecoder()
    decoder.style = style
    decoder.decode_line(f"\x1b[{params}m")
    return decoder.style


class _SgrDecoder:
    """ANSI text to ``Text``, one line at a time, keeping the SGR state between calls.

    About twice as fast as ``rich.ansi.AnsiDecoder`` (which it defers to for OSC hyperlinks):
    coloured floods (logs, test runners) go through here line by line.
    """

    __slots__ = ("style",)

    def __init__(self) -> None:
        self.style = Style.null()

    def decode(self, piece: str) -> Text:
        """One line (no newline, no carriage return) of terminal output."""
        if "\x1b]" in piece:
            rich_decoder = AnsiDecoder()
            rich_decoder.style = self.style
            text = rich_decoder.decode_line(piece)
            self.style = rich_decoder.style
            return text
        piece = strip_control_codes(piece)
        style = self.style
        parts: list[str] = []
        spans: list[Span] = []
        size = pos = 0
        for match in _ESCAPE.finditer(piece):
            start = match.start()
            if start > pos:
                chunk = piece[pos:start]
                parts.append(chunk)
                if style:
                    spans.append(Span(size, size + len(chunk), style))
                size += len(chunk)
            pos = match.end()
            params = match.group(1)
            if params is not None:
                style = _after_sgr(style, params)
        if pos < len(piece):
            chunk = piece[pos:]
            parts.append(chunk)
            if style:
                spans.append(Span(size, size + len(chunk), style))
        self.style = style
        return Text("".join(parts), spans=spans)

    def decode_text(self, text: str) -> list[_Line]:
        """Several lines; a ``\r`` keeps only what follows it, as the last redraw wins."""
        return [self.decode(line.rsplit("\r", 1)[-1]) for line in text.split("\n")]


@dataclass(slots=True)
class _StreamState:
    """Where one stream (stdout or stderr) writes next."""

    parent: str | None = None
    line: int | None = None  # absolute index of the open (unterminated) line, if any
    col: int = 0  # cursor in the open line; a lone \r sets it to 0 so text overwrites
    pending: str = ""  # an escape sequence cut in two by the end of the previous chunk
    decoder: _SgrDecoder | None = None  # once escapes appear: SGR state across chunks

    def close(self, *, reset: bool = False) -> None:
        self.line = None
        self.col = 0
        if reset:
            self.pending = ""
            self.decoder = None


def _as_text(line: _Line) -> Text:
    if isinstance(line, str):
        return Text(line)
    if isinstance(line, tuple):
        return Text(line[0], style=line[1])
    return line


def _plain(line: _Line) -> str:
    if isinstance(line, str):
        return line
    if isinstance(line, tuple):
        return line[0]
    return line.plain


def _length(line: _Line) -> int:
    return len(line[0]) if isinstance(line, tuple) else len(line)


def _put(old: str, col: int, new: str) -> str:
    return old + new if col >= len(old) else old[:col] + new + old[col + len(new) :]


def _overwrite(old: _Line, col: int, new: _Line) -> _Line:
    """Write ``new`` over ``old`` from ``col``, as a terminal does (appending at the end)."""
    if isinstance(old, str) and isinstance(new, str):
        return _put(old, col, new)
    if isinstance(old, tuple) and isinstance(new, tuple) and old[1] == new[1]:
        return _put(old[0], col, new[0]), old[1]
    text, piece = _as_text(old), _as_text(new)
    if col >= len(text):
        return text + piece
    head, _, rest = text.divide([col, min(col + len(piece), len(text))])
    head.append(piece)
    head.append(rest)
    return head


def _text_lines(text: str) -> list[_Line]:
    """Split a whole text (a result, a traceback) into lines, honouring ANSI colours."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = text.rstrip("\n")
    if "\t" in text:
        text = text.expandtabs()
    if "\x1b" in text:
        return _SgrDecoder().decode_text(text)
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.rsplit("\r", 1)[-1] if "\r" in line else line for line in lines]
    return list(lines)


def _payload_size(mime: str, value: Any) -> int:
    if isinstance(value, str):
        if mime.startswith("image/") and not mime.endswith("+xml"):
            return (len(value) - value.count("\n")) * 3 // 4  # base64
        return len(value.encode())
    return len(json.dumps(value, default=str))


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


class ConsoleModel:
    """A bounded buffer of styled lines built from kernel events, independent of any widget.

    Feed it with :meth:`apply` (and :meth:`add_info` for local notes); read it with
    :meth:`lines` / :meth:`plain_lines` by absolute index, ``first_index <= i < total``.
    ``version`` changes whenever the content does, so a view repaints at most once per frame.
    """

    def __init__(self, max_lines: int = 100_000, *, styles: ConsoleStyles | None = None) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        self.styles = styles or ConsoleStyles()
        self._buf: list[_Line] = []
        self._skip = 0  # dropped lines still at the front of _buf (sliced off in bulk)
        self._first = 0
        self._version = 0
        self._log: deque[tuple[int, int | None, frozenset[int]]] = deque()
        self._log_floor = 0  # readers that saw a version below this must redo everything
        self._mod: set[int] = set()
        self._restruct: int | None = None
        self._streams: dict[str, _StreamState] = {}
        self._cell_parent: str | None = None
        self._cell_start = 0  # absolute index where the current cell's output begins
        self._clear_pending = False
        self._displays: dict[str, list[tuple[int, int]]] = {}
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            Stream: self._on_stream,
            ExecuteInput: self._on_execute_input,
            ExecuteResult: self._on_execute_result,
            DisplayData: self._on_display_data,
            Error: self._on_error,
            ClearOutput: self._on_clear_output,
        }

    def __repr__(self) -> str:
        return f"<ConsoleModel lines={self.line_count} first={self._first} v={self._version}>"

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
        return [_as_text(x) for x in self._buf[p0:p1]]

    def plain_lines(self, start: int | None = None, stop: int | None = None) -> list[str]:
        """The same lines without styles (cheap: no Text objects for plain lines)."""
        p0, p1 = self._span(start, stop)
        return [x if isinstance(x, str) else _plain(x) for x in self._buf[p0:p1]]

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

    # -- writing ------------------------------------------------------------------------------

    def apply(self, event: KernelEvent) -> None:
        """Add one kernel event's output; events that show nothing (status...) are ignored."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return
        first, total = self._first, self.total
        handler(event)
        self._commit(first, total)

    def add_info(self, text: str, style: StyleType | None = None) -> None:
        """Append a local note that is not kernel output (e.g. "kernel restarted")."""
        first, total = self._first, self.total
        self._close_streams()
        line_style = self.styles.info if style is None else style
        self._append([(part, line_style) for part in text.split("\n")])
        self._commit(first, total)

    def clear(self) -> None:
        """Forget every line (a user's "clear console"); numbering carries on."""
        first, total = self._first, self.total
        self._close_streams(reset=True)
        self._buf, self._skip, self._first = [], 0, total  # as if dropped from the top
        self._displays.clear()
        self._cell_start = total
        self._clear_pending = False
        self._commit(first, total)

    # -- event handlers -------------------------------------------------------------------------

    def _on_stream(self, ev: Stream) -> None:
        st = self._streams.get(ev.name)
        if st is None:
            st = self._streams[ev.name] = _StreamState()
        self._output(ev.parent_id)
        if st.parent != ev.parent_id:
            st.close()
            st.parent = ev.parent_id
        text = ev.text
        if st.pending:
            text, st.pending = st.pending + text, ""
        esc = text.rfind("\x1b")
        if (
            esc >= 0
            and len(text) - esc <= _HOLD_MAX
            and _INCOMPLETE_ESCAPE.fullmatch(text, esc) is not None
        ):
            text, st.pending = text[:esc], text[esc:]
        if not text:
            return
        style = self.styles.stderr if ev.name == "stderr" else None
        if (
            esc < 0
            and "\r" not in text
            and "\t" not in text
            and (st.decoder is None or not st.decoder.style)
        ):
            self._write_plain(st, text, style)
        else:
            self._write_terminal(st, text, style)

    def _on_execute_input(self, ev: ExecuteInput) -> None:
        self._close_streams(reset=True)
        self._clear_pending = False
        count = " " if ev.execution_count is None else str(ev.execution_count)
        prompt = f"In [{count}]: "
        more = " " * (len(prompt) - 5) + "...: "
        source = ev.code.rstrip("\n").expandtabs()
        out: list[_Line] = [""] if self.line_count else []
        for k, code in enumerate(source.split("\n")):
            line = Text()
            line.append(prompt if k == 0 else more, self.styles.prompt_in)
            line.append(code)
            out.append(line)
        self._append(out)
        self._cell_parent = ev.parent_id
        self._cell_start = self.total

    def _on_execute_result(self, ev: ExecuteResult) -> None:
        self._output(ev.parent_id)
        self._close_streams()
        count = ev.execution_count
        prompt = Text()
        prompt.append("Out:" if count is None else f"Out[{count}]:", self.styles.prompt_out)
        body = self._bundle_lines(ev.data)
        if len(body) == 1:  # IPython: one-line values follow the prompt, others start below
            prompt.append(" ")
            prompt.append(_as_text(body[0]))
            self._append([prompt])
        else:
            self._append([prompt, *body])

    def _on_display_data(self, ev: DisplayData) -> None:
        body = self._bundle_lines(ev.data)
        display_id = ev.display_id
        if ev.update and display_id is not None and self._replace_display(display_id, body):
            return
        self._output(ev.parent_id)
        self._close_streams()
        start = self.total
        self._append(body)
        if display_id is not None:
            self._displays.setdefault(display_id, []).append((start, start + len(body)))
            while len(self._displays) > _MAX_DISPLAYS:
                del self._displays[next(iter(self._displays))]

    def _on_error(self, ev: Error) -> None:
        self._output(ev.parent_id)
        self._close_streams()
        if ev.traceback:
            self._append(_text_lines("\n".join(ev.traceback)))
        else:
            self._append([(f"{ev.ename}: {ev.evalue}", self.styles.error)])

    def _on_clear_output(self, ev: ClearOutput) -> None:
        if ev.parent_id is not None and ev.parent_id != self._cell_parent:
            self._new_cell(ev.parent_id)
        if ev.wait:  # Jupyter: clear only when the next output arrives (no flicker)
            self._clear_pending = True
        else:
            self._clear_pending = False
            self._clear_cell()

    # -- cells --------------------------------------------------------------------------------

    def _new_cell(self, parent: str | None) -> None:
        self._cell_parent = parent
        self._cell_start = self.total
        self._clear_pending = False

    def _output(self, parent: str | None) -> None:
        """Output is arriving for ``parent``: make it the current cell, run a deferred clear."""
        if parent is not None and parent != self._cell_parent:
            self._new_cell(parent)
        if self._clear_pending:
            self._clear_pending = False
            self._clear_cell()

    def _clear_cell(self) -> None:
        start = max(self._cell_start, self._first)
        if start < self.total:
            self._splice(start, self.total, [])

    def _close_streams(self, *, reset: bool = False) -> None:
        for st in self._streams.values():
            st.close(reset=reset)

    def _replace_display(self, display_id: str, body: list[_Line]) -> bool:
        ranges = [r for r in self._displays.get(display_id, ()) if r[0] >= self._first]
        for start, stop in sorted(ranges, reverse=True):  # from the bottom: no index shifts
            self._splice(start, stop, list(body))
        return bool(ranges)

    def _bundle_lines(self, data: dict[str, Any]) -> list[_Line]:
        """A mimebundle as lines: its text form, else a one-line placeholder."""
        for mime in _TEXT_MIMES:
            value = data.get(mime)
            if isinstance(value, list):  # nbformat's multi-line strings
                value = "".join(str(part) for part in value)
            if isinstance(value, str):
                return _text_lines(value)
        if not data:
            return [("<empty output>", self.styles.placeholder)]
        mime = next((m for m in data if m.startswith("image/")), next(iter(data)))
        size = _human_size(_payload_size(mime, data[mime]))
        return [(f"<{mime} {size}>", self.styles.placeholder)]

    # -- streams ------------------------------------------------------------------------------

    def _write_plain(self, st: _StreamState, text: str, style: StyleType | None) -> None:
        """No \\r, tab or escape: whole lines go in with one split and one extend."""
        parts = text.split("\n")
        if len(parts) == 1:
            self._write(st, text if style is None else (text, style))
            return
        tail = parts.pop()
        if st.line is not None:
            head = parts.pop(0)
            if head:
                self._write(st, head if style is None else (head, style))
            st.close()
        if parts:
            self._append(list(parts) if style is None else [(p, style) for p in parts])
        if tail:
            self._write(st, tail if style is None else (tail, style))

    def _write_terminal(self, st: _StreamState, text: str, style: StyleType | None) -> None:
        """Line by line, like a terminal: \\r returns to column 0, escapes become styles."""
        segments = text.split("\n")
        last = len(segments) - 1
        for k, segment in enumerate(segments):
            if segment:
                for j, piece in enumerate(segment.split("\r")):
                    if j:
                        st.col = 0
                    if piece:
                        line = self._decode(st, piece, style)
                        if _length(line):
                            self._write(st, line)
            if k < last:
                if st.line is None:  # an empty line of its own
                    self._append(["" if style is None else ("", style)])
                st.close()

    def _decode(self, st: _StreamState, piece: str, style: StyleType | None) -> _Line:
        if "\t" in piece:
            piece = (" " * st.col + piece).expandtabs()[st.col :]
        decoder = st.decoder
        if decoder is None:
            if "\x1b" not in piece:
                return piece if style is None else (piece, style)
            decoder = st.decoder = _SgrDecoder()
        line = decoder.decode(piece)
        if style is not None:
            line.style = style  # the stream's colour under the text's own
        return line

    def _write(self, st: _StreamState, piece: _Line) -> None:
        """Write one piece (no newline) at the stream's cursor, opening a line if needed."""
        if st.line is None:
            self._append([piece])
            st.line = self.total - 1
            st.col = _length(piece)
            return
        index = st.line
        pos = index - self._first + self._skip
        self._buf[pos] = _overwrite(self._buf[pos], st.col, piece)
        st.col += _length(piece)
        self._mod.add(index)

    # -- the buffer ---------------------------------------------------------------------------

    def _span(self, start: int | None, stop: int | None) -> tuple[int, int]:
        first, total = self._first, self.total
        a = first if start is None else min(max(start, first), total)
        b = total if stop is None else min(max(stop, a), total)
        return a - first + self._skip, b - first + self._skip

    def _append(self, lines: list[_Line]) -> None:
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

    def _splice(self, start: int, stop: int, new: list[_Line]) -> None:
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
