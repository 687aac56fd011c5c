"""The Textual application: for now, the host list."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from rtui import __version__
from rtui.core import locations
from rtui.core.config.model import Config
from rtui.core.config.store import HostStore
from rtui.core.errors import RtuiError

__all__ = ["RtuiApp", "run_tui"]


class RtuiApp(App[None]):
    """rtui's terminal UI."""

    TITLE = "rtui"
    SUB_TITLE = f"v{__version__}"
    CSS = """
    #problem { color: $error; padding: 0 1; height: auto; }
    #problem.-hidden { display: none; }
    DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("r", "reload", "Reload hosts", id="hosts.reload"),
    ]

    def __init__(self, store: HostStore) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="problem", classes="-hidden")
        yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#hosts", DataTable)
        table.add_columns("Name", "Address", "Jump", "Tags")
        self.action_reload()

    def action_reload(self) -> None:
        """Re-read the hosts file; a broken file is reported, never a traceback."""
        problem = self.query_one("#problem", Static)
        try:
            config = self.store.load()
        except RtuiError as exc:
            config = Config()
            problem.update(f"{exc}")
            problem.remove_class("-hidden")
        else:
            problem.add_class("-hidden")
        self._show_hosts(config)

    def _show_hosts(self, config: Config) -> None:
        table = self.query_one("#hosts", DataTable)
        table.clear()
        for host in config.hosts:
            table.add_row(host.name, host.address, ",".join(host.jump), ",".join(host.tags),
                          key=host.name)


def run_tui(*, config: str | None = None) -> int:
    RtuiApp(HostStore(locations.config_path(config))).run()
    return 0
