"""HTML (a ``text/html`` output: a pandas DataFrame, IPython's ``HTML``) as readable console text.

The standard library's tolerant ``html.parser`` walks the document and this module keeps what
reads in a terminal: paragraphs, headings, lists, links written as text with their address,
code, and tables laid out as tables (pandas' MultiIndex headers, with their spans, included).
Scripts, styles and the document's head are dropped.

Why not markdownify + BeautifulSoup + rich's Markdown: measured on a 1000 x 10 DataFrame's
``to_html()`` (278 KB) at 100 columns, markdownify took 1.4 s and rich's Markdown table 3.0 s
more, and a Markdown table has one header row and no row spans, so a MultiIndex came out
shifted. rich's ``Table`` itself costs ~2.5 ms a row here (cells measured and wrapped one by
one); ``_Grid`` lays a table out from its cells' widths in one pass (~25x faster) and wraps
only the cells of a column it had to narrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

__all__ = ["html_renderable"]

_SKIPPED: Final = frozenset({"script", "style", "head", "title", "template", "noscript",
                             "svg", "iframe", "object", "canvas", "select"})
_VOID: Final = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area",
                          "base", "embed", "source", "track", "param"})
_INLINE_STYLES: Final = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "cite": "italic",
    "var": "italic", "u": "underline", "ins": "underline", "s": "strike", "del": "strike",
    "strike": "strike", "code": "cyan", "kbd": "cyan", "samp": "cyan", "tt": "cyan",
    "mark": "reverse", "a": "underline",
}
_HEADINGS: Final = {"h1": "bold underline", "h2": "bold", "h3": "bold", "h4": "bold italic",
                    "h5": "italic", "h6": "italic"}
# Tags that end the running paragraph; of those, the ones with a blank line around them.
_BREAKING: Final = frozenset({
    "p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "ul", "ol",
    "li", "pre", "blockquote", "table", "tr", "dl", "dt", "dd", "figure", "figcaption", "form",
    "details", "summary", "hr", "address", "center", "caption", *_HEADINGS,
})
_SPACED: Final = frozenset({"p", "pre", "table", "blockquote", "figure", "hr", "dl",
                            *_HEADINGS})
_NUMBER: Final = re.compile(
    r"[-+]?(?:\d[\d,_ ]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:[-+]\d*\.?\d*j)?%?"
    r"|nan|NaN|<NA>|NaT|None|[-+]?inf|True|False|\.\.\.|…")
_WHITESPACE: Final = re.compile(r"\s+")
_MAX_TABLE_ROWS: Final = 2000  # a table's body rows drawn; the rest are counted
_MAX_ROWS: Final = 2000  # rows of a document read; the rest is not (the console cuts there)
_MIN_COLUMN: Final = 6  # a narrowed column keeps at least this many cells
_BOLD: Final = Style(bold=True)
_DIM: Final = Style(dim=True)


@dataclass(slots=True)
class _Cell:
    parts: list[str] = field(default_factory=list)
    header: bool = False
    colspan: int = 1
    rowspan: int = 1

    @property
    def text(self) -> str:
        return _WHITESPACE.sub(" ", "".join(self.parts)).strip()


@dataclass(slots=True)
class _Table:
    rows: list[tuple[bool, list[_Cell]]] = field(default_factory=list)  # (in <thead>, cells)
    caption: list[str] = field(default_factory=list)
    in_head: bool = False
    cell: _Cell | None = None
    in_caption: bool = False


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken at spaces, long words chopped
    (rich's ``Text.wrap`` does the same at ~100 us a cell: too dear for a table's thousands)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while cell_len(word) > width:
            room = width - cell_len(line) - (1 if line else 0)
            if room < 1:
                lines.append(line)
                line, room = "", width
            head = chop_cells(word, room)[0]
            line = f"{line} {head}" if line else head
            word = word[len(head):]
        if line and cell_len(line) + 1 + cell_len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


class _Grid:
    """A table of single-line cells: header rows in bold over a rule, numeric columns to the
    right, narrowed columns wrapped, body header cells (an index) in bold."""

    def __init__(self, head: list[list[tuple[str, bool]]], body: list[list[tuple[str, bool]]],
                 more: int) -> None:
        columns = max((len(row) for row in head + body), default=0)
        self.head = [row + [("", False)] * (columns - len(row)) for row in head]
        self.body = [row + [("", False)] * (columns - len(row)) for row in body]
        self.more = more
        self.columns = columns
        self.right = [self._numeric(c) for c in range(columns)]

    def _numeric(self, column: int) -> bool:
        values = [row[column][0] for row in self.body if row[column][0] and not row[column][1]]
        return bool(values) and all(_NUMBER.fullmatch(value) for value in values)

    def _widths(self, width: int) -> tuple[list[int], int]:
        """Each shown column's width and the gap between columns: the natural widths if they
        fit (two spaces apart, else one); else text columns narrowed (wrapped) to the widest
        width that fits; else, numbers kept whole, as many columns as fit from the left (an
        "…" column says more are hidden, as pandas does); wrapped numbers last of all."""
        natural = [0] * self.columns
        for row in self.head + self.body:
            for column, (text, _) in enumerate(row):
                natural[column] = max(natural[column], cell_len(text))
        gaps = max(self.columns - 1, 0)
        if sum(natural) + 2 * gaps <= width:
            return natural, 2
        room = width - gaps
        if sum(natural) <= room:
            return natural, 1
        text_narrowed = self._narrowed(natural, [not right for right in self.right], room)
        if sum(text_narrowed) <= room:
            return text_narrowed, 1
        used = 0
        for shown, column_width in enumerate(text_narrowed):
            if used + column_width + 1 + 1 > width:  # its gap, then the "…" column
                if shown:
                    return text_narrowed[:shown], 1
                break
            used += column_width + 1
        return self._narrowed(natural, [True] * self.columns, room), 1

    @staticmethod
    def _narrowed(natural: list[int], narrow: list[bool], room: int) -> list[int]:
        """``natural`` with the ``narrow`` columns capped at the widest width that fits."""
        fixed = sum(n for n, cap in zip(natural, narrow, strict=True) if not cap)
        low, high = _MIN_COLUMN, max(natural)
        while low < high:
            middle = (low + high + 1) // 2
            if fixed + sum(min(n, middle) for n, cap in zip(natural, narrow, strict=True)
                           if cap) <= room:
                low = middle
            else:
                high = middle - 1
        return [min(n, low) if cap else n for n, cap in zip(natural, narrow, strict=True)]

    def _row(self, cells: list[tuple[str, bool]], widths: list[int], gap: str,
             bold_all: bool) -> Iterable[list[Segment]]:
        shown = len(widths)
        wrapped: list[list[str]] = []
        for (text, _), width in zip(cells[:shown], widths, strict=True):
            wrapped.append([text] if cell_len(text) <= width else _wrap(text, width))
        hidden = shown < self.columns
        for index in range(max(len(lines) for lines in wrapped) if wrapped else 0):
            runs: list[tuple[str, bool]] = []  # cells of one weight joined: fewer segments
            for column, lines in enumerate(wrapped):
                text = lines[index] if index < len(lines) else ""
                pad = " " * (widths[column] - cell_len(text))
                text = (pad + text if self.right[column] else text + pad) + (
                    gap if column < shown - 1 or hidden else "")
                bold = bold_all or cells[column][1]
                if runs and runs[-1][1] == bold:
                    runs[-1] = (runs[-1][0] + text, bold)
                else:
                    runs.append((text, bold))
            segments = [Segment(text, _BOLD if bold else None) for text, bold in runs]
            if hidden:
                segments.append(Segment("…" if index == 0 else "", _DIM))
            yield segments

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths, spaces = self._widths(options.max_width)
        gap = " " * spaces
        for row in self.head:
            for segments in self._row(row, widths, gap, bold_all=True):
                yield from segments
                yield Segment.line()
        if self.head:
            ruled = sum(widths) + spaces * (len(widths) - 1) + 2 * (len(widths) < self.columns)
            yield Segment("─" * min(ruled, options.max_width), _DIM)
            yield Segment.line()
        for row in self.body:
            for segments in self._row(row, widths, gap, bold_all=False):
                yield from segments
                yield Segment.line()
        if self.more:
            yield Segment(f"… {self.more:,} more rows", _DIM)
            yield Segment.line()


class _Hanging:
    """``body`` with ``prefix`` before its first line and spaces before the others (a list
    item's bullet, a quote's bar on every line)."""

    def __init__(self, prefix: str, body: RenderableType, *, every_line: bool = False) -> None:
        self.prefix = prefix
        self.body = body
        self.every_line = every_line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = cell_len(self.prefix)
        lines = console.render_lines(self.body, options.update_width(
            max(options.max_width - width, 1)), pad=False)
        for index, line in enumerate(lines):
            first = index == 0 or self.every_line
            yield Segment(self.prefix if first else " " * width, Style(dim=self.every_line))
            yield from line
            yield Segment.line()


def _grid(table: _Table) -> _Grid:
    """The table's cells on a grid: a spanned cell's text once, blanks where it spans."""
    head: list[list[tuple[str, bool]]] = []
    body: list[list[tuple[str, bool]]] = []
    spanning: dict[int, int] = {}  # column -> rows still covered by a rowspan above
    leading_head = True
    more = 0
    for in_head, cells in table.rows:
        row: list[tuple[str, bool]] = []
        for cell in [*cells, None]:
            while spanning.get(len(row), 0) > 0:  # cells a rowspan above covers
                spanning[len(row)] -= 1
                row.append(("", True))
            if cell is None:
                break
            for column in range(cell.colspan):
                if cell.rowspan > 1:
                    spanning[len(row)] = cell.rowspan - 1
                row.append((cell.text if column == 0 else "", cell.header))
        leading_head = leading_head and all(cell.header for cell in cells)
        if in_head or (leading_head and not body and cells):
            head.append(row)
        elif len(body) < _MAX_TABLE_ROWS:
            body.append(row)
        else:
            more += 1
    if body == [] and len(head) > 1:  # a table of header cells only: the first is its head
        head, body = head[:1], head[1:]
    return _Grid(head, body, more)


class _Full(Exception):
    """The document gave more rows than a console output shows: reading stops."""


class _Walker(HTMLParser):
    """Builds the renderables as the parser goes: one per paragraph, heading, item, table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[RenderableType] = []
        self.text = Text()
        self.styles: list[tuple[str, str]] = []  # (tag, style) of the open inline tags
        self.links: list[str] = []
        self.lists: list[list[int]] = []  # [ordered, next number] of the open lists
        self.prefix = ""  # the bullet of the item being written
        self.quote = 0
        self.skipping: list[str] = []
        self.pre = 0
        self.tables: list[_Table] = []
        self.nested_tables = 0  # tables inside a cell: their text joins the cell's
        self.gap = False
        self.rows = 0  # about how many rows the blocks take (wrapping aside)
        self.joinable: RenderableType | None = None  # the Text later paragraphs join

    # The running paragraph.
    def _flush(self) -> None:
        self.text.rstrip()
        if self.text.plain.strip():  # an item's bullet waits for its first words
            self._add(self.text, self.prefix)
            self.prefix = ""
        self.text = Text()

    def _add(self, block: RenderableType, prefix: str = "") -> None:
        if self.rows > _MAX_ROWS:
            raise _Full
        self.rows += (len(block.head) + len(block.body) + 2 if isinstance(block, _Grid)
                      else block.plain.count("\n") + 1 if isinstance(block, Text) else 1)
        self.rows += self.gap
        depth = len(self.lists)
        plain = isinstance(block, Text) and not prefix and not depth and not self.quote
        last = self.blocks[-1] if self.blocks else None
        if plain and isinstance(last, Text) and last is self.joinable:
            # one Text for a run of paragraphs: rich lays out one renderable much faster
            # than thousands (a 300 KB page of <p>s took 5 s as separate blocks)
            last.append("\n\n" if self.gap else "\n")
            last.append_text(block)  # type: ignore[arg-type]
            self.gap = False
            return
        if self.gap and self.blocks:
            self.blocks.append(Text(""))
        self.gap = False
        if plain:
            self.joinable = block
            self.blocks.append(block)
            return
        if prefix:
            block = _Hanging(prefix, block)
        if depth > 1 or (depth and not prefix):
            block = _Hanging("  " * (depth - 1) + ("  " if not prefix else ""), block)
        if self.quote:
            block = _Hanging("│ " * self.quote, block, every_line=True)
        self.blocks.append(block)

    def _style(self) -> str:
        return " ".join(style for _, style in self.styles)

    def _write(self, data: str) -> None:
        table = self.tables[-1] if self.tables else None
        if table is not None and (table.cell is not None or table.in_caption):
            (table.cell.parts if table.cell is not None else table.caption).append(data)
            return
        if table is not None:
            return  # between cells: the source's indentation
        if not self.pre:
            data = _WHITESPACE.sub(" ", data)
            if not self.text.plain or self.text.plain.endswith((" ", "\n")):
                data = data.lstrip(" ")
        if data:
            self.text.append(data, self._style() or None)

    # The parser's events.
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag not in _VOID:
                self.skipping.append(tag)
            return
        if tag in _SKIPPED:
            self.skipping.append(tag)
            return
        if self.tables and tag in ("table", "tr", "td", "th", "thead", "tbody", "tfoot",
                                   "caption"):
            self._table_start(tag, dict(attrs))
            return
        if tag == "table":
            self._flush()
            self.tables.append(_Table())
            return
        if self.tables:
            if tag in _BREAKING or tag == "br":
                self._write(" ")
            return
        if tag in _BREAKING:
            self._flush()
            if (tag in _SPACED and not self.lists) or (tag in ("ul", "ol") and not self.lists):
                self.gap = True
        if tag in _HEADINGS:
            self.styles.append((tag, _HEADINGS[tag]))
        elif tag in _INLINE_STYLES:
            self.styles.append((tag, _INLINE_STYLES[tag]))
            if tag == "a":
                self.links.append(dict(attrs).get("href") or "")
        elif tag in ("ul", "ol"):
            self.lists.append([tag == "ol", _span(dict(attrs).get("start"))])
        elif tag == "li":
            if self.lists and self.lists[-1][0]:
                self.prefix = f"{self.lists[-1][1]}. "
                self.lists[-1][1] += 1
            else:
                self.prefix = "• "
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "br":
            self.text.append("\n")
        elif tag == "hr":
            self._add(Rule(style="dim"))
            self.gap = True
        elif tag == "img":
            alt = dict(attrs).get("alt") or "image"
            self.text.append(f"[{alt}]", "dim")
        elif tag == "dd":
            self.prefix = "    "

    def _table_start(self, tag: str, attrs: dict[str, str | None]) -> None:
        table = self.tables[-1]
        if tag == "table" or self.nested_tables:
            self.nested_tables += tag == "table"
            self._write(" ")
        elif tag == "thead":
            table.in_head = True
        elif tag in ("tbody", "tfoot"):
            table.in_head = False
        elif tag == "caption":
            table.in_caption = True
        elif tag == "tr":
            table.cell = None
            table.rows.append((table.in_head, []))
        else:  # td, th
            if not table.rows:
                table.rows.append((table.in_head, []))
            table.cell = _Cell(header=tag == "th", colspan=_span(attrs.get("colspan")),
                               rowspan=_span(attrs.get("rowspan")))
            table.rows[-1][1].append(table.cell)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping.pop() != tag:
                    pass
            return
        if self.tables:
            self._table_end(tag)
            return
        if tag in _HEADINGS or tag in _INLINE_STYLES:
            for index in range(len(self.styles) - 1, -1, -1):
                if self.styles[index][0] == tag:
                    del self.styles[index]
                    break
            if tag == "a" and self.links:
                href = self.links.pop()
                shown = self.text.plain.rsplit(" ", 1)[-1]
                if href and not href.startswith(("#", "javascript:")) and href != shown:
                    self.text.append(f" ({href})", "dim")
        if tag in _BREAKING:
            self._flush()
            if (tag in _SPACED and not self.lists) or (tag in ("ul", "ol")
                                                      and len(self.lists) <= 1):
                self.gap = True
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "blockquote" and self.quote:
            self.quote -= 1
        elif tag == "pre" and self.pre:
            self.pre -= 1

    def _table_end(self, tag: str) -> None:
        table = self.tables[-1]
        if self.nested_tables:
            self.nested_tables -= tag == "table"
            self._write(" ")
        elif tag in ("td", "th"):
            table.cell = None
        elif tag == "thead":
            table.in_head = False
        elif tag == "caption":
            table.in_caption = False
        elif tag == "table":
            self._end_table()

    def _end_table(self) -> None:
        table = self.tables.pop()
        caption = _WHITESPACE.sub(" ", "".join(table.caption)).strip()
        self.gap = True
        if caption:
            self._add(Text(caption, "italic"))
        if table.rows:
            self._add(_grid(table))
        self.gap = True

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._write(data)

    def finish(self) -> list[RenderableType]:
        """What was read, with tags the document left open closed."""
        self.close()
        while self.tables:
            self._end_table()
        self._flush()
        return self.blocks


def html_renderable(source: str) -> RenderableType:
    """``source`` as renderables; broken HTML gives what could be read, never an exception."""
    walker = _Walker()
    note: Text | None = None
    try:
        walker.feed(source)
        blocks = walker.finish()
    except _Full:
        blocks = walker.blocks
        note = Text(f"… the rest of this html not shown (over {_MAX_ROWS:,} rows)", "dim")
    except Exception as exc:  # html.parser is tolerant; this is for what it still refuses
        blocks = [*walker.blocks, walker.text]
        note = Text(f"(the rest could not be read: {exc})", "dim")
    if note is not None:
        blocks.append(note)
    if not blocks:  # a plot's scripts, a map's frame: say so rather than draw nothing
        blocks.append(Text("(HTML with no text to show: scripts, styles or frames only; "
                           "r shows its plain text)", "dim"))
    return Group(*blocks)
