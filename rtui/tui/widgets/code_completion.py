"""Tab in the console's editor: the kernel's answer inserted as the one match or the common
prefix, or offered in the popup and narrowed as the user goes on typing.

Offsets are the kernel's: into the editor's text as one string, ``\\n`` between lines.
"""

from __future__ import annotations

from textual.widgets import TextArea
from textual.widgets.text_area import Location

from rtui.core.console.python_input import common_prefix
from rtui.tui.widgets.assist_popup import AssistPopup

__all__ = ["CompletionMenu", "code_and_cursor", "open_completion", "replace_offsets"]


def code_and_cursor(area: TextArea) -> tuple[str, int]:
    """``area``'s text and the cursor's offset into it."""
    lines = area.document.lines
    row, column = area.cursor_location
    offset = sum(len(line) + 1 for line in lines[:row]) + column
    return "\n".join(lines), offset


def _location(area: TextArea, offset: int) -> Location:
    for row, line in enumerate(area.document.lines):
        if offset <= len(line):
            return (row, max(offset, 0))
        offset -= len(line) + 1
    return area.document.end


def replace_offsets(area: TextArea, start: int, end: int, text: str) -> None:
    """Put ``text`` in place of ``area``'s text from ``start`` to ``end``, the cursor after it."""
    area.replace(text, _location(area, start), _location(area, end),
                 maintain_selection_offset=False)


class CompletionMenu:
    """An open completion menu: what it replaces and what it offers."""

    def __init__(self, popup: AssistPopup, matches: list[str], start: int, end_extra: int,
                 head: str, typed: str) -> None:
        self.popup = popup
        self.matches = matches
        self.start = start  # offset where the replaced text begins
        self.end_extra = end_extra  # how far the replaced text reached past the cursor
        self.head = head  # the text before ``start`` when the menu opened
        self.typed = typed  # the text between ``start`` and the cursor when the menu opened
        self.shown: list[str] = []

    def narrow(self, code: str, cursor: int) -> bool:
        """Show what still matches the text typed since ``start``; False when nothing does
        or the cursor left the completed word (the menu is done)."""
        if cursor < self.start or not code.startswith(self.head):
            return False
        typed = code[self.start:cursor]
        if typed == self.typed:
            shown = self.matches  # as the kernel sent them, fuzzy matches included
        else:
            shown = [m for m in self.matches if m.startswith(typed)]
        if not shown:
            return False
        if shown != self.shown:
            self.shown = shown
            self.popup.show(shown, anchor=cursor - self.start, title=None)
        return True

    def accept(self, area: TextArea, index: int) -> None:
        """Put item ``index`` in place of the completed word."""
        if index < len(self.shown):
            _code, cursor = code_and_cursor(area)
            replace_offsets(area, self.start, cursor + self.end_extra, self.shown[index])


def open_completion(area: TextArea, popup: AssistPopup, code: str, cursor: int,
                    answer: tuple[list[str], int, int]) -> CompletionMenu | None:
    """Apply the kernel's ``(matches, start, end)`` for ``code`` at ``cursor``: insert the
    one match, or the matches' common prefix and return the menu offering them."""
    matches, start, end = answer
    matches = list(dict.fromkeys(m for m in matches if isinstance(m, str)))
    start = max(0, min(start, cursor))
    end = max(cursor, min(end, len(code)))
    if not matches:
        return None
    if len(matches) == 1:
        replace_offsets(area, start, end, matches[0])
        return None
    typed = code[start:cursor]
    prefix = common_prefix(matches)
    if len(prefix) > len(typed) and prefix.startswith(typed):
        replace_offsets(area, start, end, prefix)
        end = start + len(prefix)
        code, cursor = code_and_cursor(area)
    return CompletionMenu(popup, matches, start, end - cursor, code[:start], code[start:cursor])
