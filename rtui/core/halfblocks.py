"""Images drawn in text cells that every colour terminal shows (tmux too): each cell is "▀"
with the foreground the upper pixel and the background the lower one, so a cell holds two
square-ish pixels (terminal cells are about twice as tall as wide).

UI-free: bytes in, an ``Image`` out (``decode``), an ``Image`` and a size in cells, rich
``Text`` rows out (``cells``). Colours are plain RGB styles: a terminal with fewer colours gets
them downgraded by whoever paints the Text (Textual's --ansi, Rich's colour systems).

Pillow is imported by ``decode`` (call it in a thread: decoding is seconds of CPU for a big
photo, and the first import is ~50 ms), never at rtui's start.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, cast

from rich.color import Color
from rich.style import Style
from rich.text import Span, Text

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["DECODED_BOX", "UPPER_HALF", "ImageError", "cells", "decode", "fit"]

UPPER_HALF = "\N{UPPER HALF BLOCK}"
_LOWER_HALF = "\N{LOWER HALF BLOCK}"
# What ``decode`` keeps at most (pixels): wider than any terminal in cells, and twice its rows
# at two pixels a cell; redrawing at a new size starts from this, not from the file.
DECODED_BOX = (640, 640)
# Modes resized as they are; the rest (a palette would be resized to its nearest entry) are
# converted to RGBA first.
_SHRINK_FIRST = frozenset({"RGB", "RGBA", "L", "LA"})
_OPAQUE = 128  # alpha from which a pixel is drawn (below: the terminal's own background)


class ImageError(Exception):
    """The bytes are not an image that can be drawn; the message says why, for a person."""


def decode(data: bytes, *, max_pixels: int | None = None,
           box: tuple[int, int] = DECODED_BOX) -> Image:
    """The first frame of ``data`` (PNG, JPEG, GIF, WebP, BMP, ...) as RGBA, shrunk to fit
    ``box``. More than ``max_pixels`` (default: Pillow's ``MAX_IMAGE_PIXELS``) is refused
    before anything is decompressed: a small file can claim a huge image (a decompression bomb).
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    limit = PILImage.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            width, height = image.size
            if limit is not None and width * height > limit:
                raise ImageError(f"not drawn: {width}\N{MULTIPLICATION SIGN}{height} is over "
                                 f"{limit / 1e6:.0f} megapixels (a decompression bomb, maybe)")
            image.draft("RGB", box)  # JPEG: decoded at 1/2, 1/4 or 1/8 scale when that fits
            image.seek(0)  # an animation's first frame
            if image.mode in _SHRINK_FIRST:  # shrunk before the copy in RGBA (a big PNG:
                image.thumbnail(box, PILImage.Resampling.LANCZOS)  # one full copy, not two)
                return image.convert("RGBA")
            frame = image.convert("RGBA")  # palette, 1-bit, CMYK...: resized in colour
    except ImageError:
        raise
    except PILImage.DecompressionBombError as exc:
        raise ImageError(f"not drawn: {exc}") from None
    except UnidentifiedImageError:  # no format took it: its header is cut or wrong
        raise ImageError("not drawn: broken or truncated image (no decoder accepts it)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        # Pillow's words for a broken file: "image file is truncated", "broken PNG file"...
        raise ImageError(f"not drawn: broken or truncated image ({exc})") from None
    frame.thumbnail(box, PILImage.Resampling.LANCZOS)
    return frame


def fit(size: tuple[int, int], columns: int, rows: int) -> tuple[int, int]:
    """Pixels (width, height) of an image of ``size`` drawn in at most ``columns`` by ``rows``
    cells, its aspect kept (a cell is one pixel wide, two high); never enlarged."""
    width, height = size
    if width <= 0 or height <= 0 or columns <= 0 or rows <= 0:
        return 0, 0
    scale = min(1.0, columns / width, 2 * rows / height)
    return max(1, min(columns, round(width * scale))), max(1, min(2 * rows, round(height * scale)))


def cells(image: Image, columns: int, rows: int) -> list[Text]:
    """``image`` as rows of half-block cells, fitted in ``columns`` by ``rows`` (``fit``).
    A pixel less than half opaque is left to the terminal's background."""
    from PIL import Image as PILImage

    width, height = fit(image.size, columns, rows)
    if not width:
        return []
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    if (width, height) != image.size:
        image = image.resize((width, height), PILImage.Resampling.LANCZOS)
    data = image.tobytes()  # RGBA, four bytes a pixel, row by row
    stride = 4 * width
    blank = bytes(stride)  # under an odd last row: transparent
    styles: dict[tuple[object, object], Style] = {}
    # A plot is a few colours over much white: each (upper, lower) pair of pixels, as its 8
    # bytes, is worked out once, and a row is one Text with a span per run of a style (a
    # call per cell and Text.append per run took 14 ms on a 118x52 plot; this 8).
    drawn: dict[bytes, tuple[str, Style | None]] = {}
    lines = []
    for top in range(0, height, 2):
        upper = data[top * stride:(top + 1) * stride]
        lower = data[(top + 1) * stride:(top + 2) * stride] if top + 1 < height else blank
        chars: list[str] = []
        spans: list[Span] = []
        start, run_style = 0, cast("Style | None", None)
        for x in range(0, stride, 4):
            key = upper[x:x + 4] + lower[x:x + 4]
            cell = drawn.get(key)
            if cell is None:
                cell = drawn[key] = _cell(tuple(key[:4]), tuple(key[4:]), styles)
            char, style = cell
            if style is not run_style:
                if run_style is not None:
                    spans.append(Span(start, len(chars), run_style))
                start, run_style = len(chars), style
            chars.append(char)
        if run_style is not None:
            spans.append(Span(start, len(chars), run_style))
        lines.append(Text("".join(chars), no_wrap=True, overflow="crop", spans=spans))
    return lines


def _cell(upper: tuple[int, ...], lower: tuple[int, ...],
          styles: dict[tuple[object, object], Style]) -> tuple[str, Style | None]:
    """The character and style of one cell: "▀" (upper over lower), "▄" when only the lower
    pixel shows, a blank when neither does."""
    up = upper[:3] if upper[3] >= _OPAQUE else None
    down = lower[:3] if lower[3] >= _OPAQUE else None
    if up is None and down is None:
        return " ", None
    char = UPPER_HALF if up is not None else _LOWER_HALF
    fg, bg = (up, down) if up is not None else (down, None)
    key = (fg, bg)
    style = styles.get(key)
    if style is None:
        style = styles[key] = Style(
            color=Color.from_rgb(*fg) if fg else None,
            bgcolor=Color.from_rgb(*bg) if bg else None)
    return char, style
