"""The help screen: every key, from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from rtui.tui.keys import key_rows

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90; max-width: 100%; height: 90%; border: thick $accent;
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
            yield Label("Escape closes · ctrl+p opens the command palette")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Where", "Key", "Action")
        for row in key_rows():
            table.add_row(row.section, row.keys, row.description)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
