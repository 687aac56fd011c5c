"""Kernel events become console lines: streams, prompts, results, displays, errors, clears.

The model decides what each event writes, and where: a stream continues its open line (a
``\\r`` redraws it, escapes become styles), a result gets its ``Out[n]:`` prompt, a display can
be updated in place, ``clear_output`` empties the current cell. Storage, numbering and the
change log views read are :class:`~rtui.core.console.buffer.LineBuffer`'s (no Textual here).
Lines are stored as plain ``str`` when they carry no style (the common case in an output flood)
and as ``rich.text.Text`` otherwise (see :mod:`rtui.core.console.lines`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from rich.text import Text

from rtui.core.console.ansi import (
    HOLD_MAX,
    INCOMPLETE_ESCAPE,
    SgrDecoder,
    text_lines,
    visible_length,
)
from rtui.core.console.blocks import Block, ImageGeometry
from rtui.core.console.buffer import ConsoleChanges, Cursor, LineBuffer
from rtui.core.console.bundles import bundle_lines
from rtui.core.console.images import ImageStore
from rtui.core.console.lines import Line, StyleType, as_text, line_length
from rtui.core.kernels.events import (
    ClearOutput,
    DisplayData,
    Error,
    ExecuteInput,
    ExecuteResult,
    KernelEvent,
    KernelExited,
    MessageDropped,
    OutputDropped,
    OutputReplayed,
    Stream,
)

__all__ = ["ConsoleChanges", "ConsoleModel", "ConsoleStyles", "StyleType"]

_MAX_DISPLAYS: Final = 1000
# display_ids remembered for update_display_data; the oldest are forgotten first.


@dataclass(frozen=True, slots=True)
class ConsoleStyles:
    """Styles for what the model adds itself; ANSI colour names follow the terminal's theme."""

    prompt_in: StyleType = "green"
    prompt_out: StyleType = "red"
    stderr: StyleType = "bright_red"
    error: StyleType = "bold red"
    info: StyleType = "italic blue"
    placeholder: StyleType = "dim"
    seam: StyleType = "italic yellow"
    dead: StyleType = "bold red"


@dataclass(slots=True)
class _StreamState(Cursor):
    """Where one stream (stdout or stderr) writes next, and what it carries between chunks."""

    parent: str | None = None
    pending: str = ""  # an escape sequence cut in two by the end of the previous chunk
    decoder: SgrDecoder | None = None  # once escapes appear: SGR state across chunks

    def close(self, *, reset: bool = False) -> None:
        self.line = None
        self.col = 0
        if reset:
            self.pending = ""
            self.decoder = None


