"""The app's Plots tabs: one per console, opened from it (``f8``); opening it again shows the
same tab. A part of :class:`RtuiApp`, as the consoles and the Files tabs are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.widgets import TabbedContent, TabPane

from rtui.core.lazy import import_off_loop
from rtui.tui.render import ScrollingApp
from rtui.tui.tabs import close_tab_of

if TYPE_CHECKING:  # loaded on first use (see RtuiApp)
    from rtui.tui.widgets.console import ConsolePane
    from rtui.tui.widgets.plots import PlotsPane

__all__ = ["PlotsTabs"]


class PlotsTabs(ScrollingApp):
    """Plots use cases of the app; the workers that open tabs belong to the app."""

    def plots_pane(self, console: ConsolePane) -> PlotsPane | None:
        """The Plots tab of ``console``, if open."""
        for pane in self.query("PlotsPane"):
            if getattr(pane, "store", None) is console.model.images:
                return pane  # type: ignore[return-value]
        return None

    def on_console_pane_plots_requested(self, message: ConsolePane.PlotsRequested) -> None:
        """``ConsolePane.PlotsRequested``, by handler name (the console loads on first use)."""
        self.open_plots(message.pane)

    @work(group="plots", exit_on_error=False)
    async def open_plots(self, console: ConsolePane) -> None:
        """The console's Plots tab in view (made on first use)."""
        tabs = self.query_one(TabbedContent)
        pane = self.plots_pane(console)
        if pane is None:
            await import_off_loop("rtui.tui.widgets.plots")
            from rtui.tui.widgets.plots import PlotsPane

            tab = console.parent
            number = tab.id.rsplit("-", 1)[-1] if isinstance(tab, TabPane) and tab.id else "?"
            label = f"{console.kernels.name} #{number}"
            pane = PlotsPane(console.model.images, console.kernels.name, label,
                             geometry=console.model.geometry)
            pane_id = f"plots-{number}-{id(console)}"
            await tabs.add_pane(TabPane(f"{label} plots", pane, id=pane_id))
        parent = pane.parent
        if isinstance(parent, TabPane) and parent.id:
            tabs.active = parent.id

    def on_plots_pane_close_requested(self, message: PlotsPane.CloseRequested) -> None:
        """``PlotsPane.CloseRequested``, by handler name."""
        self.close_plots(message.pane)

    @work(group="plots", exit_on_error=False)
    async def close_plots(self, pane: PlotsPane) -> None:
        await close_tab_of(self, pane)
