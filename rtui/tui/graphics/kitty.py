"""Kitty graphics with Unicode placeholders: the image is uploaded once per (key, size) and
placed virtually; the cells are ordinary text (U+10EEEE with row and column diacritics, the
image id in the foreground colour), so the image scrolls with the output, is cropped with
it, and survives tmux (``allow-passthrough on``: uploads wrapped as ``ESC P tmux; ... ESC \\``
with every ESC doubled). Tables and framing are textual-image's (``library``).

Image ids: the low part is the foreground colour and must reach the terminal unchanged.
With a truecolour console it is 24 bits; with 256 colours it is a palette index that
survives Rich's colour downgrade. The top byte (third diacritic) is random per painter, so
two rtui in one kitty window (two tmux panes) rarely clash.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from rich.color import Color, ColorSystem
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from rtui.tui.graphics import library
from rtui.tui.graphics.painters import Painter

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["KittyPainter", "commands", "passthrough"]

_CHUNK = 4096  # base64 bytes per command, as kitty asks
# Images kept in the terminal (more than the views keep drawn: a freed one shows blank).
_KEEP_UPLOADS = 128


def _palette_ids() -> list[int]:
    """256-colour indices whose colour Rich brings back to the same index (greys and the 16
    system colours would not survive)."""
    from rich._palettes import EIGHT_BIT_PALETTE

    found = []
    for index in range(16, 256):
        colour = Color.from_triplet(ColorTriplet(*EIGHT_BIT_PALETTE[index]))
        if colour.downgrade(ColorSystem.EIGHT_BIT).number == index:
            found.append(index)
    return found


def passthrough(command: str) -> str:
    """``command`` wrapped for tmux to hand to the terminal outside it."""
    return "\x1bPtmux;" + command.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def commands(image_id: int, png_base64: str, cols: int, rows: int) -> list[str]:
    """The upload (chunked, quiet) and the virtual placement of ``cols`` x ``rows`` cells."""
    tgp = library.tgp()
    start, end = tgp._TGP_MESSAGE_START, tgp._TGP_MESSAGE_END
    chunks = [png_base64[i:i + _CHUNK] for i in range(0, len(png_base64), _CHUNK)] or [""]
    out = []
    for n, chunk in enumerate(chunks):
        more = int(n < len(chunks) - 1)
        keys = f"a=t,f=100,i={image_id},q=2,m={more}" if n == 0 else f"m={more},q=2"
        out.append(f"{start}{keys};{chunk}{end}")
    out.append(f"{start}a=p,U=1,i={image_id},c={cols},r={rows},q=2{end}")
    return out


class KittyPainter(Painter):
    """Placeholders in the cells; uploads and frees written by ``write`` (on the loop)."""

    mode = "kitty"

    def __init__(self, write: Callable[[str], None], *, tmux: bool = False,
                 cell_px: tuple[int, int] = (10, 20), truecolor: bool = True,
                 seed: int | None = None) -> None:
        super().__init__()
        self._write = write
        self._tmux = tmux
        self._cell_px = cell_px
        self._truecolor = truecolor
        chance = random.Random(seed)
        self._top = chance.randrange(1, 256)  # the id's top byte, this painter's
        self._next_low = chance.randrange(1, 1 << 24) if truecolor else 0
        self._palette = [] if truecolor else _palette_ids()
        self._uploads: OrderedDict[tuple[Hashable, int, int], int] = OrderedDict()  # -> id
        self._upload_lock = threading.Lock()

    def _new_id(self) -> int:
        if self._truecolor:
            low = self._next_low
            self._next_low = low % ((1 << 24) - 1) + 1  # 1 .. 2**24-1, round
        else:
            low = self._palette[self._next_low % len(self._palette)]
            self._next_low += 1
        return (self._top << 24) | low

    def box(self, cols: int, rows: int) -> tuple[int, int]:
        return cols * self._cell_px[0], rows * self._cell_px[1]

    def _send(self, command: str) -> None:
        self._write(passthrough(command) if self._tmux else command)

    def strips(self, key: Hashable, image: Image, cols: int, rows: int,
               visible: range | None = None) -> list[Strip]:
        visible = range(rows) if visible is None else visible
        table = library.tgp()._NUMBER_TO_DIACRITIC
        if cols > len(table) or rows > len(table):
            raise ValueError(f"kitty placeholders reach {len(table)} cells a side")
        image_id = self._upload(key, image, cols, rows)
        style = Style(color=self._colour(image_id))
        placeholder = chr(library.tgp()._PLACEHOLDER)
        top = chr(table[image_id >> 24])
        return [Strip([Segment("".join(f"{placeholder}{chr(table[row])}{chr(table[col])}{top}"
                                       for col in range(cols)), style)], cols)
                for row in visible]

    def _colour(self, image_id: int) -> Color:
        low = image_id & 0xFFFFFF
        if self._truecolor:
            return Color.from_rgb((low >> 16) & 255, (low >> 8) & 255, low & 255)
        from rich._palettes import EIGHT_BIT_PALETTE

        return Color.from_triplet(ColorTriplet(*EIGHT_BIT_PALETTE[low & 255]))

    def _upload(self, key: Hashable, image: Image, cols: int, rows: int) -> int:
        """The id of ``key``'s image at this size, uploaded now if it was not. Sizes of one
        key live side by side (the console and the Plots tab show one picture at two);
        beyond ``_KEEP_UPLOADS`` the least recently painted is freed."""
        size_key = (key, cols, rows)
        with self._upload_lock:
            found = self._uploads.get(size_key)
            if found is not None:
                self._uploads.move_to_end(size_key)
                return found
        data = library.png_base64(self._fitted(image, cols, rows))  # CPU: outside the lock
        with self._upload_lock:
            found = self._uploads.get(size_key)
            if found is not None:
                return found  # another thread uploaded it meanwhile
            image_id = self._new_id()
            self._uploads[size_key] = image_id
            for command in commands(image_id, data, cols, rows):
                self._send(command)
            while len(self._uploads) > _KEEP_UPLOADS:
                self._send(_free(self._uploads.popitem(last=False)[1]))
            return image_id

    def _fitted(self, image: Image, cols: int, rows: int) -> Image:
        """``image`` no larger than the box's pixels (kitty fits it in the box, aspect kept)."""
        from PIL import Image as PILImage

        cw, ch = self._cell_px
        scale = min(1.0, cols * cw / image.width, rows * ch / image.height)
        if scale >= 1.0:
            return image
        size = (max(1, math.floor(image.width * scale)), max(1, math.floor(image.height * scale)))
        return image.resize(size, PILImage.Resampling.LANCZOS)

    def drop(self, key: Hashable) -> None:
        """Free the terminal's copies of ``key``'s image."""
        with self._upload_lock:
            gone = [k for k in self._uploads if k[0] == key]
            ids = [self._uploads.pop(k) for k in gone]
        for image_id in ids:
            self._send(_free(image_id))

    def close(self) -> None:
        """Free every image this painter uploaded (the app is closing)."""
        with self._upload_lock:
            ids = list(self._uploads.values())
            self._uploads.clear()
        for image_id in ids:
            self._send(_free(image_id))


def _free(image_id: int) -> str:
    tgp = library.tgp()
    return f"{tgp._TGP_MESSAGE_START}a=d,d=I,i={image_id},q=2{tgp._TGP_MESSAGE_END}"
