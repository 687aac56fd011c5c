"""A host's Python environments: the table (name, kind, Python, kernel packages, size, made
by rtui), the packages of one, and the keys that change them: create, install, uninstall,
upgrade, export, remove, set as the host's Python, open a console in one.

The remote work runs in this pane's workers (they die with the tab); one long action at a
time, whose progress streams into the panel at the bottom and which Escape cancels
(cancelling the worker cancels the core's call, which cancels the agent's request: a create
leaves nothing behind). Workers post messages; the widgets change only in their handlers.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label, Log, Static
from textual.worker import Worker, WorkerState

from rtui.core.envs import EnvSpec, NeedsUv, Package
from rtui.core.errors import RtuiError
from rtui.core.kernels.records import Environment
from rtui.core.remote.client import Progress
from rtui.core.units import byte_size
from rtui.tui.prompter import ask
from rtui.tui.screens.env_form import EnvFormScreen
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen, TextPromptScreen

if TYPE_CHECKING:
    from rtui.core.envs import HostEnvironments
    from rtui.core.workspace import Workspace

__all__ = ["EnvTable", "EnvironmentsPane", "kernel_cell", "write_new_file"]

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


def write_new_file(path: Path, text: str, *, overwrite: bool) -> None:
    """``text`` in ``path`` whole or not at all (a temporary file renamed over it); an
    existing file is kept unless ``overwrite`` (FileExistsError)."""
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _local_target(text: str) -> tuple[Path, bool]:
    """The local file a path typed names (``~`` expanded, from the working directory), and
    whether it exists."""
    path = Path(text).expanduser().absolute()
    return path, path.exists()


def _split_packages(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", text) if word]


class EnvTable(DataTable[Any]):
    """The environments, one row each. Enter is bound here, not on the pane: the table's own
    Enter (select the row) would win, and the footer would not show it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,p", "packages", "Packages", id="envs.packages"),
    ]

    def action_packages(self) -> None:
        self.query_ancestor(EnvironmentsPane).action_packages()


