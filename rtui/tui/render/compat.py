"""What rtui.tui.render relies on inside Textual, each piece with the shape it must have.

Textual keeps these private, so a release may rename or reshape any of them without notice.
``RELIED_ON`` lists every one (the tests' own uses too) with a check; the compatibility test
runs each against the installed Textual, and a failure names the version and the piece. Add
a piece here whenever render/ starts to use one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import textual
from textual.app import App
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TextArea
from textual.widgets.text_area import TextAreaTheme

__all__ = ["RELIED_ON", "Piece", "problems"]


@dataclass(frozen=True)
class Piece:
    """One private piece of Textual: where it is, what rtui does with it, how to check it."""

    name: str
    used_for: str
    check: Callable[[], str | None]  # None: there, with the expected shape; else what is not


def problems() -> list[str]:
    """Every piece that is missing or changed in the installed Textual, described."""
    found = []
    for piece in RELIED_ON:
        wrong = _run(piece.check)
        if wrong is not None:
            found.append(f"Textual {textual.__version__}: {piece.name} {wrong} "
                         f"(rtui.tui.render uses it: {piece.used_for})")
    return found


def _run(check: Callable[[], str | None]) -> str | None:
    try:
        return check()
    except Exception as exc:  # an import or constructor that changed: that is the finding
        return f"could not be checked: {type(exc).__name__}: {exc}"


def _method(owner: Any, name: str, params: tuple[str, ...]) -> Callable[[], str | None]:
    """A check that ``owner.name`` is a function taking exactly ``params`` (after self)."""

    def check() -> str | None:
        function = inspect.getattr_static(owner, name, None)
        if isinstance(function, property):
            return "is a property, not a method"
        if not callable(function):
            return "is missing"
        found = tuple(inspect.signature(function).parameters)[1:]
        if found != params:
            return f"takes ({', '.join(found)}), expected ({', '.join(params)})"
        return None

    return check


def _attribute(make: Callable[[], Any], path: str, kind: type | tuple[type, ...]
               ) -> Callable[[], str | None]:
    """A check that a new ``make()`` (a Textual class: its instance attributes are set in
    ``__init__``) has the dotted attribute ``path``, an instance of ``kind``."""

    def check() -> str | None:
        value = make()
        for part in path.split("."):
            if not hasattr(value, part):
                return "is missing"
            value = getattr(value, part)
        if not isinstance(value, kind):
            return f"is a {type(value).__name__}, expected {_names(kind)}"
        return None

    return check


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _compositor_update() -> Any:
    from textual._compositor import CompositorUpdate

    return CompositorUpdate


def _compositor() -> Any:
    from textual._compositor import Compositor

    return Compositor


def _lazy_method(owner: Callable[[], Any], name: str,
                 params: tuple[str, ...]) -> Callable[[], str | None]:
    """``_method`` on a class that is itself private (imported when checked)."""
    return lambda: _method(owner(), name, params)()


def _footer_bindings_ready() -> str | None:
    ready = inspect.getattr_static(Footer, "_bindings_ready", None)
    if not isinstance(ready, reactive):
        return "is missing or no longer a reactive"
    # KeyFooter replaces bindings_changed: the original must still do no more than set it and
    # recompose, or the replacement misses something.
    names = Footer.bindings_changed.__code__.co_names
    if "_bindings_ready" not in names or "recompose" not in names:
        return f"is no longer set by Footer.bindings_changed (which uses {names})"
    return None


def _text_area_render_lines() -> str | None:
    names = set(TextArea.render_lines.__code__.co_names)
    if names != {"_theme", "apply_css", "super", "render_lines"}:
        return (f"does more than style its theme and paint (it uses {sorted(names)}): "
                "skipping it would skip that too")
    return None


def _driver_write() -> str | None:
    from textual.driver import Driver

    if "_driver" not in App.__init__.__code__.co_names:
        return "is no longer set by App.__init__"
    return _method(Driver, "write", ("data",))()


def _compositor_update_shape() -> str | None:
    update = _compositor_update()
    if not inspect.isclass(update):
        return "is not a class"
    return _method(update, "render_segments", ("console",))()


RELIED_ON: tuple[Piece, ...] = (
    Piece("textual._compositor.CompositorUpdate", "a frame with the band scroll's escape "
          "sequence in front (PrefixedUpdate); the tests read frames as the driver writes "
          "them", _compositor_update_shape),
    Piece("App._display(screen, renderable)", "wraps each frame of a ScrollingScreen "
          "(ScrollingApp); the tests capture frames there",
          _method(App, "_display", ("screen", "renderable"))),
    Piece("App._batch_count", "paint_now waits for batch_update (painting_held)",
          _attribute(App, "_batch_count", int)),
    Piece("App._fatal_error()", "a crash said in one line, its traceback in the log, not "
          "Textual's screen of every frame's variables (rtui.tui.app)",
          _method(App, "_fatal_error", ())),
    Piece("App._exit_renderables", "the crash line printed after the app's screen is gone",
          _attribute(App, "_exit_renderables", list)),
    Piece("App._close_messages_no_wait()", "the app closes after a crash, as Textual's does",
          _method(App, "_close_messages_no_wait", ())),
    Piece("App._exception", "the exception a crash is said for",
          _attribute(App, "_exception", type(None))),
    Piece("Screen._compositor_refresh()", "the frame in which the band scroll is written "
          "(ScrollingScreen)", _method(Screen, "_compositor_refresh", ())),
    Piece("Screen._on_timer_update()", "paints a screen's pending repaints (paint_now)",
          _method(Screen, "_on_timer_update", ())),
    Piece("Screen._dirty_widgets", "widgets that paint_now hands to the next paint",
          _attribute(Screen, "_dirty_widgets", set)),
    Piece("Screen._compositor.visible_widgets", "where a band is and what is drawn over it",
          _attribute(Screen, "_compositor.visible_widgets", dict)),
    Piece("Screen._compositor._dirty_regions", "a band's scrollbars painted again after "
          "the move", _attribute(Screen, "_compositor._dirty_regions", set)),
    Piece("Compositor.update_widgets(widgets)", "a widget whose band moved meanwhile is "
          "painted whole", _lazy_method(_compositor, "update_widgets", ("widgets",))),
    Piece("Compositor.render_strips(size)", "the tests compare the terminal with the "
          "screen the app means (screen_rows)",
          _lazy_method(_compositor, "render_strips", ("size",))),
    Piece("Widget._repaint_required", "paint_now takes the widgets that asked for a repaint",
          _attribute(Widget, "_repaint_required", bool)),
    Piece("Widget._styles_cache._cache", "a view's finished lines by row, shifted with the "
          "band (scroll_band)", _attribute(Widget, "_styles_cache._cache", dict)),
    Piece("Widget._styles_cache._dirty_lines", "a view's rows to paint again, shifted with "
          "the band (scroll_band)", _attribute(Widget, "_styles_cache._dirty_lines", set)),
    Piece("Widget._scroll_update(virtual_size)", "a view's scrollbars without a layout "
          "pass (update_scrollbars)",
          _method(Widget, "_scroll_update", ("virtual_size",))),
    Piece("Footer._bindings_ready", "KeyFooter's bindings_changed (mark_bindings_ready)",
          _footer_bindings_ready),
    Piece("TextArea._theme", "the editor styles its theme only when it changed "
          "(text_area_theme)", _attribute(TextArea, "_theme", (TextAreaTheme, type(None)))),
    Piece("App._driver", "kitty image uploads written by the driver's writer thread, in "
          "order with frames (terminal_writer)", _driver_write),
    Piece("TextArea.render_lines(crop)", "the editor paints without re-styling its theme "
          "(render_lines_unthemed)", _text_area_render_lines),
)
