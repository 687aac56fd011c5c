"""The Textual internals rtui.tui.render relies on are there, with the shape it expects.

A Textual release may change any private piece without notice; this fails loudly, naming the
installed version and the piece, before a user meets a broken screen. The pieces are listed
next to the code that uses them (rtui.tui.render.compat.RELIED_ON).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from typing import Any

import pytest
import textual
from textual._styles_cache import StylesCache
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

import rtui.tui
from rtui.tui.render import compat
from rtui.tui.render.compat import RELIED_ON, Piece


@pytest.mark.parametrize("piece", RELIED_ON, ids=[p.name for p in RELIED_ON])
def test_textual_still_has_the_piece_render_relies_on(piece: Piece) -> None:
    wrong = piece.check()
    assert wrong is None, (
        f"Textual {textual.__version__} changed a private piece rtui.tui.render relies on: "
        f"{piece.name} {wrong} (used for: {piece.used_for}). Adapt rtui/tui/render/ to this "
        "release, or keep Textual below it in pyproject.toml.")


def test_a_missing_method_is_named_with_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Screen, "_on_timer_update")
    [problem] = compat.problems()
    assert problem.startswith(f"Textual {textual.__version__}: Screen._on_timer_update()")
    assert "is missing" in problem and "paint_now" in problem


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def _scroll_update(self: Widget, size: Any, animate: bool) -> None: ...

    monkeypatch.setattr(Widget, "_scroll_update", _scroll_update)
    [problem] = compat.problems()
    assert "Widget._scroll_update(virtual_size) takes (size, animate), " \
           "expected (virtual_size)" in problem


def test_a_missing_instance_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    original = StylesCache.__init__

    def init(self: StylesCache) -> None:
        original(self)
        del self._dirty_lines

    monkeypatch.setattr(StylesCache, "__init__", init)
    [problem] = compat.problems()
    assert "Widget._styles_cache._dirty_lines is missing" in problem


def test_a_changed_body_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def bindings_changed(self: Footer, screen: Screen[Any]) -> None:
        self.refresh()

    monkeypatch.setattr(Footer, "bindings_changed", bindings_changed)
    [problem] = compat.problems()
    assert problem.startswith(f"Textual {textual.__version__}: Footer._bindings_ready")


def test_only_render_reaches_into_textual() -> None:
    """Outside rtui/tui/render no module imports a private Textual module, and no class
    built on a Textual one touches or overrides a private name of its Textual bases."""
    found = []
    for info in pkgutil.walk_packages(rtui.tui.__path__, "rtui.tui."):
        if info.name.startswith("rtui.tui.render"):
            continue
        module = importlib.import_module(info.name)
        source = inspect.getsource(module)
        found += [f"{info.name} imports {name}" for name in re.findall(
            r"^\s*(?:from|import) (textual(?:\.\w+)*\._\w+)", source, re.M)]
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
                continue
            bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] == "textual"]
            used = set(re.findall(r"(?:self|super\(\))\.(_[a-z]\w*)|def (_[a-z]\w*)",
                                  inspect.getsource(cls)))
            for attr in {a or b for a, b in used}:
                if any(_defines(base, attr) for base in bases):
                    found.append(f"{info.name}.{name} uses Textual's {attr}")
    assert not found, "private Textual API outside rtui.tui.render: " + "; ".join(found)


def _defines(base: type, attr: str) -> bool:
    """``base`` (a Textual class) has ``attr``: in its class, or set on its instances."""
    return attr in vars(base) or attr in _instance_attributes(base)


@functools.cache
def _instance_attributes(base: type) -> frozenset[str]:
    try:
        source = inspect.getsource(base)
    except (OSError, TypeError):
        return frozenset()
    return frozenset(re.findall(r"self\.(_\w+)\s*[:=]", source))
