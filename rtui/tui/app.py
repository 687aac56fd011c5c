"""The Textual application: owns the core services, turns their results into messages."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.filter import LineFilter
from textual.widgets import DataTable, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from rtui import __version__
from rtui.core import locations
from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.core.errors import HostKeyChangedError, RtuiError
from rtui.core.lazy import import_off_loop
from rtui.core.ssh.check import HostStatus
from rtui.core.ssh.prompts import NoPrompter
from rtui.core.workspace import (
    Checking,
    ConfigReloaded,
    InjectedHost,
    KernelCount,
    StatusChanged,
    Workspace,
    WorkspaceEvent,
)
from rtui.tui.ansi_colours import ANSI_THEME, SixteenColours
from rtui.tui.commands import HostCommands
from rtui.tui.consoles import ASK_AGAIN
from rtui.tui.envs_tabs import EnvsTabs
from rtui.tui.file_tasks import FileTasks
from rtui.tui.files_tabs import FilesTabs
from rtui.tui.graphics import GraphicsSupport
from rtui.tui.graphics import detect as detect_images
from rtui.tui.job_consoles import JobConsoles
from rtui.tui.plots_tabs import PlotsTabs
from rtui.tui.prompter import TuiPrompter, ask
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen, MessageScreen
from rtui.tui.widgets.footer import KeyFooter
from rtui.tui.widgets.hosts import HostsPane

# Loaded after the first frame: asyncssh alone takes ~0.1-0.9 s to import, jupyter_client
# more, and the console's editor and output model ~35 ms that the host list does not need.
if TYPE_CHECKING:
    from textual.strip import Strip

    from rtui.tui.graphics.painters import Painter
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["RtuiApp", "run_tui"]

log = logging.getLogger(__name__)


class RtuiApp(FileTasks, JobConsoles, FilesTabs, PlotsTabs, EnvsTabs):
    """rtui's terminal UI. Long-lived work (connections, kernels) belongs to the app."""

    TITLE = "rtui"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH = "rtui.tcss"
    COMMANDS = App.COMMANDS | {HostCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit_app", "Quit", id="app.quit", priority=True),
        Binding("f1", "help", "Help", id="app.help"),
        # Priority: the editor would take f6 for "select line".
        Binding("f6,ctrl+pagedown", "next_tab", "Next tab", id="app.next_tab", show=False,
                priority=True),
        Binding("shift+f6,ctrl+pageup", "previous_tab", "Previous tab", id="app.prev_tab",
                show=False, priority=True),
        Binding("f3", "show_hosts", "Hosts", id="app.hosts"),
    ]

    def __init__(
        self,
        store: HostStore,
        *,
        ansi: bool = False,
        check_on_start: bool = True,
        ssh_config: Path | None = None,
        injected: Sequence[InjectedHost] = (),
        graphics: GraphicsSupport | None = None,
    ) -> None:
        super().__init__(ansi_color=ansi)
        # How images are drawn, found before the app started (rtui.tui.graphics.detect).
        self.graphics = graphics if graphics is not None else GraphicsSupport()
        # ansi_color alone only lets ANSI colours through: the default theme's are truecolour
        # (256-colour codes in tmux). See rtui.tui.ansi_colours.
        self._sixteen = SixteenColours() if ansi else None
        if ansi:
            self.theme = ANSI_THEME
        self.check_on_start = check_on_start
        self.prompter = TuiPrompter(self)
        # The run's hosts; an attempt to connect that names nobody asks this app.
        self.workspace = Workspace(store, injected=injected, ssh_config=ssh_config,
                                   prompter=self.prompter)
        self.workspace.subscribe(self._show)
        self._console_count = 0

    @cached_property
    def painter(self) -> Painter:
        """Draws images for every view of this run (with kitty, one upload per image); made
        on first use, on the event loop. Sliced: a row of a sixel or iTerm2 picture draws
        its own part (the console caches and scrolls rows one by one)."""
        from rtui.tui.graphics.painters import make_painter

        return make_painter(self.graphics, self, sliced=True)

    @cached_property
    def paint_image(self) -> Callable[[bytes, int, int], list[Strip]]:
        """``paint(data, cols, rows)`` for the console view and the Plots tab (in a thread)."""
        from rtui.tui.graphics.painters import paint_function

        return paint_function(self.painter)

    @property
    def config(self) -> Config:
        """The run's hosts (the workspace's)."""
        return self.workspace.config

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"), TabPane("Hosts", id="tab-hosts"):
            yield HostsPane()
        yield KeyFooter()

    async def on_mount(self) -> None:
        # A console flood makes many small container objects; with the default thresholds a
        # full collection runs every few hundred thousand of them and scans everything
        # alive (~100 ms here, felt as a key that hangs). Full collections are made 10x
        # rarer, and what is alive once a console is up is kept out of them (see add_console).
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, 100)
        await self.workspace.reload()
        if self.check_on_start:
            self.call_after_refresh(self._check_on_start)
        self.call_after_refresh(self._preload)

    @work(group="preload", exit_on_error=False)
    async def _preload(self) -> None:
        """What Enter on a host needs, loaded in the background once the host list is up."""
        for module in ("rtui.core.ssh.manager", "rtui.tui.widgets.console",
                       "rtui.core.kernels.service"):
            await import_off_loop(module)

    def _check_on_start(self) -> None:
        self.check_hosts([h.name for h in self.workspace.config.hosts], interactive=False)

    async def on_unmount(self) -> None:
        if "painter" in self.__dict__:  # made: kitty's uploads are freed
            self.painter.close()
        await self.workspace.close()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then with --ansi the one that keeps colours to the 16."""
        filters = super().get_line_filters()
        return filters if self._sixteen is None else [*filters, self._sixteen]

    @property
    def band_scroll(self) -> bool:
        """The ``band_scroll`` setting: rows that only scrolled are moved by the terminal."""
        return self.config.settings.band_scroll

    def _show(self, event: WorkspaceEvent) -> None:
        """What the workspace reports, shown in the host list."""
        panes = self.query(HostsPane)
        if not panes:
            return  # not composed yet, or gone
        pane = panes.first()
        if isinstance(event, ConfigReloaded):
            pane.show_config(event.config, event.problem)
        elif isinstance(event, Checking):
            pane.show_checking(list(event.names))
        elif isinstance(event, StatusChanged):
            pane.show_status(event.status)
        elif isinstance(event, KernelCount):
            pane.show_kernel_count(event.name, event.kernels)

    async def save_host(self, old_name: str | None, host: Host) -> None:
        """The host form's save: add or replace a host in the file."""
        await self.workspace.save_host(old_name, host)

    # -- host actions ------------------------------------------------------------------------

    @on(HostsPane.ActionRequested)
    def _host_action(self, message: HostsPane.ActionRequested) -> None:
        """A host key: the action table's row says what it does."""
        message.action.run(self, message.host)

    @work(group="checks", exit_on_error=False)
    async def check_hosts(self, names: list[str], *, interactive: bool) -> None:
        """Check hosts concurrently; on start-up nobody is asked anything (no dialog storm)."""
        def checked(status: HostStatus) -> None:
            if status.error_kind == "host-key-changed" and interactive:
                self.push_screen(MessageScreen("Host key changed", status.error or ""))

        await self.workspace.check(
            names, prompter=self.prompter if interactive else NoPrompter(), on_status=checked)

    @work(group="config", exit_on_error=False)
    async def delete_host(self, name: str) -> None:
        if not await ask(self, ConfirmScreen("Delete host", f"Delete host '{name}'?")):
            return
        await self.workspace.delete_host(name)
        self.notify(f"Deleted {name}")

    @work(group="config", exit_on_error=False)
    async def import_ssh_config(self) -> None:
        path, result = await self.workspace.import_ssh_config()
        self.notify(f"Imported from {path}: {result.summary()}", timeout=8)

    # -- one place for worker failures -------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, HostKeyChangedError):
            self.push_screen(MessageScreen(error.title, str(error)))
        elif isinstance(error, RtuiError):
            self.notify(str(error), title=error.title, severity="error", timeout=10)
        else:
            log.error("worker %s failed", event.worker.name, exc_info=error)
            self.notify(f"Internal error: {error!r} (details in the log)",
                        severity="error", timeout=10)

    # -- app actions -------------------------------------------------------------------------

    def action_quit_app(self) -> None:
        self.quit_app()

    @work(group="quit", exclusive=True, exit_on_error=False)
    async def quit_app(self) -> None:
        """Quit; kernels started here are shut down or left running, as the person says."""
        while True:
            panes: list[ConsolePane] = list(self.query("ConsolePane"))  # type: ignore[arg-type]
            # Not one whose code asked it to end (exit()): it ends as asked, whatever is chosen.
            launched = [p for p in panes if p.kernel is not None and p.kernel.launched
                        and p.exit_asked is None and not p.job.ended]
            waiting = [p for p in panes if p.job.waiting]  # SLURM jobs not started yet
            shutdown = False
            if not launched and not waiting:
                break
            count = len(launched) + len(waiting)
            jobs = sum(1 for p in [*launched, *waiting] if p.job.info is not None)
            options = [
                ("leave", f"Quit and leave {count} kernel(s) running"
                 f"{' or queued' if waiting else ''} (k attaches later)"),
                ("shutdown", f"Shut down the {count} kernel(s) started here"
                 f"{f' (cancelling {jobs} SLURM job(s))' if jobs else ''}, then quit"),
            ]
            self.quit_dialog = ChoiceScreen("Quit rtui", options)
            try:
                choice = await ask(self, self.quit_dialog)
            finally:
                self.quit_dialog = None
            if choice is None:
                return
            if choice != ASK_AGAIN:  # else one of them ended meanwhile (exit()): count again
                shutdown = choice == "shutdown"
                break
        await self.end_waiting_jobs([p for p in panes if p.job.waiting], cancel=shutdown)
        for pane in panes:
            with contextlib.suppress(Exception):
                if pane.exit_asked is not None:
                    await pane.end_as_asked()
                elif shutdown and pane in launched:
                    await pane.shutdown_kernel()
                else:
                    await pane.detach()
        self.exit()

    def action_help(self) -> None:
        from rtui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F3 (back to the hosts) is left out of the footer where the hosts are in view."""
        if action == "show_hosts" and self.screen_stack:
            tabs = self.screen_stack[0].query(TabbedContent)
            return not (tabs and tabs.first().active == "tab-hosts")
        return True

    def action_show_hosts(self) -> None:
        self.query_one(TabbedContent).active = "tab-hosts"

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Keys go to the tab in view: the host table, the console's editor, the file list."""
        pane = event.pane
        editors = (list(pane.query("#secret")) or list(pane.query("CodeInput"))
                   or list(pane.query("FileList")))  # #secret: a password asked meanwhile
        if editors:
            editors[0].focus()
            return
        tables = list(pane.query(DataTable))
        if tables:
            tables[0].focus()

    def _switch_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if not ids:
            return
        index = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(index + step) % len(ids)]

    def action_next_tab(self) -> None:
        self._switch_tab(1)

    def action_previous_tab(self) -> None:
        self._switch_tab(-1)


def run_tui(*, config: str | None = None, ansi: bool = False, images: str | None = None) -> int:
    store = HostStore(locations.config_path(config))
    app = RtuiApp(store, ansi=ansi, graphics=detect_graphics(store, images))
    app.run()
    return app.return_code or 0  # 1 after a crash (said by QuietCrashApp)


def detect_graphics(store: HostStore, images: str | None) -> GraphicsSupport:
    """The run's graphics: ``--images``, else the ``images`` setting, else asked of the
    terminal. Before the app runs: Textual's input thread would take the terminal's answer."""
    if images is None:
        try:
            images = store.load().settings.images
        except RtuiError:
            images = "auto"  # the app says what is wrong with the file
    support = detect_images(images)
    log.info("images: %s (%s), cell %dx%d px%s", support.mode, support.reason,
             *support.cell_px, " in tmux" if support.tmux else "")
    return support
