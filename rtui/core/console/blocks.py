"""Outputs drawn as a block of rows whose count depends on the width: rich text and images.

A console line is text that the view soft-wraps; a rendered Markdown table or a plot is not:
it is laid out for a width (a table's columns, an image's aspect). Such an output is stored as
one entry of the console's line buffer, a ``Block``, which says how many rows it takes at a
width and what they are. The view asks for rows only of the blocks it paints.

Every block keeps its ``plain`` form (the bundle's text/plain, or one line naming the output):
``raw`` shows it instead (a key toggles it), and searches and tests read it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Final

from rich.console import Console, RenderableType
from rich.text import Text

from rtui.core.console.images import ImageRecord
from rtui.core.units import byte_size

__all__ = ["Block", "ImageBlock", "ImageGeometry", "RichBlock", "UnknownBlock", "render_lines"]

_MAX_ROWS: Final = 2000  # a rendered block is cut here (a huge table): the rest is named


def render_lines(renderable: RenderableType, width: int) -> list[Text]:
    """``renderable`` laid out at ``width`` cells, one ``Text`` per row (no trailing blanks)."""
    console = Console(width=max(width, 1), file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", emoji=False, highlight=False,
                      legacy_windows=False)
    rows = console.render_lines(renderable, console.options, pad=False)
    out: list[Text] = []
    for row in rows[:_MAX_ROWS]:
        text = Text()
        for segment in row:
            if not segment.control:
                text.append(segment.text, segment.style)
        text.rstrip()
        out.append(text)
    while out and not out[-1].plain:
        out.pop()
    if len(rows) > _MAX_ROWS:
        out.append(Text(f"… {len(rows) - _MAX_ROWS:,} more rows not shown "
                        "(r shows the plain text)", style="dim"))
    return out or [Text("")]


def _wrapped(plain: str, width: int) -> list[Text]:
    """The plain form cut into rows of ``width`` cells, as the view wraps text lines."""
    rows: list[Text] = []
    for line in plain.split("\n"):
        text = Text(line.expandtabs())
        if text.cell_len <= width:
            rows.append(text)
            continue
        cuts = list(range(width, len(line.expandtabs()), width))
        rows.extend(text.divide(cuts))
    return rows or [Text("")]


class Block:
    """One output laid out for a width. ``version`` changes when its rows may have
    (``raw`` toggled, an image dropped), so a view knows its cached rows are stale."""

    __slots__ = ("_cache", "_raw", "mime", "plain", "style")

    def __init__(self, mime: str, plain: str, *, style: Any = None) -> None:
        self.mime = mime
        self.plain = plain.rstrip("\n")
        self.style = style  # for the plain form's one line (a placeholder's dim)
        self._raw = False
        self._cache: tuple[int, int, list[Text]] | None = None  # (width, version, rows)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.mime}>"

    @property
    def raw(self) -> bool:
        """Show the plain text form instead of the rendered one."""
        return self._raw

    @raw.setter
    def raw(self, value: bool) -> None:
        self._raw = value

    @property
    def version(self) -> int:
        return int(self._raw)

    @property
    def can_toggle(self) -> bool:
        """Whether the plain form differs from the rendered one (worth a key)."""
        return True

    def rows(self, width: int) -> int:
        """Rows the block takes at ``width`` cells."""
        return len(self.lines(width))

    def laid_out(self, width: int) -> bool:
        """Whether its rows at ``width`` are made already (``lines`` costs nothing now)."""
        cache = self._cache
        return cache is not None and cache[0] == width and cache[1] == self.version

    def lines(self, width: int) -> list[Text]:
        """Its rows at ``width`` (cached for the last width). A view may call it in a thread:
        the rows are stored under the version they were made for, not the one at the end."""
        version = self.version
        cache = self._cache
        if cache is not None and cache[0] == width and cache[1] == version:
            return cache[2]
        if self._raw:
            rows = _wrapped(self.plain, width)
        else:
            rows = self._render(width)
        self._cache = (width, version, rows)
        return rows

    def _render(self, width: int) -> list[Text]:
        rows = _wrapped(self.plain, width)
        if self.style is not None:
            for row in rows:
                row.stylize(self.style)
        return rows

    def payload(self) -> tuple[bytes, str] | None:
        """What saving the output writes, and a file name suffix; None when it has nothing
        beyond its text."""
        return None


class RichBlock(Block):
    """Markdown, HTML, LaTeX or JSON, rendered by :mod:`rtui.core.console.rich_text`."""

    __slots__ = ("kind", "source")

    def __init__(self, kind: str, source: str, plain: str) -> None:
        super().__init__(f"text/{kind}" if kind != "json" else "application/json", plain)
        self.kind = kind
        self.source = source

    def _render(self, width: int) -> list[Text]:
        try:
            from rtui.core.console.rich_text import renderable

            return render_lines(renderable(self.kind, self.source), width)
        except Exception as exc:  # a renderer's bug must not lose the output
            rows = _wrapped(self.plain, width)
            rows.append(Text(f"(could not render {self.mime}: {exc})", style="dim"))
            return rows

    def payload(self) -> tuple[bytes, str]:
        suffix = {"markdown": ".md", "html": ".html", "latex": ".tex", "json": ".json"}
        return self.source.encode(), suffix.get(self.kind, ".txt")


class UnknownBlock(Block):
    """An output of a type the console cannot show: one line naming it and its size."""

    __slots__ = ("data",)

    def __init__(self, mime: str, data: bytes, plain: str, *, style: Any = None) -> None:
        super().__init__(mime, plain, style=style)
        self.data = data

    @property
    def can_toggle(self) -> bool:
        return False

    def payload(self) -> tuple[bytes, str]:
        sub = self.mime.split("/", 1)[-1].split("+")[-1].removeprefix("x-")
        return self.data, "." + ("".join(c for c in sub if c.isalnum())[:8] or "bin")


@dataclass(slots=True)
class ImageGeometry:
    """How images become cells in this console: the terminal's cell size in pixels (10x20
    when it does not say), the most rows an image may take (the view's height, so a plot is
    seen whole), and whether images are drawn at all (``--images off``)."""

    cell_px: tuple[int, int] = (10, 20)
    max_rows: int = 20
    draw: bool = True

    def cells(self, size_px: tuple[int, int] | None, width: int) -> tuple[int, int]:
        """(columns, rows) an image of ``size_px`` takes in ``width`` cells, aspect kept:
        its natural size (one terminal cell per cell's pixels), never wider than the view
        nor taller than ``max_rows``."""
        if size_px is None or not self.draw or width <= 0:
            return max(width, 1), 1
        pw, ph = size_px
        if pw <= 0 or ph <= 0:
            return max(width, 1), 1
        cw, ch = self.cell_px
        cols = max(1, min(width, math.ceil(pw / cw)))
        rows = max(1, math.ceil(cols * cw * ph / (pw * ch)))
        if rows > self.max_rows:
            rows = max(1, self.max_rows)
            cols = max(1, min(cols, math.floor(rows * ch * pw / (ph * cw))))
        return cols, rows


class ImageBlock(Block):
    """An image of the console's ImageStore. Its rows here are placeholders of the right
    height; the view paints the picture (decoding it in a thread)."""

    __slots__ = ("geometry", "record")

    def __init__(self, record: ImageRecord, geometry: ImageGeometry, plain: str) -> None:
        super().__init__(record.mime, plain or f"<{record.describe()}>")
        self.record = record
        self.geometry = geometry

    @property
    def version(self) -> int:
        return int(self._raw) + 2 * self.record.version

    @property
    def drawn(self) -> bool:
        """Whether the view draws the picture now (not raw, still inline, with bytes)."""
        return (not self._raw and self.geometry.draw and self.record.inline
                and self.record.data is not None and self.record.size_px is not None)

    def cells(self, width: int) -> tuple[int, int]:
        """(columns, rows) of the picture at ``width``."""
        return self.geometry.cells(self.record.size_px, width)

    def rows(self, width: int) -> int:
        if self._raw:
            return len(self.lines(width))
        if not self.geometry.draw or self.record.size_px is None:
            return 1
        return self.cells(width)[1]

    def _render(self, width: int) -> list[Text]:
        """The label row(s) shown where the picture is not drawn (or not yet)."""
        record = self.record
        if not self.geometry.draw or record.size_px is None:
            why = "" if record.size_px is not None else " (not an image Pillow can read)"
            return [Text(f"[{record.describe()}{why}]", style="dim")]
        rows = self.cells(width)[1]
        if record.data is None:
            label = f"[{record.describe()}: no longer kept]"
        elif not record.inline:
            label = f"[{record.describe()}: not drawn here any more; the Plots tab has it]"
        else:
            label = f"[{record.describe()}]"
        out = [Text("") for _ in range(rows)]
        out[(rows - 1) // 2] = Text(label[: max(width, 1)], style="dim")
        return out

    def payload(self) -> tuple[bytes, str] | None:
        data = self.record.data
        return None if data is None else (data, self.record.suffix)


def unknown_line(mime: str, size: int) -> str:
    """"<application/x-foo 12 KB>"."""
    return f"<{mime} {byte_size(size)}>"
