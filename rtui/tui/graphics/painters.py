"""Painters: an image in a box of cells becomes one Textual ``Strip`` per visible row.

One interface for every mode, for the console view and the Plots tab:
``painter.strips(key, image, cols, rows, visible)`` gives the strips of the image's rows in
``visible`` (a ``range`` within ``range(rows)``); ``key`` is the image's stable id (one
upload per key and size with kitty); ``drop(key)`` forgets it (kitty frees the terminal's
copy). ``make_painter`` picks the painter for the run's ``GraphicsSupport``.

Threads: ``strips`` and ``drop`` may be called from a worker thread (scaling and encoding
are the CPU part: call them there); the only thing that must happen on the event loop is
writing to the terminal, which kitty's painter does through ``terminal_writer`` (it hands a
write made off the loop to the loop). ``make_painter`` must be called on the loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console
from rich.text import Text
from textual.strip import Strip

from rtui.core.halfblocks import cells
from rtui.tui.graphics.detect import GraphicsSupport

if TYPE_CHECKING:
    from PIL.Image import Image
    from textual.app import App

__all__ = ["BlocksPainter", "OffPainter", "Painter", "make_painter", "paint_function"]

_KEEP = 32  # drawings kept per painter (least recently painted dropped first)
_console = Console(width=4096, color_system="truecolor", force_terminal=True,
                   legacy_windows=False)


class Painter:
    """What every mode does; subclasses fill in ``_draw`` (all rows of one image)."""

    mode: ClassVar[str] = ""

    def __init__(self) -> None:
        # True where the strips of a row depend on which rows are visible (sixel and iTerm2
        # not sliced draw the visible part from its last row): ask again when they change.
        self.by_visible = False
        self._lock = threading.Lock()
        self._drawn: OrderedDict[tuple[Hashable, int, int], list[Strip]] = OrderedDict()

    def strips(self, key: Hashable, image: Image, cols: int, rows: int,
               visible: range | None = None) -> list[Strip]:
        """One strip per row of ``visible`` (default: every row), each ``cols`` wide."""
        visible = range(rows) if visible is None else visible
        drawn = self._cached((key, cols, rows), lambda: self._draw(key, image, cols, rows))
        return drawn[visible.start:visible.stop]

    def _cached(self, cache_key: tuple[Hashable, int, int],
                draw: Callable[[], list[Strip]]) -> list[Strip]:
        with self._lock:
            found = self._drawn.get(cache_key)
            if found is not None:
                self._drawn.move_to_end(cache_key)
                return found
        found = draw()  # outside the lock: encoding may take a while
        with self._lock:
            self._drawn[cache_key] = found
            while len(self._drawn) > _KEEP:
                self._drawn.popitem(last=False)
        return found

    def _draw(self, key: Hashable, image: Image, cols: int, rows: int) -> list[Strip]:
        raise NotImplementedError

    def box(self, cols: int, rows: int) -> tuple[int, int]:
        """The most pixels an image drawn in ``cols`` x ``rows`` cells shows: what to decode
        it to (half-blocks: one pixel wide and two high a cell)."""
        return cols, 2 * rows

    def drop(self, key: Hashable) -> None:
        """Forget ``key``'s drawings (the image left the console)."""
        with self._lock:
            for cache_key in [k for k in self._drawn if k[0] == key]:
                del self._drawn[cache_key]

    def close(self) -> None:
        """The view is going: what the terminal holds for it is freed (kitty)."""


class BlocksPainter(Painter):
    """Coloured half-block cells (``rtui.core.halfblocks``): every colour terminal, tmux
    too. The image is fitted in the box, aspect kept, never enlarged; the rest is blank."""

    mode = "blocks"

    def _draw(self, key: Hashable, image: Image, cols: int, rows: int) -> list[Strip]:
        out = [Strip(list(text.render(_console, end=""))).extend_cell_length(cols)
               for text in cells(image, cols, rows)]
        out.extend(Strip.blank(cols) for _ in range(rows - len(out)))
        return out


class OffPainter(Painter):
    """Images not drawn (``--images off``): one dim line naming the image."""

    mode = "off"

    def _draw(self, key: Hashable, image: Image, cols: int, rows: int) -> list[Strip]:
        return [label_strip(image, cols)] + [Strip.blank(cols) for _ in range(rows - 1)]


def label_strip(image: Image, cols: int) -> Strip:
    """"[image 640x480 PNG]", dim, cut to ``cols``."""
    width, height = image.size
    kind = f" {image.format}" if image.format else ""
    text = Text(f"[image {width}x{height}{kind}]"[:cols])
    text.stylize("dim")  # a span: Text.render leaves out the Text's own style
    return Strip(list(text.render(_console, end=""))).extend_cell_length(cols)


def make_painter(support: GraphicsSupport, app: App[Any],
                 background: tuple[int, int, int] = (0, 0, 0), *,
                 sliced: bool = False) -> Painter:
    """The painter for this run; on the loop. Kitty needs the image id in the foreground
    colour, so it falls back to half-blocks on a 16-colour console (``--ansi``, NO_COLOR).
    ``sliced``: sixel and iTerm2 rows drawn each on its own (see ``inline``)."""
    if support.mode == "off":
        return OffPainter()
    if support.mode == "kitty":
        from rtui.tui.graphics.kitty import KittyPainter
        from rtui.tui.render.terminal import terminal_writer

        system = app.console.color_system
        if system in ("truecolor", "256") and not app.ansi_color and not app.no_color:
            return KittyPainter(terminal_writer(app), tmux=support.tmux,
                                cell_px=support.cell_px, truecolor=system == "truecolor")
        return BlocksPainter()
    if support.mode in ("sixel", "iterm"):
        from rtui.tui.graphics.inline import ItermPainter, SixelPainter

        kind = SixelPainter if support.mode == "sixel" else ItermPainter
        return kind(cell_px=support.cell_px, background=background, sliced=sliced)
    return BlocksPainter()


def paint_function(painter: Painter) -> Callable[[bytes, int, int], list[Strip]]:
    """``painter`` as the console view's and the Plots tab's ``paint(data, cols, rows)``
    (called in a thread): the image decoded to the pixels it is drawn with, its key the
    digest of its bytes (so one picture shown twice is uploaded to kitty once)."""
    from hashlib import blake2b

    from rtui.core.halfblocks import decode

    def paint(data: bytes, cols: int, rows: int) -> list[Strip]:
        key = blake2b(data, digest_size=16).digest()
        return painter.strips(key, decode(data, box=painter.box(cols, rows)), cols, rows)

    return paint
