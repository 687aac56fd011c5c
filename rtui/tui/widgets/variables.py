"""A console's variables: name, type, size or shape, a short value; refreshed after each cell.

It sits at the console's right; on a narrow terminal (a console under ``FULL_BELOW`` columns)
it takes the console's width while shown. The kernel's side is
:class:`rtui.core.kernels.namespace.Namespace`: this widget only shows its views and asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from rtui.core.errors import RtuiError
from rtui.core.kernels.namespace import Namespace, NamespaceView
from rtui.tui.prompter import ask
from rtui.tui.screens.prompts import ConfirmScreen

if TYPE_CHECKING:
    from rtui.core.kernels.events import ExecuteReply
    from rtui.core.kernels.records import RemoteKernel

__all__ = ["FULL_BELOW", "VariablesFilter", "VariablesPane", "VariablesTable"]

FULL_BELOW = 100
"""A console narrower than this many columns gives the whole width to the variables."""

_FILTER_DELAY = 0.15  # seconds of no typing before the filter is sent to the kernel


class VariablesTable(DataTable[str | Text]):
    """The rows; Enter views a value, delete deletes it, ``/`` filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "view", "View value", id="variables.view"),
        Binding("delete", "delete", "Delete variable", id="variables.delete"),
        Binding("slash", "filter", "Filter", id="variables.filter"),
        Binding("r", "refresh", "Refresh", id="variables.refresh", show=False),
        Binding("escape", "leave", "Back to the console", id="variables.leave"),
    ]

    @dataclass
    class Asked(Message):
        """One of the table's keys, for the pane to act on (``name``: the row's)."""

        what: str
        name: str | None

    def _ask(self, what: str) -> None:
        name = None
        if self.row_count and self.cursor_row >= 0:
            name = str(self.get_row_at(self.cursor_row)[0])
        self.post_message(self.Asked(what, name))

    def action_view(self) -> None:
        self._ask("view")

    def action_delete(self) -> None:
        self._ask("delete")

    def action_filter(self) -> None:
        self._ask("filter")

    def action_refresh(self) -> None:
        self._ask("refresh")

    def action_leave(self) -> None:
        self._ask("leave")


