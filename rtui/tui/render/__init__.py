"""Every use of Textual's private API in rtui, behind small named functions and classes.

Widgets and the app use public Textual API plus these; nothing else in rtui reaches into
Textual. What is relied on is listed, with the shape expected, in ``compat.RELIED_ON``, and a
test checks it against the installed Textual (pyproject pins the major version for it).

- ``band_scroll``: rows that only scrolled are moved by the terminal (DECSTBM + DL), and a
  screen's pending repaints can be painted now. ``ScrollingApp.band_scroll`` (the
  ``band_scroll`` setting) turns the moving off.
- ``widgets``: a view's scrollbars updated without a layout pass; a footer's bindings marked
  ready.
- ``text_area`` (not re-exported here: it loads TextArea, which the host list does not need):
  the editor's theme, and its paint without re-styling the theme.
"""

from __future__ import annotations

from rtui.tui.render.band_scroll import (
    ScrollingApp,
    ScrollingScreen,
    paint_now,
    painting_held,
    scroll_band,
    scroll_sequence,
)
from rtui.tui.render.widgets import mark_bindings_ready, update_scrollbars

__all__ = [
    "ScrollingApp",
    "ScrollingScreen",
    "mark_bindings_ready",
    "paint_now",
    "painting_held",
    "scroll_band",
    "scroll_sequence",
    "update_scrollbars",
]
