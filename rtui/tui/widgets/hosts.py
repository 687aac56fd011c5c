"""The host list: status at a glance, details of the selected host, filter as you type."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from rtui.core.config.model import Config, Host
from rtui.core.ssh.check import HostStatus
from rtui.tui.actions import ACTIONS, PRIMARY, HostAction, ListAction, action_by_id
from rtui.tui.widgets.host_kinds import jupyter_lines, server_label

__all__ = ["BADGES", "HostTable", "HostsPane", "badge_for"]

# badge -> (label, style). Styles use the 16 ANSI colour names so --ansi and tmux look right.
BADGES: dict[str, tuple[str, str]] = {
    "unknown": ("unknown", "dim"),
    "checking": ("checking…", "yellow"),
    "ok": ("ok", "bold green"),
    "auth": ("auth failed", "bold red"),
    "unreachable": ("unreachable", "red"),
    "timeout": ("unreachable", "red"),
    "not-ssh": ("not SSH", "red"),  # something else listens at the port
    "no-greeting": ("no SSH greeting", "red"),  # accepted, then silent or closed
    "host-key-changed": ("HOST KEY CHANGED", "bold reverse red"),
    "host-key-unknown": ("host key unknown", "yellow"),
    "host-key": ("host key refused", "red"),
    # A Jupyter server's or hub's (rtui.core.jupyter.errors): the details say which.
    "token": ("token", "bold red"),
    "tls": ("TLS problem", "red"),
    "spawn": ("start failed", "red"),
    "protocol": ("not Jupyter", "red"),
    "error": ("error", "red"),
}


def badge_for(status: HostStatus | None, checking: bool) -> str:
    if checking:
        return "checking"
    if status is None:
        return "unknown"
    if status.ok:
        return "ok"
    return status.error_kind or "error"


class FilterInput(Input):
    """The host filter: Enter keeps it and goes back to the table, Escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Clear filter", id="hosts.filter_clear"),
    ]

    def action_cancel(self) -> None:
        self.value = ""
        self.post_message(self.Submitted(self, self.value))


class HostTable(DataTable[Any]):
    """The host rows. Enter is bound here, not on the pane: the focused table's own Enter
    (select the row) would win, and the footer would not show the primary action."""

    BINDINGS: ClassVar[list[BindingType]] = [PRIMARY.binding()]

    def action_host_action(self, action_id: str) -> None:
        self.query_ancestor(HostsPane).action_host_action(action_id)


