"""One variable's value, full screen: a table (arrays, DataFrames) or its repr, paged."""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static, TextArea

from rtui.core.kernels.namespace import ValueView
from rtui.tui.keys import keys_hint

__all__ = ["ValueScreen"]


def _left_out(value: ValueView) -> bool:
    """Whether the table shows less than the whole value (its shape says how much it has)."""
    try:
        shape = ast.literal_eval(value.size)
    except (ValueError, SyntaxError):
        return True
    if not isinstance(shape, tuple) or not shape:
        return True
    columns = shape[-1] if len(shape) > 1 else 1
    return len(shape) > 2 or shape[0] > len(value.rows) or columns > len(value.columns)


def describe(value: ValueView) -> str:
    """The title line: name, type, shape or length, and what was left out."""
    parts = [value.name, value.type]
    if value.size:
        parts.append(f"shape {value.size}" if value.size.startswith("(") else
                     f"length {value.size}")
    if value.rows and _left_out(value):
        parts.append(f"first {len(value.rows)} rows, {len(value.columns)} columns shown")
    if value.cut:
        parts.append("its text was cut")
    if value.note:
        parts.append(value.note.strip(" ()"))
    return " · ".join(p for p in parts if p)


class ValueScreen(Screen[None]):
    """Esc goes back; PageUp/PageDown, Home/End page through it."""

    DEFAULT_CSS = """
    ValueScreen { layout: vertical; }
    ValueScreen #value-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    ValueScreen #value-body { height: 1fr; }
    ValueScreen #value-keys { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="value.back"),
    ]

    def __init__(self, value: ValueView) -> None:
        super().__init__()
        self.value = value

    def compose(self) -> ComposeResult:
        value = self.value
        yield Static(Text(describe(value)), id="value-title")
        if value.rows or value.columns:
            table: DataTable[str | Text] = DataTable(id="value-body", zebra_stripes=True)
            table.add_column("", key="index")
            for column in value.columns:
                table.add_column(column)
            for name, row in zip(value.index or [""] * len(value.rows), value.rows,
                                 strict=False):
                table.add_row(Text(name, style="dim"), *row)
            yield table
        else:
            yield TextArea(value.text or "", read_only=True, soft_wrap=False,
                           show_line_numbers=False, id="value-body")
        yield Static(keys_hint(self.BINDINGS, "pageup/pagedown page"), id="value-keys")

    def on_mount(self) -> None:
        self.query_one("#value-body").focus()

    def action_back(self) -> None:
        self.dismiss(None)

    def body_text(self) -> str:
        """What the body shows, as text (for tests and screen readers)."""
        body: Any = self.query_one("#value-body")
        if isinstance(body, TextArea):
            return body.text
        return "\n".join(" ".join(str(c) for c in body.get_row_at(i))
                         for i in range(body.row_count))
