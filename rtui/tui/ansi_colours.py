"""``rtui --ansi``: every colour drawn is one of the terminal's own 16 (or its default).

Textual's ``ansi_color`` only lets ANSI colours through unchanged; the colours themselves
come from the theme (ANSI_THEME, made of the 16) and from what rtui shows as it came: kernel
output and code carry 256-colour and truecolour codes of their own. SixteenColours brings
those to the nearest of the 16, as the last step of every painted line.
"""

from __future__ import annotations

from functools import lru_cache

from rich.color import Color as RichColor
from rich.color import ColorSystem, ColorType
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

__all__ = ["ANSI_THEME", "SixteenColours", "sixteen_colour_style"]

ANSI_THEME = "ansi-dark"
"""Textual's theme of the 16 colours; on the terminal's default background and foreground,
so it suits a light terminal too."""

_WIDE = (ColorType.EIGHT_BIT, ColorType.TRUECOLOR)


def _narrow(color: RichColor | None) -> RichColor | None:
    if color is None or color.type not in _WIDE:
        return color
    return color.downgrade(ColorSystem.STANDARD)


@lru_cache(1024)
def sixteen_colour_style(style: Style) -> Style:
    """``style`` with a 256-colour or truecolour foreground or background replaced by the
    nearest of the 16 (the same style when it has neither)."""
    color, bgcolor = _narrow(style.color), _narrow(style.bgcolor)
    if color is style.color and bgcolor is style.bgcolor:
        return style
    return style + Style.from_color(color, bgcolor)


class SixteenColours(LineFilter):
    """A line filter: no colour beyond the 16 reaches the terminal."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        narrow = sixteen_colour_style
        return [Segment(text, None if style is None else narrow(style), control)
                for text, style, control in segments]
