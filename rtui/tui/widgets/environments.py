"""A host's Python environments: the table (name, kind, Python, ipykernel, size, made by
rtui), the packages of one, the progress of the running action, and the keys: those that
change an environment are :class:`EnvironmentActions`' (``env_actions``), a part of this pane.

The remote work runs in this pane's workers (they die with the tab); one long action at a
time, whose progress streams into the panel at the bottom and which Escape cancels
(cancelling the worker cancels the core's call, which cancels the agent's request: a create
leaves nothing behind). Workers post messages; the widgets change only in their handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Log, Static
from textual.worker import Worker, WorkerState

from rtui.core.envs import Package
from rtui.core.errors import RtuiError
from rtui.core.kernels.records import Environment
from rtui.core.units import byte_size
from rtui.tui.widgets.env_actions import EnvironmentActions

if TYPE_CHECKING:
    from rtui.core.envs import HostEnvironments
    from rtui.core.workspace import Workspace

__all__ = ["EnvTable", "EnvironmentsPane", "kernel_cell"]

_PROGRESS_LINES = 300  # lines the progress panel keeps (an install prints thousands)
_UNFINISHED_RELISTS = 10  # listings, 1 s apart, while a cancelled create is being removed


def kernel_cell(env: Environment) -> Text:
    """The kernel column (ipykernel's version, ``+spyder`` with spyder-kernels), or why the
    environment cannot run a kernel."""
    if env.error:
        word = "unfinished" if env.error.startswith("unfinished") else "broken"
        return Text(word, style="bold red")
    if not env.ipykernel and not env.spyder_kernels:
        return Text("none", style="dim")
    parts = [env.ipykernel] if env.ipykernel else ["spyder only"]
    if env.spyder_kernels:
        parts.append("+spyder")
    return Text(" ".join(parts))


class EnvTable(DataTable[Any]):
    """The environments, one row each. Enter is bound here, not on the pane: the table's own
    Enter (select the row) would win, and the footer would not show it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,p", "packages", "Packages", id="envs.packages"),
    ]

    def action_packages(self) -> None:
        self.query_ancestor(EnvironmentsPane).action_packages()


