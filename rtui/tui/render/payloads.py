"""Escape sequences (sixel and iTerm2 pictures) carried through Textual's compositor as a
one-cell mark, and put in each frame as it is written.

Textual cuts a line where another widget starts on it (a scrollbar, a dialog) by counting
every character of a segment's text as a cell: Rich's control flag, which would count an
escape sequence as no cells, is dropped by Textual's own line filter (ANSIToTruecolor). A
picture's sequence in a strip would be cut in two, and half a DCS swallows what follows.
So a painter puts ``carry(sequence)`` in its strip: one character of Unicode's private-use
plane 16 (below kitty's U+10EEEE), one cell, never cut; ``ScrollingApp`` puts the sequence in
its place in the frame. A mark whose sequence was dropped (more than ``_KEEP_BYTES`` kept)
becomes a blank.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from rich.console import Console, RenderableType
from textual._compositor import CompositorUpdate

__all__ = ["CarriedUpdate", "carry", "substitute"]

_FIRST, _LAST = 0x100000, 0x10EEED
_MARKS = re.compile("[\U00100000-\U0010eeed]")
_KEEP_BYTES = 64 << 20  # sequences kept for marks still cached in views

_lock = threading.Lock()
_payloads: OrderedDict[str, str] = OrderedDict()
_kept = 0
_next = _FIRST


def carry(sequence: str) -> str:
    """A one-cell mark that is written as ``sequence`` (any thread)."""
    global _next, _kept
    with _lock:
        mark = chr(_next)
        _next = _FIRST if _next >= _LAST else _next + 1
        old = _payloads.pop(mark, None)
        _kept += len(sequence) - (len(old) if old is not None else 0)
        _payloads[mark] = sequence
        while _kept > _KEEP_BYTES and len(_payloads) > 1:
            _kept -= len(_payloads.popitem(last=False)[1])
        return mark


def substitute(frame: str) -> str:
    """``frame`` with each mark replaced by its sequence (a blank if it is gone)."""
    if not _payloads or _MARKS.search(frame) is None:
        return frame
    with _lock:
        return _MARKS.sub(lambda found: _payloads.get(found.group(0), " "), frame)


class CarriedUpdate(CompositorUpdate):
    """A compositor update whose marks are written as the sequences they carry."""

    def __init__(self, update: CompositorUpdate) -> None:
        self.update = update

    @classmethod
    def wrap(cls, renderable: RenderableType | None) -> RenderableType | None:
        if _payloads and isinstance(renderable, CompositorUpdate):
            return cls(renderable)
        return renderable

    def render_segments(self, console: Console) -> str:
        return substitute(self.update.render_segments(console))
