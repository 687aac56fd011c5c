"""The Textual application: owns the core services, turns their results into messages."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from rtui import __version__
from rtui.core import locations
from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.core.errors import HostKeyChangedError, RtuiError
from rtui.core.ssh.check import CheckGates, HostStatus, check_host
from rtui.core.ssh.prompts import NoPrompter
from rtui.core.ssh.state import ConnState, StateChange
from rtui.tui.commands import HostCommands
from rtui.tui.lazy import import_off_loop
from rtui.tui.prompter import TuiPrompter, ask
from rtui.tui.render import ScrollingApp
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen, MessageScreen, Remembered
from rtui.tui.widgets.footer import KeyFooter
from rtui.tui.widgets.hosts import HostsPane

# Loaded after the first frame: asyncssh alone takes ~0.1-0.9 s to import, jupyter_client
# more, and the console's editor and output model ~35 ms that the host list does not need.
if TYPE_CHECKING:
    from rtui.core.kernels.service import HostKernels, RemoteKernel
    from rtui.core.ssh.manager import Connections
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["RtuiApp", "run_tui"]

log = logging.getLogger(__name__)


class RtuiApp(ScrollingApp):
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
        extra_hosts: tuple[Host, ...] = (),
    ) -> None:
        super().__init__(ansi_color=ansi)
        self.store = store
        self.check_on_start = check_on_start
        self.ssh_config = ssh_config
        self.extra_hosts = extra_hosts  # hosts that exist for this run only (the demo)
        self.prompter = TuiPrompter(self)
        self.config = Config()
        self._connections: Connections | None = None
        self.kernel_services: dict[str, HostKernels] = {}
        self._console_count = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"), TabPane("Hosts", id="tab-hosts"):
            yield HostsPane()
        yield KeyFooter()

    @property
    def connections(self) -> Connections:
        """The host connections, made on first use so the first frame does not wait for the
        SSH libraries to load."""
        if self._connections is None:
            from rtui.core.ssh.manager import Connections

            self._connections = Connections(self.config, prompter=self.prompter,
                                            ssh_config=self.ssh_config)
        return self._connections

    @connections.setter
    def connections(self, value: Connections) -> None:
        self._connections = value

    async def on_mount(self) -> None:
        # A console flood makes many small container objects; with the default thresholds a
        # full collection runs every few hundred thousand of them and scans everything
        # alive (~100 ms here, felt as a key that hangs). Full collections are made 10x
        # rarer, and what is alive once a console is up is kept out of them (see add_console).
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, 100)
        await self.reload_config()
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
        self.check_hosts([h.name for h in self.config.hosts], interactive=False)

    async def on_unmount(self) -> None:
        for service in list(self.kernel_services.values()):
            with contextlib.suppress(Exception):
                await service.close()
        if self._connections is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connections.close_all(), 5)

    # -- config ------------------------------------------------------------------------------

    @property
    def band_scroll(self) -> bool:
        """The ``band_scroll`` setting: rows that only scrolled are moved by the terminal."""
        return self.config.settings.band_scroll

    async def reload_config(self) -> None:
        """Read the hosts file; a broken file is shown in the pane and nothing is lost."""
        problem = ""
        try:
            config = await asyncio.to_thread(self.store.load)
        except RtuiError as exc:
            config, problem = Config(), str(exc)
        for host in self.extra_hosts:
            if config.get(host.name) is None:
                config = config.with_host(host)
        self.config = config
        if self._connections is not None:
            await self._connections.update_config(config)
        for name, service in list(self.kernel_services.items()):
            entry = config.get(name)
            if entry is None or self.connections.existing(name) is not service.connection:
                await self.kernel_services.pop(name).close()  # gone, or reached another way
            else:
                service.set_python(entry.configured_python)
        self.query_one(HostsPane).show_config(config, problem)

    async def save_host(self, old_name: str | None, host: Host) -> None:
        """Add or replace a host in the file (locked, re-read, validated, atomic)."""
        def change(config: Config) -> Config:
            return config.add_host(host) if old_name is None else config.replace_host(
                old_name, host)

        await asyncio.to_thread(self.store.update, change)
        await self.reload_config()

    async def kernels_for(self, name: str) -> HostKernels:
        """The host's kernel service, made on first use (its modules imported off the loop;
        once they are, these awaits return at once)."""
        await import_off_loop("rtui.core.ssh.manager")
        await import_off_loop("rtui.core.kernels.service")
        service = self.kernel_services.get(name)
        if service is None:
            from rtui.core.kernels.service import HostKernels

            host = self.config.require(name)
            service = HostKernels(self.connections.get(name), python=host.python)
            self.kernel_services[name] = service
        return service

    # -- host actions ------------------------------------------------------------------------

    @on(HostsPane.ActionRequested)
    def _host_action(self, message: HostsPane.ActionRequested) -> None:
        """A host key: the action table's row says what it does."""
        message.action.run(self, message.host)

    @work(group="checks", exit_on_error=False)
    async def check_hosts(self, names: list[str], *, interactive: bool) -> None:
        """Check hosts concurrently; on start-up nobody is asked anything (no dialog storm)."""
        pane = self.query_one(HostsPane)
        pane.show_checking(names)
        await import_off_loop("rtui.core.ssh.manager")
        settings = self.config.settings
        gates = CheckGates(settings.check_concurrency)

        async def one(name: str) -> None:
            connection = self.connections.get(name)
            if not interactive and connection.state is not ConnState.CONNECTED:
                connection.prompter = NoPrompter()

            def connected(change: StateChange) -> None:
                # Start the agent as soon as the host lets us in, alongside the probe:
                # it is what a console needs first, and it takes a Python start-up.
                if change.state is ConnState.CONNECTED:
                    self.prefetch(name, environments=False)

            unsubscribe = connection.subscribe(connected)
            try:
                host = self.config.get(name)
                extra = [host.configured_python] if host and host.configured_python else []
                status = await check_host(connection, timeout=settings.check_timeout,
                                          extra_pythons=extra, gates=gates)
            except Exception as exc:  # one host's bug must not stop the others
                log.exception("check of %s failed", name)
                status = HostStatus(name, error=str(exc), error_kind="error")
            finally:
                unsubscribe()
                connection.prompter = self.prompter
            pane.show_status(status)
            if status.ok:
                self.prefetch(name, environments=self._ready_python(name) is None)
            if status.error_kind == "host-key-changed" and interactive:
                self.push_screen(MessageScreen("Host key changed", status.error or ""))

        await asyncio.gather(*(one(n) for n in names if self.config.get(n) is not None))

    @work(group="prefetch", exit_on_error=False)
    async def prefetch(self, name: str, *, environments: bool) -> None:
        """Get a reachable host ready in the background, so Enter opens a console without
        waiting: the agent started, and the host's Pythons known when Enter will need them."""
        kernels = await self.kernels_for(name)
        with contextlib.suppress(RtuiError):
            await (kernels.environments() if environments else kernels.hello())

    @work(group="count", exit_on_error=False)
    async def count_kernels(self, name: str) -> None:
        """The host list's Kernels column after a kernel started or stopped here (else it
        would wait for the next check): the live kernels the agent lists."""
        pane = self.query_one(HostsPane)
        status = pane.statuses.get(name)
        if status is None or not status.ok or name in pane.checking:
            return  # a check under way counts them itself
        with contextlib.suppress(RtuiError):
            kernels = await self.kernels_for(name)
            live = sum(1 for record in await kernels.list() if record.alive)
            pane.show_kernel_count(name, live)

    @work(group="config", exit_on_error=False)
    async def delete_host(self, name: str) -> None:
        if not await ask(self, ConfirmScreen("Delete host", f"Delete host '{name}'?")):
            return
        await asyncio.to_thread(self.store.update, lambda c: c.remove_host(name))
        await self.reload_config()
        self.notify(f"Deleted {name}")

    @work(group="config", exit_on_error=False)
    async def import_ssh_config(self) -> None:
        from rtui.core.config.importer import merge_imported
        from rtui.core.ssh.ssh_config import resolved_aliases

        path = self.ssh_config or locations.ssh_config_path()
        entries = await asyncio.to_thread(resolved_aliases, path)
        results: list[Any] = []

        def change(config: Config) -> Config:
            merged, result = merge_imported(config, entries, update=False)
            results.append(result)
            return merged

        await asyncio.to_thread(self.store.update, change)
        await self.reload_config()
        self.notify(f"Imported from {path}: {results[-1].summary()}", timeout=8)

    def _ready_python(self, name: str) -> str | None:
        """The Python Enter starts a kernel in without asking: the one picked earlier in this
        session, else the host's configured one once its check found ipykernel there."""
        kernels = self.kernel_services.get(name)
        if kernels is not None and kernels.chosen_python:
            return kernels.chosen_python
        host = self.config.get(name)
        python = host.configured_python if host else None
        status = self.query_one(HostsPane).statuses.get(name)
        if python is None or status is None:
            return None
        # The interpreter the check found for it (``~/…`` or an environment's directory
        # name one there).
        return next((p.path for p in status.pythons
                     if p.ipykernel and (p.path == python or python in p.given)), None)

    @work(group="kernels", exit_on_error=False)
    async def open_console(self, name: str, *, pick: bool = False) -> None:
        """One key to a console: straight to a known Python (see ``_ready_python``); else
        pick an env when there are several, set one up if none. ``pick`` always asks."""
        kernels = await self.kernels_for(name)
        kernels.connection.prompter = self.prompter
        self.notify(f"Connecting to {name}…", timeout=3)
        python = None if pick else self._ready_python(name)
        if python is None:
            choice = await self._choose_python(kernels, ask_always=pick)
            if choice is None:
                return
            python = choice.value if isinstance(choice, Remembered) else choice
            kernels.chosen_python = python
            if isinstance(choice, Remembered):
                self.remember_python(name, python)
        # The kernel is asked for first; the tab opens meanwhile and takes keys while the
        # kernel starts (~0.3 s), which costs nothing on the critical path.
        starting = asyncio.ensure_future(kernels.start(python=python))
        await asyncio.sleep(0)  # the launch request leaves before the tab is built
        try:
            pane = await self.add_console(kernels, None)
        except BaseException:
            starting.cancel()
            raise
        try:
            kernel = await starting
        except BaseException:
            await self._remove_console(pane)
            raise
        if not pane.is_attached:  # closed while starting: nobody will use this kernel
            await kernels.shutdown(kernel)
            return
        pane.connect(kernel)
        self.count_kernels(name)

    async def _choose_python(self, kernels: HostKernels, *,
                             ask_always: bool) -> str | Remembered | None:
        """The env picker (several envs, or ``ask_always``), else the only env, else set-up.
        A :class:`Remembered` choice is to become the host's ``python``."""
        name = kernels.name
        envs = [e for e in await kernels.environments(refresh=ask_always)
                if e.can_run(spyder=False)]
        if len(envs) > 1 or (envs and ask_always):
            options = [(e.python, f"{e.name}  Python {e.version}  ipykernel {e.ipykernel}"
                        f"{'  +spyder-kernels' if e.spyder_kernels else ''}") for e in envs]
            in_file = all(extra.name != name for extra in self.extra_hosts)
            choice = await ask(self, ChoiceScreen(
                f"Python environment on {name}", options,
                remember=f"as {name}'s python in hosts.toml" if in_file else None))
            if choice is None or isinstance(choice, Remembered):
                return choice
            return str(choice)
        if envs:
            return envs[0].python
        question = (f"No Python on {name} has ipykernel. Create rtui's own environment "
                    "(~/.local/share/rtui/venv) and install ipykernel there?")
        if not await ask(self, ConfirmScreen("Set up a kernel environment", question)):
            return None
        from rtui.tui.screens.progress import ProgressScreen

        progress = ProgressScreen(f"Setting up a kernel environment on {name}")
        self.push_screen(progress)
        try:
            env = await kernels.setup(on_progress=lambda p: progress.add(p.line, p.fraction))
        finally:
            progress.dismiss()
        return env.python

    @work(group="config", exit_on_error=False)
    async def remember_python(self, name: str, python: str) -> None:
        """Write ``python`` as the host's interpreter (the file locked, re-read, validated,
        written atomically): Enter uses it from now on, in this run and the next."""
        def change(config: Config) -> Config:
            host = config.get(name)
            if host is None:
                raise RtuiError(f"{name} is no longer in the hosts file")
            return config.replace_host(name, dataclasses.replace(host, python=python))

        await asyncio.to_thread(self.store.update, change)
        await self.reload_config()
        self.notify(f"{name}: python = {python} (saved in hosts.toml)", timeout=6)

    @work(group="kernels", exit_on_error=False)
    async def attach_kernel(self, name: str) -> None:
        """List the host's running kernels (rtui's and any other) and attach to one."""
        kernels = await self.kernels_for(name)
        kernels.connection.prompter = self.prompter
        records = [r for r in await kernels.list() if r.alive]
        if not records:
            self.notify(f"No running kernels on {name}: Enter starts one", timeout=6)
            return
        options = [
            (r.connection_file, f"{r.id[:20]:20}  {r.kind:9}  pid {r.pid or '?':>7}  "
             f"{'rtui' if r.rtui else 'other'}  {r.cwd or ''}") for r in records
        ]
        choice = await ask(self, ChoiceScreen(f"Kernels running on {name}", options))
        if choice is None:
            return
        kernel = await kernels.attach(str(choice))
        await self.add_console(kernels, kernel)

    async def add_console(self, kernels: HostKernels, kernel: RemoteKernel | None) -> ConsolePane:
        """A console tab, made active; ``kernel`` None: one that is starting."""
        await import_off_loop("rtui.tui.widgets.console")
        from rtui.tui.widgets.console import ConsolePane

        if not self._console_count:
            # Once: modules, the app's widgets, the connection stack are alive for good and
            # never scanned again. (Freezing again later would also keep closed consoles.)
            gc.freeze()
        self._console_count += 1
        pane_id = f"console-{self._console_count}"
        pane = ConsolePane(kernels, kernel, max_lines=self.config.settings.console_max_lines)
        tabs = self.query_one(TabbedContent)
        # Named by host and number, known before the kernel is (a relabel would animate the
        # tab bar's underline again); the kernel's id is on the console's status line.
        label = f"{kernels.name} #{self._console_count}"
        await tabs.add_pane(TabPane(label, pane, id=pane_id))
        tabs.active = pane_id
        return pane

    async def _remove_console(self, pane: ConsolePane) -> None:
        tab = pane.parent
        if isinstance(tab, TabPane) and tab.id and pane.is_attached:
            await self.query_one(TabbedContent).remove_pane(tab.id)
            self.action_show_hosts()

    def on_console_pane_close_requested(self, message: ConsolePane.CloseRequested) -> None:
        """``ConsolePane.CloseRequested``, by handler name (the console loads on first use)."""
        self.close_console(message.pane)

    @work(group="kernels", exit_on_error=False)
    async def close_console(self, pane: ConsolePane) -> None:
        if pane.kernel is None:  # still starting: its start shuts the kernel down when ready
            await self._remove_console(pane)
            return
        options = [("leave", "Leave the kernel running (attach again later with k)"),
                   ("shutdown", "Shut the kernel down")]
        choice = await ask(self, ChoiceScreen("Close console", options))
        if choice is None:
            return
        if choice == "shutdown":
            await pane.shutdown_kernel()
            self.count_kernels(pane.kernels.name)
        else:
            await pane.detach()
        await self._remove_console(pane)

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
        panes: list[ConsolePane] = list(self.query("ConsolePane"))  # type: ignore[arg-type]
        launched = [p for p in panes if p.kernel is not None and p.kernel.launched]
        shutdown = False
        if launched:
            options = [
                ("leave", f"Quit and leave {len(launched)} kernel(s) running (k attaches later)"),
                ("shutdown", f"Shut down the {len(launched)} kernel(s) started here, then quit"),
            ]
            choice = await ask(self, ChoiceScreen("Quit rtui", options))
            if choice is None:
                return
            shutdown = choice == "shutdown"
        for pane in panes:
            with contextlib.suppress(Exception):
                if shutdown and pane.kernel is not None and pane.kernel.launched:
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
        """Keys go to the tab in view: the host table, or the console's editor."""
        pane = event.pane
        editors = list(pane.query("CodeInput"))
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


def run_tui(*, config: str | None = None, ansi: bool = False) -> int:
    RtuiApp(HostStore(locations.config_path(config)), ansi=ansi).run()
    return 0
