"""One console line as stored: a plain ``str``, a ``(str, style)`` pair, or a ``rich`` ``Text``.

Its own module because the buffer, the ANSI decoder and the model all build and edit lines, and
the cheap forms are what keep a flood fast: no ``Text`` (three objects the garbage collector
walks) for a line with no style or one style (stderr, notes).
"""

from __future__ import annotations

from typing import TypeAlias

from rich.style import Style
from rich.text import Text

from rtui.core.console.blocks import Block

__all__ = ["Line", "StyleType", "as_text", "line_length", "overwrite", "plain_text"]

StyleType: TypeAlias = str | Style

Styled: TypeAlias = tuple[str, StyleType]
Line: TypeAlias = str | Styled | Text | Block
# A stored line: plain str (no style), (str, style) for one style (stderr, notes), a Text, or
# a Block (rich output, an image: rows that depend on the width; see rtui.core.console.blocks).


def as_text(line: Line) -> Text:
    """The line as ``Text`` (the stored one itself when it is already one; a block's plain
    form, all of it, for readers that want text)."""
    if isinstance(line, str):
        return Text(line)
    if isinstance(line, tuple):
        return Text(line[0], style=line[1])
    if isinstance(line, Block):
        return Text(line.plain, style=line.style or "")
    return line


def plain_text(line: Line) -> str:
    """The line's characters without styles."""
    if isinstance(line, str):
        return line
    if isinstance(line, tuple):
        return line[0]
    return line.plain


def line_length(line: Line) -> int:
    """Characters in the line (cells for the usual narrow ones)."""
    if isinstance(line, Block):
        return len(line.plain)
    return len(line[0]) if isinstance(line, tuple) else len(line)


def _put(old: str, col: int, new: str) -> str:
    return old + new if col >= len(old) else old[:col] + new + old[col + len(new) :]


def overwrite(old: Line, col: int, new: Line) -> Line:
    """Write ``new`` over ``old`` from ``col``, as a terminal does (appending at the end)."""
    if isinstance(old, str) and isinstance(new, str):
        return _put(old, col, new)
    if isinstance(old, tuple) and isinstance(new, tuple) and old[1] == new[1]:
        return _put(old[0], col, new[0]), old[1]
    text, piece = as_text(old), as_text(new)
    if col >= len(text):
        return text + piece
    head, _, rest = text.divide([col, min(col + len(piece), len(text))])
    head.append(piece)
    head.append(rest)
    return head
