"""The half-block renderer: pixels to cells (upper pixel the foreground, lower the background),
the aspect kept, broken files and decompression bombs refused with a message."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from rich.color import Color
from rich.style import Style
from rich.text import Text

from rtui.core.halfblocks import DECODED_BOX, UPPER_HALF, ImageError, cells, decode, fit


def _encoded(image: Image.Image, kind: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def _style(row: Text, x: int) -> Style:
    """The style of cell ``x`` of ``row``."""
    return Style.combine(span.style for span in row.spans  # type: ignore[misc]
                         if span.start <= x < span.end)


def _rgb(x: int, y: int) -> tuple[int, int, int]:
    return (x * 60, y * 60, 100)


def test_a_4x4_image_is_4_cells_by_2_rows_upper_over_lower() -> None:
    image = Image.new("RGB", (4, 4))
    for y in range(4):
        for x in range(4):
            image.putpixel((x, y), _rgb(x, y))
    rows = cells(decode(_encoded(image)), 80, 24)  # never enlarged: one pixel a half cell
    assert [row.plain for row in rows] == [UPPER_HALF * 4] * 2
    for row_index, row in enumerate(rows):
        styles = [_style(row, x) for x in range(4)]
        assert [s.color for s in styles] == [
            Color.from_rgb(*_rgb(x, 2 * row_index)) for x in range(4)]
        assert [s.bgcolor for s in styles] == [
            Color.from_rgb(*_rgb(x, 2 * row_index + 1)) for x in range(4)]


def test_transparent_pixels_are_left_to_the_terminal() -> None:
    image = Image.new("RGBA", (3, 3), (0, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))  # upper only: "▀" with no background
    image.putpixel((1, 1), (0, 255, 0, 255))  # lower only: "▄" in the lower pixel's colour
    rows = cells(image, 10, 10)
    assert [row.plain for row in rows] == [UPPER_HALF + "\N{LOWER HALF BLOCK} ", "   "]
    upper, lower = (_style(rows[0], x) for x in (0, 1))
    assert upper.color == Color.from_rgb(255, 0, 0) and upper.bgcolor is None
    assert lower.color == Color.from_rgb(0, 255, 0) and lower.bgcolor is None


def test_the_aspect_is_kept_at_two_pixels_a_cell() -> None:
    assert fit((200, 100), 40, 40) == (40, 20)  # width-bound: 40 cells by 10 rows
    assert fit((100, 400), 80, 20) == (10, 40)  # height-bound: 10 cells by 20 rows
    assert fit((30, 20), 80, 24) == (30, 20)  # small: as it is, not enlarged
    assert fit((30, 20), 0, 24) == (0, 0)
    wide = Image.new("RGB", (200, 100), (9, 9, 9))
    rows = cells(wide, 40, 40)
    assert len(rows) == 10 and {row.cell_len for row in rows} == {40}



def test_a_run_of_one_colour_is_one_span_and_an_odd_last_row_is_upper_only() -> None:
    image = Image.new("RGB", (6, 3), (200, 10, 10))
    image.putpixel((5, 0), (10, 200, 10))
    rows = cells(image, 10, 10)
    assert [row.plain for row in rows] == [UPPER_HALF * 6] * 2
    first, last = rows
    assert [(span.start, span.end) for span in first.spans] == [(0, 5), (5, 6)]
    assert _style(first, 5).color == Color.from_rgb(10, 200, 10)
    assert _style(first, 5).bgcolor == Color.from_rgb(200, 10, 10)
    assert [(span.start, span.end) for span in last.spans] == [(0, 6)]  # no lower pixels
    assert _style(last, 0).color == Color.from_rgb(200, 10, 10)
    assert _style(last, 0).bgcolor is None

def test_decode_takes_a_gifs_first_frame_and_shrinks_big_images() -> None:
    frames = [Image.new("RGB", (4, 2), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    gif = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    first = _style(cells(decode(gif), 10, 10)[0], 0)
    assert first.color == Color.from_rgb(255, 0, 0)
    big = decode(_encoded(Image.new("RGB", (3000, 1500), (1, 2, 3)), "JPEG"))
    assert big.size[0] <= DECODED_BOX[0] and big.size[1] <= DECODED_BOX[1]


def test_broken_truncated_and_huge_images_give_a_message() -> None:
    png = _encoded(Image.new("RGB", (64, 64), (200, 10, 10)))
    with pytest.raises(ImageError, match="broken or truncated image"):
        decode(png[:len(png) // 2])
    with pytest.raises(ImageError, match="broken or truncated image"):
        decode(b"hello, not an image")
    with pytest.raises(ImageError, match="64\N{MULTIPLICATION SIGN}64 is over 0 megapixels"):
        decode(png, max_pixels=1000)
    # The same small file made to claim 30,000 by 30,000 pixels: refused before it is inflated.
    header = b"IHDR" + struct.pack(">II", 30_000, 30_000) + png[24:29]
    bomb = png[:12] + header + struct.pack(">I", zlib.crc32(header)) + png[33:]
    with pytest.raises(ImageError, match=r"not drawn: .*decompression bomb"):
        decode(bomb)