class VariablesFilter(Input):
    """The filter: a substring, or a glob such as ``df*``; Enter keeps it, Escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="variables.clear_filter"),
        Binding("down", "to_table", "Back to the list", id="variables.to_table", show=False),
    ]

    def action_clear_filter(self) -> None:
        self.value = ""
        self.action_to_table()

    def action_to_table(self) -> None:
        """Back to the rows; an empty filter line goes out of sight."""
        self.set_class(not self.value, "-hidden")
        if self.parent is not None:
            self.parent.query_one(VariablesTable).focus()


class VariablesPane(Widget):
    """The variables of its console's kernel while shown; nothing asked of it while hidden."""

    SCOPED_CSS = False  # it also hides its console's output and editor when it takes the tab
    DEFAULT_CSS = """
    VariablesPane { display: none; dock: right; width: 45%; min-width: 40; height: 100%;
                    border-left: solid $accent; }
    ConsolePane.-variables VariablesPane { display: block; }
    ConsolePane.-variables.-variables-full VariablesPane { dock: none; width: 100%;
                                                           height: 1fr; border-left: none; }
    ConsolePane.-variables.-variables-full #output,
    ConsolePane.-variables.-variables-full #code,
    ConsolePane.-variables.-variables-full #inspect { display: none; }
    VariablesPane #variables-head { height: 1; background: $panel; padding: 0 1; }
    VariablesPane VariablesFilter, VariablesPane VariablesFilter:focus {
        height: 1; border: none; padding: 0 1; }
    VariablesPane VariablesFilter.-hidden { display: none; }
    VariablesPane VariablesTable { height: 1fr; }
    """

    class Left(Message):
        """Escape in the rows: back to the console (the pane hides if it took the tab)."""

    def __init__(self) -> None:
        super().__init__(id="variables")
        self.namespace: Namespace | None = None
        self._kernel: RemoteKernel | None = None
        self._filter_timer: Timer | None = None
        self.note = ""
        """The last thing said in the head line besides the counts (an error, a wait)."""

    def compose(self) -> ComposeResult:
        yield Static("Variables", id="variables-head")
        yield VariablesFilter(placeholder="filter: a name part or a glob (df*)",
                              classes="-hidden", id="variables-filter")
        table = VariablesTable(id="variables-table", cursor_type="row", zebra_stripes=True)
        table.add_column("Name", key="name")
        table.add_column("Type", key="type")
        table.add_column("Size", key="size")
        table.add_column("Value", key="value")
        yield table

    @property
    def shown(self) -> bool:
        return self.parent is not None and self.parent.has_class("-variables")

    # -- the console's calls -----------------------------------------------------------------

    def attach(self, kernel: RemoteKernel) -> Namespace:
        """The console's kernel (again, after a reconnect): its namespace, made once."""
        if self.namespace is None or self._kernel is not kernel:
            if self.namespace is not None:
                self.namespace.close()
            self._kernel = kernel
            # A kernel rtui did not start may be a spyder one all the same: asked then.
            self.namespace = Namespace(kernel.session,
                                       spyder=True if kernel.kind == "spyder" else None,
                                       on_view=self._show_view)
        return self.namespace

    def cell_expressions(self) -> dict[str, str] | None:
        """What a cell sent now carries for the view (None: nothing, hidden or spyder)."""
        return self.namespace.cell_expressions() if self.namespace is not None else None

    def cell_ended(self, reply: ExecuteReply) -> None:
        if self.namespace is not None and self.namespace.cell_ended(reply):
            self.refresh_view()

    def restarted(self) -> None:
        """A new kernel process: its (empty) namespace shown now, if shown at all; a spyder
        kernel's comm went with the old process and is opened again."""
        if self.namespace is not None and self.namespace.on:
            self.namespace.close()
            self.show_namespace()

    def fit(self, width: int) -> None:
        """The console's width: under FULL_BELOW columns the pane takes it all (and the
        focus, if the editor it hides had it)."""
        parent = self.parent
        if parent is None:
            return
        full = width < FULL_BELOW
        parent.set_class(full, "-variables-full")
        if full and self.shown and not self.has_focus_within:
            self.query_one(VariablesTable).focus()

    def toggle(self, kernel: RemoteKernel | None) -> None:
        """Show it (and go to it); from inside it, hide it; shown beside a console whose
        editor has the focus: go to it."""
        parent = self.parent
        if parent is None:
            return
        if self.shown and not self.has_focus_within:
            self.query_one(VariablesTable).focus()
            return
        if self.shown:
            parent.remove_class("-variables")
            if self.namespace is not None:
                self.namespace.hide()
            return
        if isinstance(parent, Widget):
            self.fit(parent.size.width)
        parent.add_class("-variables")
        self.query_one(VariablesTable).focus()
        if kernel is None:
            self._head("the kernel is still starting")
            return
        self.attach(kernel)
        self.show_namespace()

    def on_unmount(self) -> None:
        if self.namespace is not None:
            self.namespace.close()  # its comm, if any: closed with the console

    # -- views -------------------------------------------------------------------------------

    def _head(self, note: str = "") -> None:
        self.note = note
        view = self.namespace.view if self.namespace is not None else None
        text = Text("Variables", style="bold")
        if view is not None:
            text.append(f" · {view.total}")
            if view.more:
                text.append(f" ({len(view.variables)} shown, {view.more} more)", style="dim")
            if view.pattern:
                text.append(f" · filter {view.pattern!r}", style="cyan")
            text.append(f" · {view.via}", style="dim")
        if note:
            text.append(f" · {note}", style="yellow")
        self.query_one("#variables-head", Static).update(text)

    def _show_view(self, view: NamespaceView) -> None:
        if not self.is_mounted:
            return
        table = self.query_one(VariablesTable)
        current = None
        if table.row_count and table.cursor_row >= 0:
            current = str(table.get_row_at(table.cursor_row)[0])
        table.clear()
        for variable in view.variables:
            table.add_row(variable.name, Text(variable.type, style="cyan"),
                          variable.size, Text(variable.value, no_wrap=True,
                                              overflow="ellipsis"), key=variable.name)
        if current is not None and current in {v.name for v in view.variables}:
            table.move_cursor(row=table.get_row_index(current))
        self._head()

    def names(self) -> list[str]:
        """The names listed now, in order."""
        table = self.query_one(VariablesTable)
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

    # -- workers: every wait bounded (the Namespace's), a failure said in the head line ----

    @work(group="variables", exclusive=True, exit_on_error=False)
    async def show_namespace(self) -> None:
        if self.namespace is None:
            return
        self._head("asking the kernel…")
        try:
            await self.namespace.show()
        except RtuiError as exc:
            self._head(str(exc))

    @work(group="variables", exclusive=True, exit_on_error=False)
    async def refresh_view(self) -> None:
        if self.namespace is None or not self.namespace.on:
            return
        try:
            await self.namespace.refresh()
        except RtuiError as exc:
            self._head(str(exc))

    @work(group="variables-filter", exclusive=True, exit_on_error=False)
    async def apply_filter(self, pattern: str) -> None:
        if self.namespace is None:
            return
        try:
            await self.namespace.set_pattern(pattern)
        except RtuiError as exc:
            self._head(str(exc))

    @work(group="variables-value", exclusive=True, exit_on_error=False)
    async def view_value(self, name: str) -> None:
        if self.namespace is None:
            return
        from rtui.tui.screens.value_view import ValueScreen

        self._head(f"reading {name}…")
        try:
            value = await self.namespace.value(name)
        except RtuiError as exc:
            self._head(str(exc))
            return
        if value.missing:
            self._head(f"{name} is gone")
            self.refresh_view()
            return
        self._head()
        await ask(self.app, ValueScreen(value))
        self.query_one(VariablesTable).focus()

    @work(group="variables-delete", exclusive=True, exit_on_error=False)
    async def delete_variable(self, name: str) -> None:
        if self.namespace is None:
            return
        if not await ask(self.app, ConfirmScreen(
                "Delete variable", f"Delete {name} from the kernel's namespace?")):
            self.query_one(VariablesTable).focus()
            return
        self.query_one(VariablesTable).focus()
        try:
            await self.namespace.delete(name)
        except RtuiError as exc:
            self._head(str(exc))
            return
        self._head(f"deleted {name}")

    # -- keys --------------------------------------------------------------------------------

    @on(VariablesTable.Asked)
    def _asked(self, message: VariablesTable.Asked) -> None:
        message.stop()
        if message.what == "filter":
            box = self.query_one(VariablesFilter)
            box.remove_class("-hidden")
            box.focus()
        elif message.what == "refresh":
            self.refresh_view()
        elif message.what == "leave":
            self.post_message(self.Left())
        elif message.name is None:
            return
        elif message.what == "view":
            self.view_value(message.name)
        elif message.what == "delete":
            self.delete_variable(message.name)

    @on(VariablesFilter.Changed)
    def _filter_changed(self, message: Input.Changed) -> None:
        message.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        pattern = message.value.strip()
        self._filter_timer = self.set_timer(_FILTER_DELAY, lambda: self.apply_filter(pattern))

    @on(VariablesFilter.Submitted)
    def _filter_submitted(self, message: Input.Submitted) -> None:
        message.stop()
        self.query_one(VariablesFilter).action_to_table()
