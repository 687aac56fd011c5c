"""A widget that shows one image as large as it fits, aspect kept (for a full-tab view such as
the Plots tab's): drawn by the app's painter in a thread, shown when ready."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from textual import work
from textual.events import Resize
from textual.strip import Strip
from textual.widget import Widget

from rtui.tui.graphics.detect import DEFAULT_CELL_PX

if TYPE_CHECKING:
    from PIL.Image import Image

    from rtui.tui.graphics.painters import Painter

__all__ = ["PictureView", "fit_cells"]


def fit_cells(size_px: tuple[int, int], box: tuple[int, int],
              cell_px: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) an image of ``size_px`` takes when fitted in ``box`` cells of
    ``cell_px`` pixels, aspect kept (enlarged to fill the box)."""
    (pw, ph), (width, height), (cw, ch) = size_px, box, cell_px
    if min(pw, ph, width, height) <= 0:
        return 0, 0
    scale = min(width * cw / pw, height * ch / ph)
    return (max(1, min(width, round(pw * scale / cw))),
            max(1, min(height, round(ph * scale / ch))))


class PictureView(Widget):
    """One image at the widget's size; ``show`` replaces it."""

    DEFAULT_CSS = "PictureView { height: 1fr; }"

    def __init__(self, painter: Painter, cell_px: tuple[int, int] = DEFAULT_CELL_PX, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.painter = painter
        # Half-blocks draw two pixels a cell, one wide; the terminal's own pixels otherwise.
        self.cell_px = (1, 2) if painter.mode in ("blocks", "off") else cell_px
        self._picture: tuple[Hashable, Image] | None = None
        self._rows: list[Strip] = []

    def show(self, key: Hashable, image: Image) -> None:
        """Show ``image`` (``key``: its stable id, one upload per key with kitty)."""
        if self._picture is not None and self._picture[0] != key:
            self.painter.drop(self._picture[0])
        self._picture = (key, image)
        self._draw()

    def on_resize(self, event: Resize) -> None:
        self._draw()

    @work(thread=True, exclusive=True, group="picture", exit_on_error=False)
    def _draw(self) -> None:
        """Scaling and encoding, in a thread (kitty's upload is handed to the loop)."""
        picture = self._picture
        if picture is None:
            return
        key, image = picture
        if self.painter.mode == "off":  # one line naming it
            cols, rows = self.size.width, 1
        else:
            cols, rows = fit_cells(image.size, (self.size.width, self.size.height),
                                   self.cell_px)
        strips = self.painter.strips(key, image, cols, rows) if cols else []
        self.app.call_from_thread(self._drawn, strips)

    def _drawn(self, strips: list[Strip]) -> None:
        self._rows = strips
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < len(self._rows):
            return self._rows[y].extend_cell_length(width)
        return Strip.blank(width)

    def on_unmount(self) -> None:
        if self._picture is not None:
            self.painter.drop(self._picture[0])