class ConsoleModel(LineBuffer[_StreamState]):
    """A bounded buffer of styled lines built from kernel events, independent of any widget.

    Feed it with :meth:`apply` (and :meth:`add_info` for local notes); read it with
    :meth:`lines` / :meth:`plain_lines` by absolute index, ``first_index <= i < total``.
    ``version`` changes whenever the content does, so a view repaints at most once per frame.
    """

    def __init__(self, max_lines: int = 100_000, *, styles: ConsoleStyles | None = None,
                 images: ImageStore | None = None) -> None:
        super().__init__(max_lines)
        self.styles = styles or ConsoleStyles()
        self.images = images or ImageStore()  # every picture shown; the Plots tab reads it
        self.geometry = ImageGeometry()  # the view sets it: cell size, rows at most
        self._cell_parent: str | None = None
        self._noted_version = 0  # the version a note or seam made: unchanged, nothing shown
        self._clear_pending = False
        self._cell_count: int | None = None
        # The last malformed-message note: (the version it made, its text, how many it says)
        self._dropped_run: tuple[int, str, int] | None = None
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            Stream: self._on_stream,
            ExecuteInput: self._on_execute_input,
            ExecuteResult: self._on_execute_result,
            DisplayData: self._on_display_data,
            Error: self._on_error,
            ClearOutput: self._on_clear_output,
            OutputReplayed: self._on_replayed,
            OutputDropped: self._on_dropped,
            KernelExited: self._on_exited,
            MessageDropped: self._on_message_dropped,
        }

    def __repr__(self) -> str:
        return f"<ConsoleModel lines={self.line_count} first={self._first} v={self._version}>"

    # -- writing ------------------------------------------------------------------------------

    def apply(self, event: KernelEvent) -> None:
        """Add one kernel event's output; events that show nothing (status...) are ignored."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return
        first, total = self._first, self.total
        handler(event)
        self._commit(first, total)

    def add_info(self, text: str, style: StyleType | None = None, *,
                 between_lines: bool = False) -> None:
        """Append a local note that is not kernel output (e.g. "kernel restarted");
        ``between_lines`` for one about the link while output may flow (see ``_note``)."""
        first, total = self._first, self.total
        self._note(text, self.styles.info if style is None else style,
                   between_lines=between_lines)
        self._commit(first, total)

    def _note(self, text: str, style: StyleType, *, between_lines: bool = False) -> None:
        """A note on lines of its own. ``between_lines``: a note that comes while output
        flows (a lost link, a replay's seam) goes above a line the kernel has begun and not
        ended, which goes on where it was; it cut that line in two, which read as a line
        lost (``TAG 12``, the note, ``3``)."""
        self._noted_version = self._version + 1  # what this edit's commit makes it
        lines: list[Line] = [(part, style) for part in text.split("\n")]
        open_lines = sorted(st.line for st in self._streams.values() if st.line is not None)
        if between_lines and open_lines and open_lines[0] == self.total - len(open_lines):
            self._splice(open_lines[0], open_lines[0], lines)  # the open lines move down
            return
        self._close_streams()
        self._append(lines)

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
            and len(text) - esc <= HOLD_MAX
            and INCOMPLETE_ESCAPE.fullmatch(text, esc) is not None
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
        out: list[Line] = [""] if self.line_count else []
        for k, code in enumerate(source.split("\n")):
            line = Text()
            line.append(prompt if k == 0 else more, self.styles.prompt_in)
            line.append(code)
            out.append(line)
        self._append(out)
        self._cell_count = ev.execution_count  # what a picture of this cell is listed under
        self._cell_parent = ev.parent_id
        self._cell_start = self.total

    def _on_execute_result(self, ev: ExecuteResult) -> None:
        self._output(ev.parent_id)
        self._close_streams()
        count = ev.execution_count
        prompt = Text()
        prompt.append("Out:" if count is None else f"Out[{count}]:", self.styles.prompt_out)
        body = self._bundle(ev.data, count, None)
        if len(body) == 1 and not isinstance(body[0], Block):
            # IPython: one-line values follow the prompt, others start below
            prompt.append(" ")
            prompt.append(as_text(body[0]))
            self._append([prompt])
        else:
            self._append([prompt, *body])

    def _on_display_data(self, ev: DisplayData) -> None:
        display_id = ev.display_id
        body = self._bundle(ev.data, self._cell_count, display_id)
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

    def _bundle(self, data: dict[str, Any], count: int | None,
                display_id: str | None) -> list[Line]:
        return bundle_lines(data, self.styles.placeholder, images=self.images,
                            geometry=self.geometry, execution_count=count,
                            display_id=display_id)

    def _on_error(self, ev: Error) -> None:
        self._output(ev.parent_id)
        self._close_streams()
        if ev.traceback:
            self._append(text_lines("\n".join(ev.traceback)))
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

    # -- what the kernel's keeper says ----------------------------------------------------------

    def _on_replayed(self, ev: OutputReplayed) -> None:
        """The seam: output above it was kept on the host while this console was away
        (unmarked when the replay showed nothing: a new kernel's first statuses, say)."""
        note = ev.describe()
        if note and (self._version != self._noted_version or ev.dropped):
            self._note(f"── {note} ──", self.styles.seam, between_lines=True)

    def _on_dropped(self, ev: OutputDropped) -> None:
        self._note(f"── {ev.describe()} ──", self.styles.seam, between_lines=True)

    def _on_exited(self, ev: KernelExited) -> None:
        self._note(f"The kernel {ev.describe()}.", self.styles.dead)
        tail = ev.log_tail.rstrip()
        if tail:
            self._note("The end of its log:\n" + tail, self.styles.placeholder)

    def _on_message_dropped(self, ev: MessageDropped) -> None:
        """One line for a malformed message; a run of the same (a kernel that sends nothing
        else) stays that one line, with a count."""
        note = f"[{ev.describe()}]"
        run = self._dropped_run
        if run is not None and run[0] == self._version and run[1] == note:
            count = run[2] + 1
            self._splice(self.total - 1, self.total,
                         [(f"{note} \u00d7{count:,}", self.styles.placeholder)])
        else:
            count = 1
            self._note(note, self.styles.placeholder)
        self._dropped_run = (self._version + 1, note, count)

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

    def _replace_display(self, display_id: str, body: list[Line]) -> bool:
        ranges = [r for r in self._displays.get(display_id, ()) if r[0] >= self._first]
        for start, stop in sorted(ranges, reverse=True):  # from the bottom: no index shifts
            self._splice(start, stop, list(body))
        return bool(ranges)

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
                pieces = segment.split("\r")
                hidden = _covered(pieces) if len(pieces) > 2 else bytes(len(pieces))
                for j, piece in enumerate(pieces):
                    if j:
                        st.col = 0
                    if hidden[j]:  # redrawn over whole later: only its colours carry on
                        if st.decoder is not None or "\x1b" in piece:
                            st.decoder = st.decoder or SgrDecoder()
                            st.decoder.advance(piece)
                    elif piece:
                        line = self._decode(st, piece, style)
                        if line_length(line):
                            self._write(st, line)
            if k < last:
                if st.line is None:  # an empty line of its own
                    self._append(["" if style is None else ("", style)])
                st.close()

    def _decode(self, st: _StreamState, piece: str, style: StyleType | None) -> Line:
        if "\t" in piece:
            piece = (" " * st.col + piece).expandtabs()[st.col :]
        decoder = st.decoder
        if decoder is None:
            if "\x1b" not in piece:
                return piece if style is None else (piece, style)
            decoder = st.decoder = SgrDecoder()
        line = decoder.decode(piece)
        if style is not None:
            line.style = style  # the stream's colour under the text's own
        return line


def _covered(pieces: list[str]) -> bytearray:
    """Which of a line's ``\r``-separated pieces (each after the first written from column
    0) a later piece overwrites whole: a 5 MB stream of coloured redraws decoded each of its
    700,000 pieces into styled text (25 s on the loop) to show the last."""
    hidden = bytearray(len(pieces))  # 1: hidden (a byte each: 1.2 M pieces in 5 MB)
    cover = 0  # the longest later piece, from column 0
    for j in range(len(pieces) - 1, 0, -1):
        size = visible_length(pieces[j])
        if size is None:
            continue
        if size <= cover:
            hidden[j] = 1
        else:
            cover = size
    return hidden
