"""The help screen: every key, from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from rtui.tui.keys import key_rows, keys_hint

__all__ = ["KEY_WIDTH", "HelpScreen", "wrap_keys"]

# The key column's width: a binding with many keys takes two lines rather than most of the
# screen, so that the actions are read whole at 80 columns.
KEY_WIDTH = 24


def wrap_keys(keys: str, width: int = KEY_WIDTH) -> list[str]:
    """``"a / b / c"`` as lines of at most ``width``, a line that more keys follow ending
    with ``/``."""
    names = keys.split(" / ")
    lines: list[str] = []
    for index, name in enumerate(names):
        slash = 0 if index == len(names) - 1 else len(" /")
        if lines and len(lines[-1]) + len(" / ") + len(name) + slash <= width:
            lines[-1] += f" / {name}"
        elif lines:
            lines[-1] += " /"
            lines.append(name)
        else:
            lines.append(name)
    return lines


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90; max-width: 100%; height: 100%; border: thick $accent;
                            background: $surface; }
    HelpScreen DataTable { height: 1fr; }
    HelpScreen Label { padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "close", "Close help", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Label(keys_hint(self.BINDINGS) + " · ctrl+p command palette", id="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Where")
        table.add_column("Key", width=KEY_WIDTH)
        table.add_column("Action")
        for row in key_rows():
            keys = wrap_keys(row.keys)
            table.add_row(row.section, Text("\n".join(keys)), row.description, height=len(keys))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
