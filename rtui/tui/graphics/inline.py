"""Sixel and iTerm2 images, drawn the way textual-image's sixel widget injects them: the
rows above are blank cells, and the last visible row carries the picture of every visible
row, drawn from there with the cursor moved up (so a part scrolled out of view is cropped
off, and a repaint of the last row draws the whole visible part again).

Sliced (``sliced=True``, the console's painter): each row draws its own slice instead, with no
cursor moved off the row. The console view caches rows, moves them with the terminal's
scrolling region and repaints them one by one, so a row must not depend on which others are
visible. A sixel slice's last band is partly outside the row (bands are 6 pixels): its
header makes unset pixels transparent, so the row below is left alone.

The escape sequence is carried by the row's last cell (a mark, see
``rtui.tui.render.payloads``: Textual would cut the sequence itself where another widget
starts on the row) and written after the row's other cells, so the cursor it starts from is
never in a terminal's pending-wrap state at the screen's right edge. Saved and restored
around the picture (DECSC/DECRC), so what follows on the line lands where Textual expects;
the mark's own cell is written as a blank after it.

Sixel data is textual-image's encoder. iTerm2's inline images (``OSC 1337 ; File=``, also
WezTerm's) are written here: textual-image has no renderer for them.
"""

from __future__ import annotations

import base64
import io
import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

from rich.segment import Segment
from textual.strip import Strip

from rtui.tui.graphics import library
from rtui.tui.graphics.painters import Painter

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["ItermPainter", "SixelPainter", "iterm_image", "picture_row"]

_KEEP_ENCODED = 16  # encoded visible parts kept per painter
# DCS P1;P2;P3 q: P2=0 paints pixels no colour sets with the background; 1 leaves them.
_OPAQUE_HEADER, _CLEAR_HEADER = "\x1bP0;0;0q", "\x1bP0;1;0q"


def picture_row(cols: int, up: int, picture: str) -> Strip:
    """A row of ``cols`` cells that draws ``picture`` from its first cell, ``up`` rows
    higher: blank cells, the last of them a mark that carries the sequence (see
    ``rtui.tui.render.payloads``: Textual would cut the sequence itself)."""
    from rtui.tui.render.payloads import carry

    move = f"\x1b7\x1b[{cols - 1}D" if cols > 1 else "\x1b7"
    if up:
        move += f"\x1b[{up}A"
    head = [Segment(" " * (cols - 1))] if cols > 1 else []
    return Strip([*head, Segment(carry(move + picture + "\x1b8 "))], cols)


def iterm_image(png: bytes, cols: int, rows: int) -> str:
    """OSC 1337 inline image of ``cols`` x ``rows`` cells (the PNG fills them)."""
    data = base64.b64encode(png).decode("ascii")
    return (f"\x1b]1337;File=inline=1;size={len(png)};width={cols};height={rows};"
            f"preserveAspectRatio=0;doNotMoveCursor=1:{data}\x07")


class _Injected(Painter):
    """The picture of the visible rows, fitted in the box on ``background``."""

    def __init__(self, *, cell_px: tuple[int, int] = (10, 20),
                 background: tuple[int, int, int] = (0, 0, 0), sliced: bool = False) -> None:
        super().__init__()
        self._cell_px = cell_px
        self._background = background
        self.sliced = sliced
        self.by_visible = not sliced
        self._encoded: OrderedDict[tuple[Hashable, int, int, int, int], str] = OrderedDict()

    def box(self, cols: int, rows: int) -> tuple[int, int]:
        return cols * self._cell_px[0], rows * self._cell_px[1]

    def strips(self, key: Hashable, image: Image, cols: int, rows: int,
               visible: range | None = None) -> list[Strip]:
        visible = range(rows) if visible is None else visible
        shown = range(max(0, visible.start), min(rows, visible.stop))
        if not shown:
            return []
        if self.sliced:
            return super().strips(key, image, cols, rows, shown)
        picture = self._picture(key, image, cols, rows, shown)
        blank = Strip.blank(cols)
        return [blank] * (len(shown) - 1) + [picture_row(cols, len(shown) - 1, picture)]

    def _picture(self, key: Hashable, image: Image, cols: int, rows: int,
                 shown: range) -> str:
        cache_key = (key, cols, rows, shown.start, shown.stop)
        with self._lock:
            found = self._encoded.get(cache_key)
            if found is not None:
                self._encoded.move_to_end(cache_key)
                return found
        canvas = self.canvas(image, cols, rows)
        ch = self._cell_px[1]
        part = canvas.crop((0, shown.start * ch, canvas.width, shown.stop * ch))
        found = self._encode(part, cols, len(shown))
        with self._lock:
            self._encoded[cache_key] = found
            while len(self._encoded) > _KEEP_ENCODED:
                self._encoded.popitem(last=False)
        return found

    def canvas(self, image: Image, cols: int, rows: int) -> Image:
        """The box's pixels: ``image`` fitted, aspect kept, at the top left, on the
        background (so the picture covers every cell of the box)."""
        from PIL import Image as PILImage

        cw, ch = self._cell_px
        box = (cols * cw, rows * ch)
        scale = min(box[0] / image.width, box[1] / image.height)
        size = (max(1, min(box[0], math.floor(image.width * scale))),
                max(1, min(box[1], math.floor(image.height * scale))))
        fitted = image if size == image.size else image.resize(size, PILImage.Resampling.LANCZOS)
        canvas = PILImage.new("RGB", box, self._background)
        if fitted.mode in ("RGBA", "LA", "PA"):
            canvas.paste(fitted, (0, 0), fitted.convert("RGBA"))
        else:
            canvas.paste(fitted.convert("RGB"), (0, 0))
        return canvas

    def _draw(self, key: Hashable, image: Image, cols: int, rows: int) -> list[Strip]:
        """Sliced: every row with the picture of its own cells."""
        canvas = self.canvas(image, cols, rows)
        ch = self._cell_px[1]
        return [picture_row(cols, 0, self._encode(
                    canvas.crop((0, row * ch, canvas.width, (row + 1) * ch)), cols, 1))
                for row in range(rows)]

    def _encode(self, part: Image, cols: int, rows: int) -> str:
        raise NotImplementedError

    def drop(self, key: Hashable) -> None:
        with self._lock:
            for cache_key in [k for k in self._encoded if k[0] == key]:
                del self._encoded[cache_key]


class SixelPainter(_Injected):
    """Sixel graphics (xterm -ti vt340, foot, mlterm, WezTerm, Windows Terminal...)."""

    mode = "sixel"

    def _encode(self, part: Image, cols: int, rows: int) -> str:
        data = library.sixel(part)  # RGB: the canvas is on the background
        if self.sliced and data.startswith(_OPAQUE_HEADER):  # unset pixels: left as they are
            data = _CLEAR_HEADER + data[len(_OPAQUE_HEADER):]
        return data


class ItermPainter(_Injected):
    """iTerm2's inline images (iTerm2, WezTerm)."""

    mode = "iterm"

    def _encode(self, part: Image, cols: int, rows: int) -> str:
        buffer = io.BytesIO()
        part.save(buffer, format="PNG", compress_level=2)
        return iterm_image(buffer.getvalue(), cols, rows)
