"""Command palette entries: every action of the host action table, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from rtui.tui.actions import HOST_ACTIONS, LIST_ACTIONS, ActionTarget

__all__ = ["HostCommands"]


class HostCommands(Provider):
    """``ctrl+p`` then type a host name or an action."""

    def _entries(self) -> list[tuple[str, Callable[[], None], str]]:
        """(text, what it runs, help): the list actions, then each host's actions."""
        app = cast(ActionTarget, self.app)  # the palette is RtuiApp's
        entries: list[tuple[str, Callable[[], None], str]] = [
            (action.palette, partial(action.run, app, None), "") for action in LIST_ACTIONS
        ]
        for host in app.config.hosts:
            for host_action in HOST_ACTIONS:
                entries.append((f"{host_action.palette} {host.name}",
                                partial(host_action.run, app, host), host.address))
        return entries

    async def discover(self) -> Hits:
        for text, command, help_text in self._entries():
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command, help_text in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, help=help_text)
