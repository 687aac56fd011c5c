"""A console's Plots tab: every image its kernel showed, newest first, browsed by keys.

The list and the picture read the console's ImageStore (rtui.core.console.images); the picture
is drawn in a thread at the size of its pane (or of the whole tab, ``enter``), so browsing a
hundred plots never blocks typing elsewhere. ``s`` saves the picture on this machine, ``S`` on
the host; an image whose bytes the console no longer keeps says so and cannot be saved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from rtui.core.console.blocks import ImageGeometry
from rtui.core.console.images import ImageRecord, ImageStore
from rtui.core.console.saving import default_name
from rtui.core.units import byte_size
from rtui.tui.widgets.console_images import half_block_rows, raster

__all__ = ["PlotPicture", "PlotsPane"]


class PlotPicture(Widget, can_focus=True):
    """One image drawn as large as the widget allows, its aspect kept."""

    DEFAULT_CSS = """
    PlotPicture { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, paint: Callable[[bytes, int, int], list[Strip]] = half_block_rows,
                 geometry: ImageGeometry | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._paint = paint
        self._geometry = geometry or ImageGeometry()
        self.record: ImageRecord | None = None
        self._strips: list[Strip] = []
        self._drawn_for: tuple[int, int, int, int] | None = None  # seq, version, w, h
        self._note = ""

    def show(self, record: ImageRecord | None) -> None:
        """Draw ``record`` (None: nothing)."""
        self.record = record
        self._redraw()

    def on_mount(self) -> None:
        paint = getattr(self.app, "paint_image", None)  # the run's terminal graphics (RtuiApp)
        if paint is not None:
            self._paint = paint

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        record, (width, height) = self.record, self.size
        if record is None or width <= 0 or height <= 0:
            self._strips, self._drawn_for, self._note = [], None, "No plots yet."
            self.refresh()
            return
        key = (record.seq, record.version, width, height)
        if key == self._drawn_for:
            return
        self._drawn_for = key
        if record.data is None:
            self._strips, self._note = [], f"{record.describe()}: no longer kept."
            self.refresh()
            return
        geometry = ImageGeometry(self._geometry.cell_px, max(1, height), True)
        cols, rows = geometry.cells(record.size_px, width)
        self._note = f"{record.describe()}: drawing…"
        self.refresh()
        self._draw(record.data, record.mime, cols, rows, key)

    def _raster_paint(self, data: bytes, mime: str, cols: int, rows: int) -> list[Strip]:
        return self._paint(raster(data, mime), cols, rows)

    @work(exclusive=True, group="plot-draw", exit_on_error=False)
    async def _draw(self, data: bytes, mime: str, cols: int, rows: int,
                    key: tuple[int, int, int, int]) -> None:
        try:
            strips = await asyncio.to_thread(self._raster_paint, data, mime, cols, rows)
            note = ""
        except Exception as exc:  # an image Pillow cannot read: said, not raised
            strips, note = [], f"Could not draw it: {exc}"
        if key == self._drawn_for:
            self._strips, self._note = strips, note
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if y < len(self._strips):
            return self._strips[y].apply_style(style).crop_extend(0, width, style)
        if not self._strips and y == 0 and self._note:
            text = Text(self._note[:width], style="dim")
            return Strip(list(text.render(self.app.console))).crop_extend(0, width, style)
        return Strip.blank(width, style)


class PlotsPane(Widget, can_focus=False):
    """The Plots tab of one console: the list (newest first) and the selected picture."""

    DEFAULT_CSS = """
    PlotsPane { layout: vertical; height: 1fr; }
    PlotsPane #plots-body { height: 1fr; }
    PlotsPane DataTable { width: 34; height: 1fr; }
    PlotsPane.-full DataTable { display: none; }
    PlotsPane #plots-status { height: 1; background: $panel; color: $text-muted;
                              padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,z", "toggle_full", "Full view", id="plots.full"),
        Binding("escape", "leave_full", "List", id="plots.list", show=False),
        Binding("down,j", "browse(1)", "Older", id="plots.older", show=False),
        Binding("up,k", "browse(-1)", "Newer", id="plots.newer", show=False),
        Binding("s", "save(False)", "Save here", id="plots.save"),
        Binding("S", "save(True)", "Save on host", id="plots.save_host"),
        Binding("f4", "close", "Close", id="plots.close"),
    ]

    @dataclass
    class CloseRequested(Message):
        pane: PlotsPane

    def __init__(self, store: ImageStore, host: str, console: str, *,
                 geometry: ImageGeometry | None = None) -> None:
        super().__init__()
        self.store = store
        self.host = host
        self.console = console
        self._geometry = geometry
        self._records: list[ImageRecord] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._fill_pending = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="plots-body"):
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=False,
                                              id="plots-list")
            yield table
            yield PlotPicture(geometry=self._geometry, id="plots-picture")
        yield Static("", id="plots-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "In", "size", "kept")
        self._unsubscribe = self.store.subscribe(self._changed)
        self._fill()
        table.focus()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    @property
    def selected(self) -> ImageRecord | None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        return self._records[row] if 0 <= row < len(self._records) else None

    def _changed(self) -> None:
        """A new image: it goes on top; the cursor stays on what it was on, unless that was
        the newest (then it follows, as a console follows its output). A cell showing 200
        plots refills the list a few times a second, not 200 times."""
        if not self._fill_pending:
            self._fill_pending = True
            self.set_timer(0.2, self._fill)

    def _fill(self) -> None:
        self._fill_pending = False
        table = self.query_one(DataTable)
        was = self.selected
        follow = was is None or table.cursor_row == 0
        self._records = self.store.records()
        table.clear()
        for record in self._records:
            size = f"{record.size_px[0]}x{record.size_px[1]}" if record.size_px else "?"
            count = "" if record.execution_count is None else str(record.execution_count)
            kept = byte_size(record.nbytes) if record.data is not None else "gone"
            table.add_row(str(record.seq), count, f"{size} {record.kind}", kept,
                          key=str(record.seq))
        if self._records:
            keep = not follow and was is not None and was in self._records
            table.move_cursor(row=self._records.index(was) if keep and was else 0)
        self._show()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show()

    def _show(self) -> None:
        record = self.selected
        self.query_one(PlotPicture).show(record)
        status = self.query_one("#plots-status", Static)
        if record is None:
            status.update("No plots yet: a plot the kernel shows appears here.")
            return
        when = time.strftime("%H:%M:%S", time.localtime(record.when))
        count = len(self._records)
        status.update(f"{count} plot{'s' if count != 1 else ''} · {record.describe()} at {when} · "
                      "enter full view · s save here · S save on the host")

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_toggle_full()

    def action_toggle_full(self) -> None:
        """The picture alone, the whole tab (Esc or Enter: the list again)."""
        self.toggle_class("-full")
        if self.has_class("-full"):
            self.query_one(PlotPicture).focus()
        else:
            self.query_one(DataTable).focus()

    def action_leave_full(self) -> None:
        self.remove_class("-full")
        self.query_one(DataTable).focus()

    def action_browse(self, step: int) -> None:
        """The next older (1) or newer (-1) plot, in the full view too."""
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_close(self) -> None:
        self.post_message(self.CloseRequested(self))

    @work(group="plots-save", exit_on_error=False)
    async def action_save(self, on_host: bool) -> None:
        """Save the selected picture (``on_host``: on the console's host)."""
        from rtui.tui.save_output import save_output

        record = self.selected
        if record is None:
            self.notify("No plot to save", severity="warning")
            return
        data = record.data
        if data is None:
            self.notify(f"{record.describe()} is no longer kept: it cannot be saved",
                        severity="warning", timeout=6)
            return
        name = default_name(self.host, record.seq, record.suffix, record.when)
        await save_output(self.app, data, name, host=self.host, on_host=on_host)
        self.query_one(DataTable).focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed save is told where the app tells every failure."""
        if event.state is WorkerState.ERROR:
            self.app.post_message(Worker.StateChanged(event.worker, event.state))
