"""What the console's editor needs from inside Textual's TextArea: its theme object, and its
paint without re-styling that theme (TextArea does it on every paint, ~2 ms a keystroke).

Imported by the editor only (it loads after the first frame); see rtui.tui.render.compat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import TextArea

if TYPE_CHECKING:
    from textual.geometry import Region
    from textual.strip import Strip
    from textual.widgets.text_area import TextAreaTheme

__all__ = ["render_lines_unthemed", "text_area_theme"]


def text_area_theme(area: TextArea) -> TextAreaTheme | None:
    """The theme ``area`` paints with (Textual keeps it private; ``area.theme`` is its name)."""
    return area._theme


def render_lines_unthemed(area: TextArea, crop: Region) -> list[Strip]:
    """``area``'s lines as TextArea paints them, minus the ``theme.apply_css(area)`` that
    TextArea's ``render_lines`` runs first on every paint: the caller styles the theme only
    when it changed."""
    return super(TextArea, area).render_lines(crop)
