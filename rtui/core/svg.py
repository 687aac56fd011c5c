"""SVG pictures (a kernel's image/svg+xml) made into PNG for drawing, where a library can.

Rasterising SVG is a library's job: rtui uses resvg (``resvg-py``, the ``svg`` extra: one
self-contained wheel, no system libraries) when it is installed. Without it an SVG is named and
can be saved, never drawn wrong. The size comes from the root element's width/height (or its
viewBox), read without parsing the whole document, so the console knows the picture's rows
before anything is drawn.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SVG_MIME", "available", "rasterise", "svg_size"]

SVG_MIME: Final = "image/svg+xml"
_MAX_SIDE: Final = 1600  # pixels a rasterised SVG has at most (a terminal needs far fewer)
_ROOT = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE | re.DOTALL)
_UNITS: Final = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54,
                 "mm": 96 / 25.4, "em": 16.0, "ex": 8.0}


def available() -> bool:
    """Whether SVG can be drawn here (resvg-py installed)."""
    try:
        import resvg_py  # noqa: F401
    except ImportError:
        return False
    return True


def _length(root: bytes, name: bytes) -> float | None:
    found = re.search(rb"\s" + name + rb"\s*=\s*[\"']\s*([0-9.]+)\s*([a-z%]*)\s*[\"']", root)
    if found is None or found.group(2) == b"%":
        return None
    try:
        return float(found.group(1)) * _UNITS.get(found.group(2).decode(), 1.0)
    except ValueError:
        return None


def svg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in CSS pixels from the root ``<svg>`` element; None if unknown."""
    root = _ROOT.search(data[:65536])
    if root is None:
        return None
    tag = root.group(0)
    width, height = _length(tag, b"width"), _length(tag, b"height")
    box = re.search(rb"viewBox\s*=\s*[\"']([^\"']+)[\"']", tag)
    if box is not None and (width is None or height is None):
        try:
            _, _, bw, bh = (float(v) for v in box.group(1).replace(b",", b" ").split())
        except ValueError:
            bw = bh = 0.0
        if bw > 0 and bh > 0:
            if width is None and height is None:
                width, height = bw, bh
            elif width is None and height is not None:
                width = height * bw / bh
            elif height is None and width is not None:
                height = width * bh / bw
    if not width or not height or width <= 0 or height <= 0:
        return None
    return max(1, round(width)), max(1, round(height))


def _in_pixels(data: bytes, size: tuple[int, int] | None) -> bytes:
    """The root's width and height in plain pixels: resvg refuses "pt" and "in", which
    matplotlib writes (``width="460.8pt"``)."""
    root = _ROOT.search(data[:65536])
    if root is None or size is None:
        return data
    tag = root.group(0)
    for name, value in ((b"width", size[0]), (b"height", size[1])):
        pattern = rb"(\s" + name + rb"\s*=\s*)([\"'])[^\"']*\2"
        tag = re.sub(pattern, rb'\g<1>"' + b"%d" % value + b'"', tag, count=1)
    return data[: root.start()] + tag + data[root.end() :]


def rasterise(data: bytes, width: int | None = None) -> bytes:
    """The SVG as PNG bytes, ``width`` pixels wide (its own size, at most 1600, if None).
    Raises ``ValueError`` (with resvg's reason) for an SVG it cannot draw and
    ``ModuleNotFoundError`` without resvg-py. Seconds of CPU for a big one: call in a thread."""
    import resvg_py

    size = svg_size(data)
    if width is None:
        width = min(size[0], _MAX_SIDE) if size else 800
    width = max(1, min(width, _MAX_SIDE))
    try:
        text = _in_pixels(data, size).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 SVG text ({exc.reason})") from None
    return bytes(resvg_py.svg_to_bytes(svg_string=text, width=width, background="white"))
