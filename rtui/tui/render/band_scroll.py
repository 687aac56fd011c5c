"""Let the terminal move rows that only scrolled, instead of painting them again.

A console that follows its output repaints every row of its view whenever a result pushes
the view up by a row or two: ~7 kB per cell at 120x36, all of it sent over the SSH session
rtui itself may run in, and parsed again by tmux or the terminal. Terminals have moved rows
themselves since the VT100: a scrolling region (DECSTBM) and deleting lines at its top (DL)
shift the view's rows in place, and only the rows that are new need painting (~2 kB per cell).

Textual paints widgets into regions and never moves pixels, so the moving is done here, at
the edge: a widget that scrolled by a few rows asks its screen to shift its band of rows on
the next frame (``ScrollingScreen.scroll_band``) and marks only its new rows dirty. When the
frame is painted the screen checks that the move is still exactly right (the band is the
widget's full-width rows, nothing but the widget and its scrollbars is drawn there, it has
not moved) and puts the escape sequence in front of that frame's update, inside the same
synchronized update; if anything else is drawn there (a notification, a popup), the widget
is painted whole instead, in that same frame.

The app can turn it off (``ScrollingApp.band_scroll``, the ``band_scroll`` setting) for a
terminal that mishandles scrolling regions: every view is then painted whole, as Textual does,
and no DECSTBM or DL is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual._compositor import CompositorUpdate
from textual.app import App
from textual.screen import Screen
from textual.scrollbar import ScrollBar, ScrollBarCorner

from rtui.tui.render.crash import QuietCrashApp
from rtui.tui.render.payloads import CarriedUpdate

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from textual.geometry import Region
    from textual.strip import Strip
    from textual.widget import Widget

__all__ = ["CompositorUpdate", "PrefixedUpdate", "ScrollingApp", "ScrollingScreen", "paint_now",
           "painting_held", "screen_rows", "scroll_band", "scroll_sequence"]


def scroll_sequence(top: int, height: int, rows: int) -> str:
    """Move screen rows ``top .. top + height - 1`` (0-based) up by ``rows``: a scrolling
    region around them (DECSTBM), ``rows`` lines deleted at its top (DL: the rest move up,
    blank ones come in at its bottom), the region reset to the whole screen. VT100/VT102,
    so every terminal and tmux has them. The cursor ends at home; Textual positions it
    before every write."""
    return f"\x1b[{top + 1};{top + height}r\x1b[{top + 1};1H\x1b[{rows}M\x1b[r"


class PrefixedUpdate(CompositorUpdate):
    """A compositor update with terminal control in front of it (written in the same
    synchronized update, so the terminal never shows the rows moved but not yet painted)."""

    def __init__(self, prefix: str, update: CompositorUpdate) -> None:
        self.prefix = prefix
        self.update = update

    @classmethod
    def wrap(cls, prefix: str, renderable: RenderableType | None) -> RenderableType | None:
        """``renderable`` with ``prefix`` in front if there is one and it is an update."""
        if prefix and isinstance(renderable, CompositorUpdate):
            return cls(prefix, renderable)
        return renderable

    def render_segments(self, console: Console) -> str:
        return self.prefix + self.update.render_segments(console)


class ScrollingScreen(Screen[None]):
    """The app's main screen: paints as Textual does, plus band scrolls (see the module)."""

    def __init__(self, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # Per widget: its region when the shift was asked for, and by how many rows.
        self._band_scrolls: dict[Widget, tuple[Region, int]] = {}
        self._prefix = ""

    def scroll_band(self, widget: Widget, rows: int) -> bool:
        """Shift ``widget``'s rows up by ``rows`` on screen at the next frame. The caller then
        marks the rows that became new as dirty, and its own cached lines as moved.

        False (nothing scheduled; paint the widget whole) when this screen is not the one
        shown (a dialog over it paints it, and would not move the rows), the widget is not
        fully on it across its full width, or already has a shift waiting for this frame
        (the rows it marked then have moved since)."""
        if not self.is_current or widget in self._band_scrolls or \
                not 0 < rows < widget.size.height or not _band_scroll_on(self.app):
            return False
        region = self._band_region(widget)
        if region is None:
            return False
        self._band_scrolls[widget] = (region, rows)
        return True

    def paint_now(self) -> None:
        """Paint every pending repaint now: for a result someone is waiting for.

        Textual paints a widget's refresh after the widget's own idle has told the screen
        (a message) and the screen's idle has started its frame timer: a few loop turns,
        1-3 ms here while kernel messages are still being read. A layout or style change
        still waiting goes the usual way, after this paint."""
        if not self.is_current or painting_held(self.app):
            return
        for widget in self._compositor.visible_widgets:
            if widget._repaint_required:
                widget._repaint_required = False
                self._dirty_widgets.add(widget)
        if self._dirty_widgets:
            self._on_timer_update()

    def take_prefix(self) -> str:
        """The escape sequence for the frame being displayed (once)."""
        prefix, self._prefix = self._prefix, ""
        return prefix

    def _band_region(self, widget: Widget) -> Region | None:
        """The widget's region if a band scroll would move exactly it: visible and unclipped,
        as wide as the screen, and nothing drawn over its rows but its own scrollbars."""
        visible = self._compositor.visible_widgets
        placed = visible.get(widget)
        if placed is None:
            return None
        region, clip = placed
        if not clip.contains_region(region) or region.x != 0 or \
                region.width != self.size.width:
            return None
        beneath = set(widget.ancestors_with_self)  # covered by the widget, full width
        for other, (other_region, other_clip) in visible.items():
            if other in beneath or _is_scrollbar_of(other, widget):
                continue
            if other_region.intersection(other_clip).overlaps(region):
                return None
        return region

    def _compositor_refresh(self) -> None:
        scrolls, self._band_scrolls = self._band_scrolls, {}
        compositor = self._compositor
        prefix = []
        for widget, (asked, rows) in scrolls.items():
            region = self._band_region(widget) if self.is_current else None
            if region is not None and region == asked:
                prefix.append(scroll_sequence(region.y, region.height, rows))
                # Its scrollbars moved with the band: paint them again (their cached lines
                # are still right, only the screen is not).
                compositor._dirty_regions.update(
                    bar.intersection(clip)
                    for other, (bar, clip) in compositor.visible_widgets.items()
                    if _is_scrollbar_of(other, widget))
            elif widget.is_mounted:
                widget.refresh()  # moved or covered meanwhile: paint it whole
                compositor.update_widgets({widget})
        self._prefix = "".join(prefix)
        try:
            super()._compositor_refresh()
        finally:
            self._prefix = ""


def _is_scrollbar_of(other: Widget, widget: Widget) -> bool:
    return other.parent is widget and isinstance(other, ScrollBar | ScrollBarCorner)


class ScrollingApp(QuietCrashApp):
    """An app whose main screen moves scrolled rows in the terminal (see the module)."""

    @property
    def band_scroll(self) -> bool:
        """Move scrolled rows in the terminal; False paints them as Textual does. An app
        with a setting for it overrides this."""
        return True

    def get_default_screen(self) -> Screen[None]:
        return ScrollingScreen(id="_default")

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        if isinstance(screen, ScrollingScreen):
            renderable = PrefixedUpdate.wrap(screen.take_prefix(), renderable)
        # Pictures' escape sequences, carried through the compositor as marks (payloads).
        super()._display(screen, CarriedUpdate.wrap(renderable))


def _band_scroll_on(app: App[Any]) -> bool:
    return not isinstance(app, ScrollingApp) or app.band_scroll


def scroll_band(widget: Widget, rows: int) -> bool:
    """Have the terminal move ``widget``'s rows up by ``rows`` at the next frame, and shift
    Textual's cache of the widget's finished lines (by row) to match: the caller then marks
    only the rows that became new as dirty. False where that cannot be done (not on a
    ScrollingScreen, band scrolling off, see ``ScrollingScreen.scroll_band``): paint the
    widget whole."""
    screen = widget.screen
    if not isinstance(screen, ScrollingScreen) or not screen.scroll_band(widget, rows):
        return False
    cache = widget._styles_cache
    cache._cache = {y - rows: strip for y, strip in cache._cache.items() if y >= rows}
    cache._dirty_lines = {y - rows for y in cache._dirty_lines if y >= rows}
    return True


def paint_now(screen: Screen[Any]) -> None:
    """Paint ``screen``'s pending repaints now, if it is a ScrollingScreen (see its
    ``paint_now``); else they are painted as Textual does, a few loop turns later."""
    if isinstance(screen, ScrollingScreen):
        screen.paint_now()


def painting_held(app: App[Any]) -> bool:
    """``app`` is inside a ``batch_update``: nothing is painted until the last one ends."""
    return bool(app._batch_count)


def screen_rows(screen: Screen[Any]) -> list[Strip]:
    """``screen`` whole, as its compositor would paint it now: what the terminal should show
    (the tests compare an emulated terminal with it)."""
    return screen._compositor.render_strips()
