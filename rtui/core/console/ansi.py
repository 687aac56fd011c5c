"""Terminal text to console lines: ANSI SGR colours become styles, a ``\\r`` redraw keeps the last.

Its own module so the escape rules (which sequences style, which a console ignores, where a
chunk may end inside one) live apart from what the model does with the lines.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from rich.ansi import AnsiDecoder
from rich.control import strip_control_codes
from rich.style import Style
from rich.text import Span, Text

from rtui.core.console.lines import Line

__all__ = ["HOLD_MAX", "INCOMPLETE_ESCAPE", "SgrDecoder", "text_lines", "visible_length"]

HOLD_MAX: Final = 64
# Longest escape sequence held back when a chunk ends inside one.
INCOMPLETE_ESCAPE: Final = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?")
# What a chunk may end with when an escape sequence is cut in two.
_ESCAPE: Final = re.compile(r"\x1b(?:\[([0-9;:]*)m|\[[0-?]*[ -/]*[@-~]|[@-Z\\-_0-?]|[()].?)")
# SGR (group 1) or another escape sequence, which a console ignores (cursor moves, erase...).


@functools.lru_cache(maxsize=4096)
def _after_sgr(style: Style, params: str) -> Style:
    """The style after one SGR sequence: rich's own rules, computed once per (style, codes)."""
    decoder = AnsiDecoder()
    decoder.style = style
    decoder.decode_line(f"\x1b[{params}m")
    return decoder.style


class SgrDecoder:
    """ANSI text to ``Text``, one line at a time, keeping the SGR state between calls.

    About twice as fast as ``rich.ansi.AnsiDecoder`` (which it defers to for OSC hyperlinks):
    coloured floods (logs, test runners) go through here line by line.
    """

    __slots__ = ("style",)

    def __init__(self) -> None:
        self.style = Style.null()

    def decode(self, piece: str) -> Text:
        """One line (no newline, no carriage return) of terminal output."""
        if "\x1b]" in piece:
            rich_decoder = AnsiDecoder()
            rich_decoder.style = self.style
            text = rich_decoder.decode_line(piece)
            self.style = rich_decoder.style
            return text
        piece = strip_control_codes(piece)
        style = self.style
        parts: list[str] = []
        spans: list[Span] = []
        size = pos = 0
        for match in _ESCAPE.finditer(piece):
            start = match.start()
            if start > pos:
                chunk = piece[pos:start]
                parts.append(chunk)
                if style:
                    spans.append(Span(size, size + len(chunk), style))
                size += len(chunk)
            pos = match.end()
            params = match.group(1)
            if params is not None:
                style = _after_sgr(style, params)
        if pos < len(piece):
            chunk = piece[pos:]
            parts.append(chunk)
            if style:
                spans.append(Span(size, size + len(chunk), style))
        self.style = style
        return Text("".join(parts), spans=spans)

    def advance(self, piece: str) -> None:
        """Take a piece's SGR changes without building its text (a redraw that a later one
        covers whole: only its colours carry on)."""
        style = self.style
        for match in _ESCAPE.finditer(piece):
            params = match.group(1)
            if params is not None:
                style = _after_sgr(style, params)
        self.style = style

    def decode_text(self, text: str) -> list[Line]:
        """Several lines; a ``\r`` keeps only what follows it, as the last redraw wins."""
        return [self.decode(line.rsplit("\r", 1)[-1]) for line in text.split("\n")]


def visible_length(piece: str) -> int | None:
    """The characters a piece of one line (no ``\r``, no newline) shows when written from
    column 0, as the console decodes it; None when that depends on more (tabs, OSC links)."""
    if "\t" in piece or "\x1b]" in piece:
        return None
    if "\x1b" not in piece:
        return len(piece)
    return len(_ESCAPE.sub("", strip_control_codes(piece)))


def text_lines(text: str) -> list[Line]:
    """Split a whole text (a result, a traceback) into lines, honouring ANSI colours."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = text.rstrip("\n")
    if "\t" in text:
        text = text.expandtabs()
    if "\x1b" in text:
        return SgrDecoder().decode_text(text)
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.rsplit("\r", 1)[-1] if "\r" in line else line for line in lines]
    return list(lines)
