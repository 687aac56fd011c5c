"""The app's consoles: open one (the workspace's environment decision rendered as dialogs),
attach to a running kernel, close one; each console is a tab. A part of :class:`RtuiApp`,
kept apart so the app module holds composition, tabs, worker errors and quit."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

from textual import work
from textual.widgets import TabbedContent, TabPane

from rtui.core.errors import RtuiError
from rtui.core.kernels.choice import Ask, EnvironmentDecision, Run
from rtui.core.lazy import import_off_loop
from rtui.core.workspace import Workspace
from rtui.tui.prompter import TuiPrompter, ask
from rtui.tui.render import ScrollingApp
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen, Remembered
from rtui.tui.tabs import close_tab_of

if TYPE_CHECKING:  # loaded after the first frame (see RtuiApp)
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.service import RemoteKernel
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["ASK_AGAIN", "ConsoleTabs"]

KERNELSPEC = "kernelspec"
"""Environment.kind of a Jupyter server's kernelspec (ServerKernels.environments)."""

ASK_AGAIN = "ask-again"
"""What the quit dialog is dismissed with when a kernel it counted ended meanwhile."""


class ConsoleTabs(ScrollingApp):
    """Console use cases of the app; its workers belong to the app, so they outlive the
    dialogs and tabs that started them."""

    workspace: Workspace
    prompter: TuiPrompter
    _console_count: int = 0
    quit_dialog: ChoiceScreen | None = None
    """The quit dialog while it is up (RtuiApp.quit_app): asked again when a kernel it
    counts ends as its code asked."""

    @work(group="count", exit_on_error=False)
    async def count_kernels(self, name: str) -> None:
        """The host list's Kernels column after a kernel started or stopped here."""
        await self.workspace.count_kernels(name)

    @work(group="kernels", exit_on_error=False)
    async def open_console(self, name: str, *, pick: bool = False,
                           python: str | None = None) -> None:
        """One key to a console: the workspace decides which Python (see
        ``rtui.core.kernels.choice``); ``pick`` always asks; ``python`` (an environment's,
        from its tab) is used as given."""
        self.notify(f"Connecting to {name}…", timeout=3)
        kernels = await self.connect_host(name)
        if python is None:
            python = await self._python_for(
                name, await self.workspace.environment_decision(name, pick=pick))
        if python is None:
            return
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

    async def connect_host(self, name: str) -> KernelHost:
        """The host's kernels, reached: an SSH login, or a Jupyter host's token and (a hub)
        its server started, the hub's progress shown while it starts."""
        from rtui.tui.hub_progress import HubStartProgress

        progress = HubStartProgress(self, name)
        try:
            return await self.workspace.connect(name, self.prompter,
                                                on_progress=progress.show)
        finally:
            await progress.close()

    async def _python_for(self, name: str, decision: EnvironmentDecision) -> str | None:
        """The decision rendered: the env picker (``r`` also saves the choice as the host's
        python), or set-up confirmed and shown in progress; None: the person cancelled."""
        if isinstance(decision, Run):
            return decision.python
        if isinstance(decision, Ask) and all(e.kind == KERNELSPEC for e in decision.options):
            return await self._kernelspec_for(name, decision)
        if isinstance(decision, Ask):
            options = [(e.python, f"{e.name}  Python {e.version}  ipykernel {e.ipykernel}"
                        f"{'  +spyder-kernels' if e.spyder_kernels else ''}")
                       for e in decision.options]
            choice = await ask(self, ChoiceScreen(
                f"Python environment on {name}", options,
                remember=f"as {name}'s python in hosts.toml" if decision.can_remember else None))
            if choice is None:
                return None
            python = choice.value if isinstance(choice, Remembered) else str(choice)
            self.workspace.chose(name, python)
            if isinstance(choice, Remembered):
                self.remember_python(name, python)
            return python
        if self.workspace.config.require(name).jupyter is not None:
            raise RtuiError(f"{name} offers no kernelspec to start a kernel from",
                            title="No kernels")
        question = (f"No Python on {name} has ipykernel. Create rtui's own environment "
                    "(~/.local/share/rtui/venv) and install ipykernel there?")
        if not await ask(self, ConfirmScreen("Set up a kernel environment", question)):
            return None
        from rtui.tui.screens.progress import ProgressScreen

        progress = ProgressScreen(f"Setting up a kernel environment on {name}")
        self.push_screen(progress)
        try:
            env = await self.workspace.set_up(
                name, on_progress=lambda p: progress.add(p.line, p.fraction))
        finally:
            await progress.finish()  # gone before the console tab is added
        self.workspace.chose(name, env.python)
        return env.python

    async def _kernelspec_for(self, name: str, decision: Ask) -> str | None:
        """A Jupyter server's kernelspecs (its default first): the one a console starts."""
        options = [(e.python, f"{e.name}  ({e.python}{', the default' if i == 0 else ''})")
                   for i, e in enumerate(decision.options)]
        choice = await ask(self, ChoiceScreen(f"Kernel on {name}", options))
        if choice is None:
            return None
        self.workspace.chose(name, str(choice))
        return str(choice)

    @work(group="config", exit_on_error=False)
    async def remember_python(self, name: str, python: str) -> None:
        """Save ``python`` as the host's interpreter: Enter uses it in this run and the next."""
        await self.workspace.remember_python(name, python)
        self.notify(f"{name}: python = {python} (saved in hosts.toml)", timeout=6)

    async def add_console(self, kernels: KernelHost, kernel: RemoteKernel | None) -> ConsolePane:
        """A console tab, made active; ``kernel`` None: one that is starting."""
        await import_off_loop("rtui.tui.widgets.console")
        from rtui.tui.widgets.console import ConsolePane

        if not self._console_count:
            # Once: modules, the app's widgets, the connection stack are alive for good and
            # never scanned again. (Freezing again later would also keep closed consoles.)
            gc.freeze()
        self._console_count += 1
        pane_id = f"console-{self._console_count}"
        pane = ConsolePane(kernels, kernel,
                           max_lines=self.workspace.config.settings.console_max_lines,
                           history=self.workspace.history_path(kernels.name))
        tabs = self.query_one(TabbedContent)
        # Named by host and number, known before the kernel is (a relabel would animate the
        # tab bar's underline again); the kernel's id is on the console's status line.
        label = f"{kernels.name} #{self._console_count}"
        await tabs.add_pane(TabPane(label, pane, id=pane_id))
        tabs.active = pane_id
        return pane

    async def _remove_console(self, pane: ConsolePane) -> None:
        await close_tab_of(self, pane)

    def on_console_pane_close_requested(self, message: ConsolePane.CloseRequested) -> None:
        """``ConsolePane.CloseRequested``, by handler name (the console loads on first use)."""
        self.close_console(message.pane)

    def on_console_pane_exit_asked(self, message: ConsolePane.ExitAsked) -> None:
        """``ConsolePane.ExitAsked``: exit() or quit() ran in the console."""
        self.end_console(message.pane)

    @work(group="kernels", exit_on_error=False)
    async def end_console(self, pane: ConsolePane) -> None:
        """exit()/quit(): the kernel shut down, or left running with exit(keep_kernel=True)
        (listed for k), as jupyter console does; the tab closes and one line says which."""
        asked, kernel = pane.exit_asked, pane.kernel
        if asked is None or kernel is None:
            return
        try:
            await pane.end_as_asked()
            self.notify(asked.note(pane.kernels.name, kernel.id[:8], attach="k attaches again"),
                        timeout=6)
        finally:
            await self._remove_console(pane)
            dialog = self.quit_dialog
            if dialog is not None and dialog.is_current:  # it counted this one: ask again
                dialog.dismiss(ASK_AGAIN)
        if not asked.keep_kernel:
            self.count_kernels(pane.kernels.name)

    @work(group="kernels", exit_on_error=False)
    async def close_console(self, pane: ConsolePane) -> None:
        if pane.exit_asked is not None:
            return  # it ends as its code asked (end_console), the tab with it
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
