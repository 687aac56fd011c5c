"""The list that floats at the console editor's cursor: completion matches or history hits.

A widget of its own that never takes the focus: the editor keeps it and drives the list (show,
move the highlight, hide); a click on an item is handed back to the editor to accept.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.geometry import Offset
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

__all__ = ["AssistPopup"]


class AssistPopup(OptionList, can_focus=False):
    """The completion / history-search list of one editor, placed at its cursor."""

    DEFAULT_CSS = """
    AssistPopup {
        overlay: screen;
        constrain: inside inside;
        display: none;
        width: auto;
        min-width: 16;
        max-width: 64;
        height: auto;
        max-height: 10;
        border: round $border;
        background: $panel;
        padding: 0;
        & > .option-list--option { padding: 0 1; }
        &.-search { min-width: 40; }
    }
    """

    def __init__(self, editor: TextArea, *, on_choose: Callable[[int], None],
                 max_rows: int) -> None:
        super().__init__(markup=False, id=f"{editor.id}-popup" if editor.id else None)
        self.editor = editor
        self.choose = on_choose  # called with the index of an item clicked
        self.max_rows = max_rows

    def show(self, items: list[str], *, anchor: int | None, title: str | None,
             empty: str | None = None, search: bool = False) -> None:
        """List ``items`` (``empty`` in italics when there are none) at the editor's cursor.

        ``anchor``: how many columns left of the cursor the items' text starts (the part
        typed already), None to align with the editor's left edge. Below the cursor if the
        screen has room for it, else above.
        """
        editor = self.editor
        if not self.is_attached:
            editor.screen.mount(self)
        options: list[Option] = [Option(Text(self.label(item))) for item in items]
        if not options and empty is not None:
            options = [Option(Text(empty, style="italic"), disabled=True)]
        self.set_options(options)
        self.border_title = title
        self.set_class(search, "-search")
        self.highlighted = 0 if items else None
        rows = min(len(options), self.max_rows) + self.styles.gutter.height
        cursor_x, cursor_y = editor.cursor_screen_offset
        x = cursor_x - anchor - 2 if anchor is not None else editor.region.x
        screen_height = editor.screen.size.height
        y = cursor_y + 1 if cursor_y + 1 + rows <= screen_height else cursor_y - rows
        self.absolute_offset = Offset(max(0, x), max(0, y))
        self.display = True
        self.refresh(layout=True)

    @staticmethod
    def label(item: str) -> str:
        """An item's first line, with `` …`` when it has more."""
        first, newline, _rest = item.partition("\n")
        return first + (" …" if newline else "")

    def move(self, step: int) -> None:
        """Move the highlight ``step`` items down (up when negative), wrapping around."""
        if not self.option_count or self.highlighted is None:
            return
        self.highlighted = (self.highlighted + step) % self.option_count

    def hide(self) -> None:
        if self.display:
            self.display = False

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.choose(event.option_index)