class EnvironmentsPane(EnvironmentActions):
    """The environments of one host."""

    DEFAULT_CSS = """
    EnvironmentsPane { layout: vertical; height: 1fr; }
    EnvironmentsPane #envs-title { height: 1; background: $panel; padding: 0 1;
                                   text-style: bold; }
    EnvironmentsPane #envs-body { height: 1fr; }
    EnvironmentsPane EnvTable { width: 1fr; height: 1fr; }
    EnvironmentsPane #envs-packages { width: 45%; height: 1fr;
                                      border-left: solid $primary-darken-2; }
    EnvironmentsPane #envs-packages.-hidden { display: none; }
    EnvironmentsPane #envs-packages Label { padding: 0 1; text-style: bold; }
    EnvironmentsPane #envs-packages DataTable { height: 1fr; }
    EnvironmentsPane #envs-progress { height: 8; border-top: solid $primary-darken-2; }
    EnvironmentsPane #envs-progress.-hidden { display: none; }
    EnvironmentsPane #envs-progress Label { padding: 0 1; text-style: bold; width: 100%; }
    EnvironmentsPane #envs-progress Log { height: 1fr; padding: 0 1; }
    EnvironmentsPane #envs-status { height: 1; background: $panel; color: $text-muted;
                                    padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "create", "New", id="envs.create"),
        Binding("i", "change('install')", "Install", id="envs.install"),
        Binding("u", "change('uninstall')", "Uninstall", id="envs.uninstall", show=False),
        Binding("U", "change('upgrade')", "Upgrade", id="envs.upgrade", show=False),
        Binding("x", "export", "Export", id="envs.export", show=False),
        Binding("d,delete", "remove", "Remove", id="envs.remove", show=False),
        Binding("D", "default", "Set as the host's Python", id="envs.default", show=False),
        Binding("c", "console", "Console", id="envs.console"),
        Binding("r", "refresh", "Refresh", id="envs.refresh", show=False),
        Binding("escape", "cancel", "Cancel / hide", id="envs.cancel"),
        Binding("f4", "close_envs", "Close", id="envs.close", show=False),
    ]

    @dataclass
    class CloseRequested(Message):
        pane: EnvironmentsPane

    @dataclass
    class ConsoleRequested(Message):
        """``c``: a console on ``host`` in the environment of ``python``."""

        host: str
        python: str

    @dataclass
    class _Listed(Message):
        envs: list[Environment]
        uv: str | None
        uv_version: str | None

    @dataclass
    class _Packages(Message):
        env: Environment
        packages: list[Package]

    def __init__(self, envs: HostEnvironments, workspace: Workspace, host: str) -> None:
        super().__init__()
        self.envs = envs
        self.workspace = workspace
        self.host = host
        self.listed: list[Environment] = []
        self.uv: str | None = None  # the host's uv, once asked
        self.packages_of: Environment | None = None  # whose packages the panel shows
        self._relists = 0

    def compose(self) -> ComposeResult:
        yield Static(f"{self.host}: environments", id="envs-title", markup=False)
        with Horizontal(id="envs-body"):
            yield EnvTable(id="envs-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="envs-packages", classes="-hidden"):
                yield Label("", id="packages-title", markup=False)
                yield DataTable(id="packages-table", cursor_type="row")
        with Vertical(id="envs-progress", classes="-hidden"):
            yield Label("", id="progress-title", markup=False)
            yield Log(id="progress-lines", max_lines=_PROGRESS_LINES)
        yield Static("listing…", id="envs-status", markup=False)

    @property
    def table(self) -> EnvTable:
        return self.query_one(EnvTable)

    def on_mount(self) -> None:
        table = self.table
        for label, key in (("Name", "name"), ("Kind", "kind"), ("Python", "python"),
                           ("ipykernel", "kernel"), ("Size", "size"), ("rtui", "rtui")):
            table.add_column(label, key=key)
        packages = self.query_one("#packages-table", DataTable)
        packages.add_column("Package", key="name")
        packages.add_column("Version", key="version")
        table.focus()
        self.refresh_envs()

    # -- the list -----------------------------------------------------------------------------

    def refresh_envs(self, python: str | None = None) -> None:
        """List again (a console's ``%pip`` ended, an action ended, ``r``); the packages panel
        is read again too when it shows ``python``'s (any, when None)."""
        self._list()
        shown = self.packages_of
        if shown is not None and python in (None, shown.python):
            self._read_packages(shown)

    @work(group="envs-list", exclusive=True, exit_on_error=False)
    async def _list(self) -> None:
        envs = await self.envs.list(refresh=True, sizes=True)
        try:
            tools = await self.envs.tools()
        except RtuiError:  # an agent that cannot say: the list all the same
            tools = {}
        self.post_message(self._Listed(envs, tools.get("uv"), tools.get("uv_version")))

    @on(_Listed)
    def _listed(self, message: _Listed) -> None:
        self.listed, self.uv = message.envs, message.uv
        table = self.table
        current = self.current
        table.clear()
        for env in message.envs:
            table.add_row(
                env.name, env.kind, env.version or "?", kernel_cell(env),
                byte_size(env.size) if env.size is not None else "",
                Text("yes", style="green") if env.managed else "", key=env.python)
        if current is not None:
            for index, env in enumerate(message.envs):
                if env.python == current.python:
                    table.move_cursor(row=index)
        shown = self.packages_of
        if shown is not None and shown.python not in {env.python for env in message.envs}:
            self.packages_of = None  # removed: its panel goes with it
            self.query_one("#envs-packages").add_class("-hidden")
            self.refresh_bindings()
        made = sum(env.managed for env in message.envs)
        self.query_one("#envs-title", Static).update(
            f"{self.host}: {len(message.envs)} environments, {made} made by rtui · "
            + (f"uv {message.uv_version or ''}" if self.uv else "no uv on the host"))
        self._status()
        unfinished = any((env.error or "").startswith("unfinished") for env in message.envs)
        if unfinished and not self.busy and self._relists < _UNFINISHED_RELISTS:
            self._relists += 1  # a cancelled create is being removed: look again shortly
            self.set_timer(1.0, self._list)
        elif not unfinished:
            self._relists = 0

    @on(DataTable.RowHighlighted, "#envs-table")
    def _moved(self, message: DataTable.RowHighlighted) -> None:
        message.stop()
        self._status()

    def _status(self) -> None:
        env = self.current
        if env is None:
            text = "no environments: n makes one" if not self.listed else ""
        else:
            where = env.prefix or env.python
            text = f"{where}{' · ' + env.tool if env.tool else ''}"
            if env.error:
                text += f" · {env.error}"
        if self.busy:
            text = f"{self.action_title}… (escape cancels) · {text}"
        self.query_one("#envs-status", Static).update(text)

    # -- packages -----------------------------------------------------------------------------

    def action_packages(self) -> None:
        env = self._chosen("list the packages of")
        if env is not None:
            self.packages_of = env
            panel = self.query_one("#envs-packages")
            panel.remove_class("-hidden")
            self.refresh_bindings()
            self.query_one("#packages-title", Label).update(f"{env.name}: reading…")
            self._read_packages(env)

    @work(group="envs-packages", exclusive=True, exit_on_error=False)
    async def _read_packages(self, env: Environment) -> None:
        packages = await self.envs.packages(self._ref(env))
        self.post_message(self._Packages(env, packages))

    @on(EnvironmentActions.Changed)
    def _changed(self, message: EnvironmentActions.Changed) -> None:
        """After an install, an uninstall or an upgrade: the panel shows what it has now."""
        self.packages_of = message.env
        self.query_one("#envs-packages").remove_class("-hidden")
        self.refresh_bindings()
        self._show_packages(message.env, message.packages)

    @on(_Packages)
    def _packages(self, message: _Packages) -> None:
        if self.packages_of is not None and message.env.python == self.packages_of.python:
            self._show_packages(message.env, message.packages)

    def _show_packages(self, env: Environment, packages: list[Package]) -> None:
        table = self.query_one("#packages-table", DataTable)
        table.clear()
        for package in packages:
            table.add_row(package.name, package.version, key=package.name)
        self.query_one("#packages-title", Label).update(f"{env.name}: {len(packages)} packages")

    # -- the running action's progress -------------------------------------------------------

    @on(EnvironmentActions.Started)
    def _started(self, message: EnvironmentActions.Started) -> None:
        self.query_one("#progress-title", Label).update(f"{message.title}…")
        self.query_one("#progress-lines", Log).clear()
        self.query_one("#envs-progress").remove_class("-hidden")
        self._status()
        self.refresh_bindings()

    @on(EnvironmentActions.Progressed)
    def _progressed(self, message: EnvironmentActions.Progressed) -> None:
        self.query_one("#progress-lines", Log).write_line(message.line)
        if message.fraction is not None:
            self.query_one("#progress-title", Label).update(
                f"{self.action_title}… {round(message.fraction * 100)}%")

    @on(EnvironmentActions.Ended)
    def _ended(self, message: EnvironmentActions.Ended) -> None:
        self.query_one("#progress-title", Label).update(
            Text(f"{self.action_title}: {message.note}", style="red" if message.error else ""))
        self.query_one("#progress-lines", Log).write_line(message.note)
        self.refresh_envs()
        self.refresh_bindings()

    # -- keys ---------------------------------------------------------------------------------

    def action_console(self) -> None:
        env = self._chosen("open a console in")
        if env is not None:
            self.post_message(self.ConsoleRequested(self.host, env.python))

    def action_refresh(self) -> None:
        self.refresh_envs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape is a key (and in the footer) while there is something to cancel or hide."""
        if action == "cancel":
            return self.busy or not all(
                panel.has_class("-hidden")
                for panel in self.query("#envs-progress, #envs-packages"))
        return True

    def action_cancel(self) -> None:
        """Escape: the running action cancelled; with none, the panels hidden."""
        if self.cancel():
            return
        self.query_one("#envs-progress").add_class("-hidden")
        self.query_one("#envs-packages").add_class("-hidden")
        self.packages_of = None
        self.refresh_bindings()
        self.table.focus()

    def action_close_envs(self) -> None:
        self.post_message(self.CloseRequested(self))

    # -- failures -----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failure is told where the app tells every failure (its handler)."""
        if event.state is WorkerState.ERROR:
            self._status()
            if event.worker.group == "envs-list" and not self.listed:
                self.query_one("#envs-status", Static).update(
                    f"not listed: {event.worker.error} (r tries again)")
            self.app.post_message(Worker.StateChanged(event.worker, event.state))