class HostsPane(Widget):
    """Shows the config and the latest check of each host; asks the app to act via messages."""

    DEFAULT_CSS = """
    HostsPane { layout: vertical; height: 1fr; }
    HostsPane #filter { dock: top; border: none; height: 1; padding: 0 1; }
    HostsPane #problem { color: $error; height: auto; padding: 0 1; }
    HostsPane #problem.-hidden { display: none; }
    HostsPane #body { height: 1fr; }
    HostsPane DataTable { width: 2fr; height: 1fr; }
    HostsPane #details { width: 1fr; min-width: 28; height: 1fr; padding: 0 1;
                         border-left: solid $primary-darken-2; }
    HostsPane.-narrow #details { display: none; }
    """
    # The table's keys but Enter (the primary action, which the table itself binds), and /.
    BINDINGS: ClassVar[list[BindingType]] = [
        *(action.binding() for action in ACTIONS if action is not PRIMARY),
        Binding("slash", "filter", "Filter", id="hosts.filter", show=False),  # see the filter
    ]

    @dataclass
    class ActionRequested(Message):
        """The person asked for ``action`` on ``host`` (None for a list action)."""

        action: HostAction | ListAction
        host: Host | None

    def __init__(self) -> None:
        super().__init__(id="hosts-pane")
        self.config = Config()
        # What is shown (the workspace holds the statuses; nothing reads these back).
        self.statuses: dict[str, HostStatus] = {}
        self.checking: set[str] = set()
        self.problem: str = ""

    def compose(self) -> ComposeResult:
        yield FilterInput(placeholder="/ filter by name, address or tag", id="filter")
        yield Static("", id="problem", classes="-hidden", markup=False)
        with Horizontal(id="body"):
            yield HostTable(id="hosts", cursor_type="row", zebra_stripes=True)
            with Vertical(id="details"):
                yield Static("", id="details-text")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Host", key="name")
        table.add_column("Status", key="status")
        table.add_column("Latency", key="latency")
        table.add_column("Python", key="python")
        table.add_column("Kernels", key="kernels")
        table.add_column("Address", key="address")
        table.focus()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")

    # -- data in -----------------------------------------------------------------------------

    def show_config(self, config: Config, problem: str = "") -> None:
        self.config = config
        self.problem = problem
        label = self.query_one("#problem", Static)
        label.update(problem)
        label.set_class(not problem, "-hidden")
        self._refill()

    def show_status(self, status: HostStatus) -> None:
        self.statuses[status.name] = status
        self.checking.discard(status.name)
        self._update_row(status.name)

    def show_kernel_count(self, name: str, kernels: int) -> None:
        """A new count of the host's live kernels, between checks (the workspace counts only
        when no check is under way)."""
        status = self.statuses.get(name)
        if status is None:
            return
        self.statuses[name] = dataclasses.replace(status, kernels=kernels)
        self._update_row(name)

    def show_checking(self, names: list[str]) -> None:
        self.checking.update(names)
        for name in names:
            self._update_row(name)

    @property
    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    # -- rendering ---------------------------------------------------------------------------

    def _visible(self) -> list[Host]:
        text = self.query_one("#filter", Input).value.strip().lower()
        if not text:
            return list(self.config.hosts)
        return [h for h in self.config.hosts
                if text in " ".join([h.name, h.address, *h.tags, h.note]).lower()]

    def _cells(self, host: Host) -> list[Text | str]:
        status = self.statuses.get(host.name)
        label, style = BADGES.get(badge_for(status, host.name in self.checking), BADGES["error"])
        latency = f"{status.ssh_ms:.0f} ms" if status and status.ssh_ms is not None else ""
        if status and status.rtt_ms is not None:
            latency = f"{status.rtt_ms:.0f} ms"
        python = ""
        if host.jupyter is not None:  # where an SSH host's Python is: the server's version
            python = server_label(host, status)
        elif status and status.pythons:
            best = next((p for p in status.pythons if p.ipykernel), status.pythons[0])
            python = f"{best.version}{' +ipyk' if best.ipykernel else ''}"
        elif status and status.ok and status.failed_step is None:
            python = "none"
        kernels = str(status.kernels) if status and status.ok else ""
        return [host.name, Text(label, style=style), latency, python, kernels, host.address]

    def _refill(self) -> None:
        table = self.query_one(DataTable)
        selected = self.selected
        table.clear()
        for host in self._visible():
            table.add_row(*self._cells(host), key=host.name)
        if selected is not None:
            for index, host in enumerate(self._visible()):
                if host.name == selected:
                    table.move_cursor(row=index)
        self._show_details()

    def _update_row(self, name: str) -> None:
        host = self.config.get(name)
        table = self.query_one(DataTable)
        if host is None or name not in table.rows:
            return
        for column, value in zip(
            ("name", "status", "latency", "python", "kernels", "address"), self._cells(host),
            strict=True,
        ):
            table.update_cell(name, column, value, update_width=True)
        if name == self.selected:
            self._show_details()

    def _show_details(self) -> None:
        name = self.selected
        text = self.query_one("#details-text", Static)
        host = self.config.get(name) if name else None
        if host is None:
            text.update("No hosts yet: press a to add one, i to import ~/.ssh/config."
                        if not self.config.hosts else "")
            return
        lines = [f"[b]{host.name}[/b]", host.address]
        if host.jump:
            lines.append(f"via {' → '.join(host.jump)}")
        if host.tags:
            lines.append("tags: " + ", ".join(host.tags))
        if host.note:
            lines.append(host.note)
        if host.jupyter is not None:
            lines.extend(jupyter_lines(host, self.statuses.get(host.name)))
            text.update("\n".join(lines))
            return
        if host.slurm is not None:  # j is not in the footer (80 columns): said here
            from rich.markup import escape

            lines.append(f"SLURM login node ({escape(host.slurm.summary())}): "
                         "j starts a console as a job")
        status = self.statuses.get(host.name)
        if status is not None:
            lines.append("")
            if status.ok:
                timings = [f"tcp {status.tcp_ms:.0f} ms"] if status.tcp_ms is not None else []
                timings.append(f"ssh {status.ssh_ms:.0f} ms" if status.ssh_ms is not None
                               else "ssh connected")
                if status.rtt_ms:
                    timings.append(f"rtt {status.rtt_ms:.0f} ms")
                lines.append(" · ".join(timings))
                if status.os:
                    lines.append(f"{status.os} {status.arch or ''}")
                for p in status.pythons:
                    lines.append(f"{p.path} {p.version}"
                                 + (" [green]ipykernel[/]" if p.ipykernel else ""))
                lines.append(f"kernels running: {status.kernels}")
            if status.error:
                from rich.markup import escape

                lines.append(f"[red]{escape(status.error)}[/]")
        text.update("\n".join(lines))

    # -- events ------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._refill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowHighlighted)
    def _row_moved(self) -> None:
        self._show_details()

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        """A click on the selected row: the primary action, as Enter."""
        event.stop()
        self.action_host_action(PRIMARY.id)

    def action_host_action(self, action_id: str) -> None:
        action = action_by_id(action_id)
        name = self.selected
        host = self.config.get(name) if name is not None else None
        if isinstance(action, HostAction) and host is None:
            self.notify("No host selected", severity="warning")
            return
        self.post_message(self.ActionRequested(action, host))

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()
