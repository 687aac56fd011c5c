"""Small reaches into Textual widgets' insides, each named for what it does for rtui."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.geometry import Size
    from textual.widget import Widget
    from textual.widgets import Footer

__all__ = ["mark_bindings_ready", "update_scrollbars"]


def update_scrollbars(widget: Widget, virtual_size: Size) -> None:
    """Size ``widget``'s scrollbars for ``virtual_size`` (and clamp its scroll position) the
    way a layout pass would, without one: assigning ``virtual_size`` asks for a layout of
    the whole screen (~8 ms at 120x36)."""
    widget._scroll_update(virtual_size)


def mark_bindings_ready(footer: Footer) -> None:
    """What Textual's ``Footer.bindings_changed`` does first, for a footer that replaces it:
    the footer composes no keys until the screen has told it its bindings."""
    footer._bindings_ready = True