class EnvironmentsPane(Widget):
    """The environments of one host."""

    DEFAULT_CSS = """
    EnvironmentsPane { layout: vertical; height: 1fr; }
    EnvironmentsPane #envs-title { height: 1; background: $panel; padding: 0 1;
                                   text-style: bold; }
    EnvironmentsPane #envs-body { height: 1fr; }
    EnvironmentsPane EnvTable { width: 1fr; height: 1fr; }
    EnvironmentsPane #envs-packages { width: 34; height: 1fr;
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

    @dataclass
    class _Packages(Message):
        env: Environment
        packages: list[Package]
        show: bool = False  # after a change: the panel shows this environment's

    @dataclass
    class _Progress(Message):
        line: str
        fraction: float | None

    @dataclass
    class _Ended(Message):
        """The running action ended: ``note`` says how; the list is read again."""

        note: str
        error: bool = False

    def __init__(self, envs: HostEnvironments, workspace: Workspace, host: str) -> None:
        super().__init__()
        self.envs = envs
        self.workspace = workspace
        self.host = host
        self.listed: list[Environment] = []
        self.uv: str | None = None  # the host's uv, once asked
        self.packages_of: Environment | None = None  # whose packages the panel shows
        self.action_title = ""  # the running (or last) action, for the progress panel
        self._action: Worker[None] | None = None
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

    @property
    def busy(self) -> bool:
        """An action runs (one at a time: a second key says so)."""
        return self._action is not None and self._action.state in (
            WorkerState.PENDING, WorkerState.RUNNING)

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
        tools = await self.envs.tools()
        self.post_message(self._Listed(envs, tools.get("uv")))

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
            + (f"uv {self.uv}" if self.uv else "no uv on the host"))
        self._status()
        unfinished = any((env.error or "").startswith("unfinished") for env in message.envs)
        if unfinished and not self.busy and self._relists < _UNFINISHED_RELISTS:
            self._relists += 1  # a cancelled create is being removed: look again shortly
            self.set_timer(1.0, self._list)
        elif not unfinished:
            self._relists = 0

    @property
    def current(self) -> Environment | None:
        """The environment under the cursor."""
        table = self.query_one(EnvTable)
        if not self.listed or table.cursor_row < 0 or table.cursor_row >= len(self.listed):
            return None
        return self.listed[table.cursor_row]

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

    @on(_Packages)
    def _packages(self, message: _Packages) -> None:
        if message.show:
            self.packages_of = message.env
            self.query_one("#envs-packages").remove_class("-hidden")
            self.refresh_bindings()
        if self.packages_of is None or message.env.python != self.packages_of.python:
            return
        table = self.query_one("#packages-table", DataTable)
        table.clear()
        for package in message.packages:
            table.add_row(package.name, package.version, key=package.name)
        self.query_one("#packages-title", Label).update(
            f"{message.env.name}: {len(message.packages)} packages")

    def _highlighted_package(self) -> str:
        """The package under the packages panel's cursor, when that panel has the keys."""
        table = self.query_one("#packages-table", DataTable)
        if self.screen.focused is not table or table.row_count == 0:
            return ""
        return str(table.get_row_at(table.cursor_row)[0])

    # -- actions ------------------------------------------------------------------------------

    def _ref(self, env: Environment) -> str:
        """How the core is told which environment: its prefix, else its interpreter."""
        return env.prefix or env.python

    def _chosen(self, verb: str) -> Environment | None:
        env = self.current
        if env is None:
            self.notify(f"No environment to {verb}", severity="warning")
        return env

    def _start(self, title: str, work: Callable[[], Awaitable[str]]) -> None:
        """Run one long action in the progress panel; Escape cancels it."""
        if self.busy:
            self.notify(f"{self.action_title} is running: escape cancels it", severity="warning")
            return
        self.action_title = title
        self.query_one("#progress-title", Label).update(f"{title}…")
        self.query_one("#progress-lines", Log).clear()
        self.query_one("#envs-progress").remove_class("-hidden")
        self._action = self._run(work)
        self._status()
        self.refresh_bindings()

    @work(group="envs-action", exit_on_error=False)
    async def _run(self, action: Callable[[], Awaitable[str]]) -> None:
        try:
            note = await action()
        except asyncio.CancelledError:
            self.post_message(self._Ended("cancelled"))
            raise
        except RtuiError as failure:
            self.post_message(self._Ended(str(failure), error=True))
            raise
        self.post_message(self._Ended(note))

    def _progress(self, progress: Progress) -> None:
        self.post_message(self._Progress(progress.line, progress.fraction))

    @on(_Progress)
    def _show_progress(self, message: _Progress) -> None:
        self.query_one("#progress-lines", Log).write_line(message.line)
        if message.fraction is not None:
            self.query_one("#progress-title", Label).update(
                f"{self.action_title}… {round(message.fraction * 100)}%")

    @on(_Ended)
    def _ended(self, message: _Ended) -> None:
        title = self.query_one("#progress-title", Label)
        title.update(Text(f"{self.action_title}: {message.note}",
                          style="red" if message.error else ""))
        self.query_one("#progress-lines", Log).write_line(message.note)
        self._action = None
        self.refresh_envs()
        self.refresh_bindings()

    def action_create(self) -> None:
        self._ask_create()

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def _ask_create(self) -> None:
        uv = (await self.envs.tools()).get("uv")  # asked now: the form offers what is there
        spec = await ask(self.app, EnvFormScreen(self.host, self.listed, uv,
                                                 taken={e.name for e in self.listed}))
        if not isinstance(spec, EnvSpec):
            return

        async def create() -> str:
            try:
                env = await self.envs.create(spec, on_progress=self._progress)
            except NeedsUv:  # the host lost its uv since the form asked: it asks again
                if not await ask(self.app, ConfirmScreen(
                        "uv", f"{self.host} has no uv: upload it there and go on?")):
                    return "not created"
                env = await self.envs.create(replace(spec, upload_uv=True),
                                             on_progress=self._progress)
            return f"created {env.name} ({env.prefix or env.python})"

        self._start(f"Creating {spec.name}", create)

    def action_change(self, verb: str) -> None:
        self._ask_change(verb)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def _ask_change(self, verb: str) -> None:
        env = self._chosen(verb)
        if env is None:
            return
        answer = await ask(self.app, TextPromptScreen(
            f"{verb.capitalize()} in {env.name} on {self.host}",
            "Packages (spaces between; a version as name==1.2):", password=False,
            value="" if verb == "install" else self._highlighted_package()))
        names = _split_packages(answer) if isinstance(answer, str) else []
        if not names:
            return

        async def change() -> str:
            packages = await self.envs.change(self._ref(env), verb, names,
                                              on_progress=self._progress)
            self.post_message(self._Packages(env, packages, show=True))
            return f"{verb} done: {', '.join(names)}"

        self._start(f"{verb.capitalize()} {' '.join(names)} in {env.name}", change)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def action_export(self) -> None:
        """The environment's packages in a local file (a lock file too where uv made it)."""
        env = self._chosen("export")
        if env is None:
            return
        fmt = "requirements"
        if env.tool == "uv":
            choice = await ask(self.app, ChoiceScreen(f"Export {env.name}", [
                ("requirements", "requirements.txt (name==version lines)"),
                ("pylock", "pylock.toml (uv's lock, with hashes)")]))
            if choice is None:
                return
            fmt = str(choice)
        default = f"{env.name}-requirements.txt" if fmt == "requirements" else \
            f"pylock.{env.name}.toml"
        answer = await ask(self.app, TextPromptScreen(
            f"Export {env.name} from {self.host}", "Local file:", password=False,
            value=default))
        if not isinstance(answer, str) or not answer.strip():
            return
        path, overwrite = await asyncio.to_thread(_local_target, answer.strip())
        if overwrite:
            overwrite = bool(await ask(self.app, ConfirmScreen(
                "Export", f"{path} exists: replace it?")))
            if not overwrite:
                return
        text = await self.envs.export(self._ref(env), fmt)
        await asyncio.to_thread(write_new_file, path, text, overwrite=overwrite)
        count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        self.notify(f"Exported {env.name} to {path} ({count} lines)", timeout=6)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def action_remove(self) -> None:
        """Remove the environment, confirmed; one rtui did not make needs a second, explicit
        yes (force)."""
        env = self._chosen("remove")
        if env is None:
            return
        where = env.prefix or env.python
        if not await ask(self.app, ConfirmScreen(
                "Remove environment", f"Remove {env.name} ({where}) from {self.host}? "
                "Its files are deleted.")):
            return
        force = False
        if not env.managed:
            force = bool(await ask(self.app, ConfirmScreen(
                "Not made by rtui", f"rtui did not make {env.name}: remove it anyway "
                "(force)? Kernels and programs that use it stop working.")))
            if not force:
                return

        async def remove() -> str:
            return f"removed {await self.envs.remove(self._ref(env), force=force)}"

        self._start(f"Removing {env.name}", remove)

    @work(group="envs-ask", exclusive=True, exit_on_error=False)
    async def action_default(self) -> None:
        """The environment's Python becomes the host's (hosts.toml): Enter uses it."""
        env = self._chosen("use")
        if env is None:
            return
        await self.workspace.remember_python(self.host, env.python)
        self.notify(f"{self.host}: python = {env.python} (saved in hosts.toml)", timeout=6)

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
        if self.busy and self._action is not None:
            self._action.cancel()
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
