"""The console's output pane: paints only the visible rows of a ConsoleModel, once per frame.

Lines soft-wrap at the pane's width, as in a terminal (by cells, not words): console output
(tracebacks, long reprs, progress bars) must be readable without scrolling sideways. Wrapping
stays cheap because it is done lazily: a line's row count comes from its cell length alone
(an index of row offsets, extended incrementally as lines arrive), and only lines that are
actually painted are rendered and cut into rows (cached per line).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import ClassVar, cast

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.events import Resize
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rtui.core.console.blocks import Block, ImageBlock
from rtui.core.console.model import ConsoleModel
from rtui.tui.render import scroll_band, update_scrollbars
from rtui.tui.widgets.console_images import InlineImages
from rtui.tui.widgets.console_rich import RichLayouts

__all__ = ["ConsoleView"]

# Seconds between catch-ups during a flood: 30 repaints a second, however many messages arrive.
_FRAME = 1 / 30
# Lines whose rendered rows are kept (several screens' worth, for scrolling back and forth).
_CACHE_LINES = 2048
#: Fewer new lines than this since the last paint are painted at once, not at the frame.
_SMALL_UPDATE = 64
_QUICK_PER_FRAME = 4  # immediate paints allowed per frame before coalescing kicks in


def _text_rows(lines: list[str], width: int) -> list[int]:
    """Rows each text line takes when wrapped at ``width`` cells (at least one)."""
    counts: list[int] = []
    append = counts.append
    for line in lines:
        cells = len(line) if line.isascii() else cell_len(line)
        append(1 if cells <= width else (cells + width - 1) // width)
    return counts


def _row_counts(lines: list[str | Block], width: int, numbers: Sequence[int],
                block_rows: Callable[[Block, int], int]) -> list[int]:
    """Rows each line (absolute ``numbers``) takes at ``width``: text soft-wrapped, a block
    as ``block_rows(block, number)`` says. The flood's case (no block) costs no check per
    line: a block fails ``isascii`` and the slow way runs."""
    try:
        return _text_rows(cast("list[str]", lines), width)
    except AttributeError:
        return [block_rows(line, number) if isinstance(line, Block)
                else _text_rows([line], width)[0]
                for line, number in zip(lines, numbers, strict=True)]


class _BlockRows:
    """A laid-out block's rows, each made a Strip when first painted: a 1000-row table costs
    the rows on screen, not all of them (making all took ~0.1 s on the event loop)."""

    __slots__ = ("_make", "_strips", "_texts")

    def __init__(self, texts: list[Text], make: Callable[[Text], Strip]) -> None:
        self._texts = texts
        self._make = make
        self._strips: dict[int, Strip] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self._make(self._texts[index])
        return strip


Rows = list[Strip] | _BlockRows  # a line's rows at the view's width


class ConsoleView(ScrollView, can_focus=True, inherit_bindings=False):
    """Kernel output, soft-wrapped, following the newest line unless the user scrolled up.

    The owner applies events to the :class:`ConsoleModel` and calls :meth:`notify_changed`
    (cheap: call it after every event). The view catches up at most once per frame, so a flood
    costs one index update and one repaint of the visible rows per frame, never one per message.
    """

    DEFAULT_CSS = """
    ConsoleView {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: scroll;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "page_up", "Page up", id="console.page_up", show=False),
        Binding("pagedown", "page_down", "Page down", id="console.page_down", show=False),
        Binding("home", "top", "Oldest output", id="console.top", show=False),
        Binding("end", "bottom", "Newest output (follow)", id="console.bottom"),
        Binding("up", "line_up", "Scroll up a line", id="console.line_up", show=False),
        Binding("down", "line_down", "Scroll down a line", id="console.line_down", show=False),
        Binding("r", "toggle_raw", "Raw text / rendered", id="console.raw"),
        Binding("s", "save(False)", "Save output here", id="console.save"),
        Binding("S", "save(True)", "Save output on host", id="console.save_host"),
    ]

    @dataclass
    class SaveRequested(Message):
        """``s`` / ``S`` on an output with bytes of its own (a picture, an unknown type)."""

        data: bytes
        suffix: str
        number: int  # the picture's number, else the output's line
        on_host: bool

    ALLOW_SELECT = False
    # Rows carry no selection offsets yet; the terminal's own selection (often shift+drag) works.

    follow: var[bool] = var(True)
    """Keep the newest output in view. Off once the user scrolls up; on again at the bottom."""

    def __init__(
        self,
        model: ConsoleModel,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.model = model
        self._interval = _FRAME
        self._seen = -1  # model version painted; -1: nothing yet
        self._width = 0  # wrap width the row index was built for
        # Row index: _ends[k] is the row (global, counted from the first line ever indexed)
        # just past absolute line _idx0 + k. Lines dropped from the model are sliced off in bulk.
        self._idx0 = 0
        self._origin = 0  # global row where line _idx0 starts
        self._ends: list[int] = []
        self._top_line = 0  # the model's first_index at the last catch-up
        self._cache: LRUCache[int, Rows] = LRUCache(_CACHE_LINES)
        self._pending = False
        self._last_sync = 0.0
        self._synced_total = 0
        self._window_start = 0.0
        self._quick = 0
        self._held = False  # see hold()
        self._style: Style | None = None  # rich_style, cached until the styles change
        self._syncing = False  # sync() is scrolling the view to what it just indexed
        self._geometry: tuple[object, ...] = ()  # the images' geometry the index is for
        self._block_versions: dict[int, int] = {}  # cached block lines: the version drawn
        self.images = InlineImages(self._image_ready)
        self.rich = RichLayouts(self._rich_ready)  # big rich outputs, laid out in a thread

    # -- the owner's side ---------------------------------------------------------------------

    def hold(self) -> None:
        """Paint nothing new until ``release``.

        For a cell just sent: its echo and a quick result (`1+1`) then share one frame. Two
        frames would cost twice the render time (~4 ms each at 120x36), and the result would
        wait behind the echo's. The owner bounds the hold (ConsolePane._hold).
        """
        self._held = True

    def release(self) -> None:
        """End a ``hold``: what came meanwhile is painted at once (synced now, not a loop
        turn later: the screen paints on its next idle)."""
        self._held = False
        if self._pending and self.is_mounted:
            self._flush()

    def notify_changed(self) -> None:
        """The model changed: repaint within a frame. Coalesced, so call it once per event."""
        if self._pending or not self.is_mounted:
            return  # on mount (or resize) the view catches up anyway
        self._pending = True
        if self._held:
            return  # release() paints
        now = time.monotonic()
        delay = self._last_sync + self._interval - now
        # A trickle (`1+1`: its input echo, then its result 2 ms later) paints at once; a
        # stream of small messages uses up the budget and waits for the frame like a flood.
        if now - self._window_start > self._interval:
            self._window_start, self._quick = now, 0
        small = (self.model.total - self._synced_total < _SMALL_UPDATE
                 and self._quick < _QUICK_PER_FRAME)
        if small:
            self._quick += 1
        if delay <= 0 or small:  # idle, or a trickle: on the next loop turn
            self.call_later(self._flush)
        else:
            self.set_timer(delay, self._flush, name="console-catch-up")

    def _flush(self) -> None:
        self._pending = False
        self._last_sync = time.monotonic()
        self._synced_total = self.model.total
        self.sync()

    def sync(self) -> None:
        """Catch up with the model now: row index, virtual size, scroll position, repaint."""
        width = self.scrollable_content_region.width
        model = self.model
        if width <= 0 or (model.version == self._seen and width == self._width):
            return
        anchor = None if self.follow else self._locate(round(self.scroll_y))
        changes = model.changes_since(self._seen)
        first, total = changes.first_index, changes.total
        self._seen = changes.version
        restruct = changes.restructured_from
        # The first line whose rows changed; None: repaint everything.
        # Global rows (kept across lines dropped at the head): the first shown, and the end
        # of the output, at the last paint.
        top_before = self._row_start(self._top_line)
        before = (top_before + round(self.scroll_offset.y), top_before + self.virtual_size.height)
        changed_from: int | None = min(
            [self._idx0 + len(self._ends), *changes.modified,
             *([restruct] if restruct is not None else [])])
        geometry = self._geometry_key()
        if width != self._width or geometry != self._geometry:
            self._width, self._geometry = width, geometry
            self._cache.clear()
            restruct = first
        ends = self._ends
        if first >= self._idx0 + len(ends) or (restruct is not None and restruct <= first):
            ends.clear()  # start over (a resize, a clear, a reader far behind)
            self._idx0, self._origin = first, 0
            self._cache.clear()
            changed_from = None
        else:
            if restruct is not None and restruct < self._idx0 + len(ends):
                del ends[restruct - self._idx0 :]
                for key in [key for key in self._cache.keys() if key >= restruct]:
                    self._cache.discard(key)
            for index in changes.modified:
                self._cache.discard(index)
            self._reflow(sorted(i for i in changes.modified if i < self._idx0 + len(ends)))
            dropped = first - self._idx0
            if dropped > 0 and dropped * 2 >= len(ends):
                self._origin = ends[dropped - 1]
                del ends[:dropped]
                self._idx0 = first
        start = self._idx0 + len(ends)
        if start < total:
            rows = _row_counts(model.row_items(start, total), width, range(start, total),
                               self._block_rows)
            ends.extend(accumulate(rows, initial=ends[-1] if ends else self._origin))
            del ends[start - self._idx0]  # accumulate() yields the initial value first
        self._top_line = first
        top = self._row_start(first)
        height = self._row_start(total) - top
        self._set_virtual_size(Size(width, height))
        self._syncing = True  # the scroll's watcher leaves the painting to _repaint
        try:
            if self.follow:
                self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
            elif anchor is not None:
                line, row = anchor
                if line < first:
                    y = 0  # the line the user was reading is gone: show the oldest kept
                elif line >= total:
                    y = height
                else:
                    y = self._row_start(line) - top + min(row, self._rows(line) - 1)
                self.scroll_to(y=y, animate=False, force=True)
        finally:
            self._syncing = False
        self._repaint(changed_from, *before)

    def _repaint(self, changed_from: int | None, shown_before: int, end_before: int) -> None:
        """Repaint the rows from the first changed line to the end of the output (old or
        new); when the view followed the output down a few rows (lines dropped at the head
        or not), the terminal moves the rows that stayed and only the new ones are painted
        (rtui.tui.render.band_scroll); else every row.

        A result printed under earlier ones leaves the rows above it, and the blank rows
        below it, as they were: most of the screen is the console's rows."""
        top = self._row_start(self._top_line)
        shown = top + round(self.scroll_offset.y)  # global row at the view's first row
        moved = shown - shown_before  # rows the content went up by
        if changed_from is None or moved < 0:
            self.refresh()
            return
        window = self.scrollable_content_region.height
        # Global rows before this one show what they showed at the last paint.
        kept = min(self._row_start(max(changed_from, self._top_line)), end_before)
        if moved and not (kept > shown and scroll_band(self, moved)):
            self.refresh()
            return
        start = max(kept - shown, 0)
        end = min(max(end_before, top + self.virtual_size.height) - shown, window)
        if start < end:
            self.refresh(Region(0, start, max(self.virtual_size.width, self.size.width),
                                end - start))

    def _set_virtual_size(self, size: Size) -> None:
        """Grow or shrink the scrollable area without a layout pass.

        Assigning ``virtual_size`` asks for a layout of the whole screen (~8 ms at 120x36),
        on every new line; only the scrollbars depend on it here (the widget's own size is
        set by its container), so they are updated directly, the way Textual's layout would.
        """
        old = self.virtual_size
        if size == old:
            return
        self.set_reactive(ConsoleView.virtual_size, size)
        if old.width == size.width and max(old.height, size.height) <= (
                self.scrollable_content_region.height):
            return  # all of it fits, before and after: the scrollbar looks the same
        update_scrollbars(self, size)

    # -- the row index ------------------------------------------------------------------------

    def _row_start(self, line: int) -> int:
        k = line - self._idx0
        return self._ends[k - 1] if k > 0 else self._origin

    def _rows(self, line: int) -> int:
        return self._ends[line - self._idx0] - self._row_start(line)

    def _locate(self, y: int) -> tuple[int, int] | None:
        """The absolute line at virtual row ``y`` and the row within that line."""
        ends = self._ends
        lo = self._top_line - self._idx0
        if lo < 0 or lo >= len(ends):
            return None
        row = self._row_start(self._top_line) + y
        k = bisect_right(ends, row, lo)
        if k >= len(ends):
            return None
        line = self._idx0 + k
        return line, row - self._row_start(line)

    def _reflow(self, changed: list[int]) -> None:
        """Lines edited in place (sorted): fix the rows after any whose height changed."""
        if not changed:
            return
        width, ends, idx0 = self._width, self._ends, self._idx0
        model = self.model
        counts = _row_counts([model.row_items(i, i + 1)[0] for i in changed], width, changed,
                             self._block_rows)
        deltas = [
            (i - idx0, n - self._rows(i))
            for i, n in zip(changed, counts, strict=True)
            if n != self._rows(i)
        ]
        if not deltas:
            return  # the usual case: a progress bar redrawn at the same length
        running, j = 0, 0
        for k in range(deltas[0][0], len(ends)):
            if j < len(deltas) and deltas[j][0] == k:
                running += deltas[j][1]
                j += 1
            ends[k] += running

    # -- painting -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """One row of the viewport: a slice of a wrapped line (rendered once, then cached)."""
        style = self._style
        if style is None:  # rich_style walks every ancestor: once, not once per row
            style = self._style = self.rich_style
        width = self._width
        found = self._locate(self.scroll_offset.y + y)
        if found is None or width <= 0:
            return Strip.blank(max(width, self.size.width), style)
        line, row = found
        rows = self._cache.get(line)
        drawn = self._block_versions.get(line)
        if drawn is not None and rows is not None:
            block = self.model.block_at(line)
            if block is None or self._block_version(block) != drawn:
                rows = None
        if rows is None:
            rows = self._wrap(line, width, style)
            self._cache[line] = rows
        return rows[row] if row < len(rows) else Strip.blank(width, style)

    def _block_version(self, block: Block) -> int:
        """What a cached drawing of ``block`` depends on: its version and, for a picture,
        whether its drawing was ready then."""
        if isinstance(block, ImageBlock) and block.drawn:
            return block.version * 2 + int(self.images.ready(block, self._width))
        return block.version * 2

    def _wrap(self, line: int, width: int, style: Style) -> Rows:
        block = self.model.block_at(line)
        if block is not None:
            self._block_versions[line] = self._block_version(block)
            if len(self._block_versions) > 4 * _CACHE_LINES:
                self._block_versions.clear()  # stale entries only cost a redraw
            return self._draw_block(line, block, width, style)
        texts = self.model.lines(line, line + 1)
        if not texts:
            return [Strip.blank(width, style)]
        return self._cut(texts[0], width, style)

    def _cut(self, text: Text, width: int, style: Style) -> list[Strip]:
        """``text`` soft-wrapped into rows of ``width`` cells (as many as ``_text_rows`` says)."""
        strip = Strip(list(text.render(self.app.console))).apply_style(style)
        cells = strip.cell_length
        if cells <= width:
            return [strip.extend_cell_length(width, style)]
        parts = strip.divide([*range(width, cells, width), cells])  # the last cut: the end
        return [part.extend_cell_length(width, style) for part in parts]

    def _block_rows(self, block: Block, line: int) -> int:
        """Rows of ``block`` at line ``line``: its plain text's while it is laid out in the
        thread (then ``_rich_ready`` reflows it), else its own."""
        width = self._width
        if self.rich.deferred(block, line, width):
            return sum(_text_rows(block.plain.split("\n"), width))
        return block.rows(width)

    def _draw_block(self, line: int, block: Block, width: int, style: Style) -> Rows:
        """A block's rows at ``width``: a picture's (drawn in a thread, its label meanwhile),
        a big rich output's plain text (dim) while it is laid out in a thread, or rich text
        laid out by the block."""
        if isinstance(block, ImageBlock) and block.drawn:
            strips = self.images.strips(block, line, width, style)
            if strips is not None:
                return strips
        if self.rich.deferred(block, line, width):
            return [row for text in block.plain.split("\n")
                    for row in self._cut(Text.assemble((text, "dim")), width, style)]
        console = self.app.console

        def make(text: Text) -> Strip:
            strip = Strip(list(text.render(console))).apply_style(style)
            return strip.crop_extend(0, width, style)

        return _BlockRows(block.lines(width), make)

    def _image_ready(self, line: int) -> None:
        """A picture drawn in a thread is ready: repaint its line if it is still there."""
        self._cache.discard(line)
        self.refresh()

    def _rich_ready(self, block: Block, line: int) -> None:
        """A big rich output was laid out in the thread: reflow its line (where the view last
        counted it; if it moved since, the model's change made the view count it again)."""
        if self.model.block_at(line) is block:
            self.model.block_changed(line)
            self.notify_changed()

    def _geometry_key(self) -> tuple[object, ...]:
        """Set the model's image geometry from this view's size; what changes the rows."""
        geometry = self.model.geometry
        height = self.scrollable_content_region.height
        if height > 0:
            geometry.max_rows = max(4, height - 2)
        return (geometry.max_rows, geometry.cell_px, geometry.draw)

    def notify_style_update(self) -> None:
        """Theme or CSS changed: rendered rows carry old colours."""
        super().notify_style_update()
        self._style = None
        self._cache.clear()
        self.refresh()

    # -- scrolling ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        paint = getattr(self.app, "paint_image", None)  # the run's terminal graphics (RtuiApp)
        if paint is not None:
            self.images = InlineImages(self._image_ready, paint)
        self.sync()

    def on_unmount(self) -> None:
        self.images.close()
        self.rich.close()

    def on_resize(self, event: Resize) -> None:
        self.sync()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if self._syncing:  # following new output: sync's _repaint paints what changed
            if self.show_vertical_scrollbar:
                self.vertical_scrollbar.position = new_value
        else:
            super().watch_scroll_y(old_value, new_value)
        self.follow = round(new_value) >= self.max_scroll_y

    def action_page_up(self) -> None:
        """Scroll back a page (stops following)."""
        self.scroll_to(y=self.scroll_y - self.scrollable_content_region.height, animate=False)

    def action_page_down(self) -> None:
        """Scroll forward a page (follows again at the bottom)."""
        self.scroll_to(y=self.scroll_y + self.scrollable_content_region.height, animate=False)

    def action_line_up(self) -> None:
        """Scroll back a row."""
        self.scroll_to(y=self.scroll_y - 1, animate=False)

    def action_line_down(self) -> None:
        """Scroll forward a row."""
        self.scroll_to(y=self.scroll_y + 1, animate=False)

    def action_top(self) -> None:
        """Go to the oldest kept output."""
        self.scroll_to(y=0, animate=False)
        self.follow = self.max_scroll_y == 0

    def _output_in_view(self) -> tuple[int, Block] | None:
        """The output block nearest the bottom of the view (the one a person just saw)."""
        height = self.scrollable_content_region.height
        seen: set[int] = set()
        for y in range(height - 1, -1, -1):
            found = self._locate(round(self.scroll_offset.y) + y)
            if found is None or found[0] in seen:
                continue
            seen.add(found[0])
            block = self.model.block_at(found[0])
            if block is not None:
                return found[0], block
        return None

    def action_toggle_raw(self) -> None:
        """Show the output nearest the bottom as its text/plain, or rendered again."""
        found = self._output_in_view()
        if found is None:
            self.notify("No rendered output in view (a plot, Markdown, HTML, a table…)",
                        severity="warning", timeout=4)
            return
        line, block = found
        block.raw = not block.raw
        self.model.block_changed(line)
        self.notify_changed()

    def action_save(self, on_host: bool) -> None:
        """Save the output nearest the bottom (a picture, an unknown type's bytes)."""
        found = self._output_in_view()
        payload = None if found is None else found[1].payload()
        if found is None or payload is None:
            self.notify("No output with bytes to save in view (a plot, an unknown type)",
                        severity="warning", timeout=4)
            return
        line, block = found
        number = block.record.seq if isinstance(block, ImageBlock) else line
        self.post_message(self.SaveRequested(payload[0], payload[1], number, on_host))

    def action_bottom(self) -> None:
        """Go to the newest output and follow it again."""
        self.follow = True
        self.sync()
        self.scroll_to(y=self.max_scroll_y, animate=False)
