"""A JupyterHub starting the user's server while a console waits: the hub's progress events
(DESIGN20 §3: "Server requested", "Spawning server...", ready) in the progress screen the
environment set-up uses, opened at the first event only (a running server sends none, so
a console on it opens with no flash of a dialog), closed when the connect ends either way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import App

if TYPE_CHECKING:
    from rtui.core.jupyter.hub import HubProgress
    from rtui.tui.screens.progress import ProgressScreen

__all__ = ["HubStartProgress"]


class HubStartProgress:
    """``show`` is the connect's ``on_progress``; ``close`` once the connect returned."""

    def __init__(self, app: App[Any], host: str) -> None:
        self.app = app
        self.host = host
        self.screen: ProgressScreen | None = None
        self.events: list[HubProgress] = []  # what the hub said, in order
        self.closed = False

    def show(self, event: HubProgress) -> None:
        if self.closed:  # the stream's last events may come after the connect returned
            return
        self.events.append(event)
        if self.screen is None:
            from rtui.tui.screens.progress import ProgressScreen

            self.screen = ProgressScreen(
                f"{self.host}: the hub is starting your server",
                hint="No key needed: the console opens when the server is up")
            self.app.push_screen(self.screen)
        state = " (ready)" if event.ready else " (failed)" if event.failed else ""
        line = f"{event.progress:3d}%  {event.message or 'no message'}{state}"
        fraction = max(0, min(event.progress, 100)) / 100
        self.app.call_after_refresh(self._add, self.screen, line, fraction)

    @staticmethod
    def _add(screen: ProgressScreen, line: str, fraction: float) -> None:
        if screen.is_attached:  # composed, and not closed meanwhile
            screen.add(line, fraction)

    async def close(self) -> None:
        self.closed = True
        screen, self.screen = self.screen, None
        if screen is not None:
            await screen.finish()
