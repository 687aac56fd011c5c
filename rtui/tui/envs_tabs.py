"""The app's Environments tabs: one per host, opened from the host list (``v``) or the
palette; opening it again shows the same tab. A console whose cell ran ``%pip`` (or the like)
has that host's tab list again. A part of :class:`RtuiApp`, as the Files tabs are."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.widgets import TabbedContent, TabPane

from rtui.core.lazy import import_off_loop
from rtui.core.workspace import Workspace
from rtui.tui.prompter import TuiPrompter
from rtui.tui.render import ScrollingApp
from rtui.tui.tabs import close_tab_of
from rtui.tui.widgets.host_kinds import said_unavailable

if TYPE_CHECKING:  # loaded on first use (see RtuiApp)
    from rtui.tui.widgets.console import ConsolePane
    from rtui.tui.widgets.environments import EnvironmentsPane

__all__ = ["EnvsTabs"]


class EnvsTabs(ScrollingApp):
    """Environments use cases of the app; the workers that open tabs belong to the app."""

    workspace: Workspace
    prompter: TuiPrompter
    open_console: Callable[..., Any]  # the consoles' use case (ConsoleTabs)
    _envs_count: int = 0

    def envs_pane(self, name: str) -> EnvironmentsPane | None:
        """The Environments tab of host ``name``, if open."""
        for pane in self.query("EnvironmentsPane"):
            if getattr(pane, "host", None) == name:
                return pane  # type: ignore[return-value]
        return None

    @work(group="envs", exit_on_error=False)
    async def open_envs(self, name: str) -> None:
        """The host's Environments tab in view (made on first use)."""
        if said_unavailable(self, self.workspace.config.get(name), "Environments are"):
            return
        tabs = self.query_one(TabbedContent)
        pane = self.envs_pane(name)
        if pane is None:
            await self.workspace.connect(name, self.prompter)
            envs = await self.workspace.environments(name)
            await import_off_loop("rtui.tui.widgets.environments")
            from rtui.tui.widgets.environments import EnvironmentsPane

            pane = self.envs_pane(name)  # opened meanwhile (a second key press)
            if pane is None:
                self._envs_count += 1
                pane_id = f"envs-{self._envs_count}"
                pane = EnvironmentsPane(envs, self.workspace, name)
                await tabs.add_pane(TabPane(f"{name} envs", pane, id=pane_id))
                tabs.active = pane_id
                return
        tab = pane.parent
        if isinstance(tab, TabPane) and tab.id:
            tabs.active = tab.id
        pane.table.focus()

    def on_environments_pane_close_requested(
            self, message: EnvironmentsPane.CloseRequested) -> None:
        """``EnvironmentsPane.CloseRequested``, by handler name (the pane loads on first use)."""
        self.close_envs(message.pane)

    @work(group="envs", exit_on_error=False)
    async def close_envs(self, pane: EnvironmentsPane) -> None:
        await close_tab_of(self, pane)

    def on_environments_pane_console_requested(
            self, message: EnvironmentsPane.ConsoleRequested) -> None:
        """``c`` in the tab: a console in that environment."""
        self.open_console(message.host, python=message.python)

    def on_console_pane_packages_changed(self, message: ConsolePane.PackagesChanged) -> None:
        """A console's cell installed or removed packages: its host's tab lists again."""
        pane = self.envs_pane(message.host)
        if pane is not None:
            pane.refresh_envs(message.python)
