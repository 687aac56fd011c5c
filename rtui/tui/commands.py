"""Command palette entries: every host action, and the app-wide ones, by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from rtui.tui.app import RtuiApp

__all__ = ["HostCommands"]

_PER_HOST = [
    ("Open a console on", "console"),
    ("Open a console in a chosen Python environment on", "console_pick"),
    ("Attach to a running kernel on", "kernels"),
    ("Check", "check"),
    ("Edit", "edit"),
    ("Delete", "delete"),
]
_GLOBAL = [
    ("Add a host", "add"),
    ("Check all hosts", "check_all"),
    ("Import hosts from ~/.ssh/config", "import"),
]


class HostCommands(Provider):
    """``ctrl+p`` then type a host name or an action."""

    def _entries(self) -> list[tuple[str, str, str | None, str]]:
        app: RtuiApp = self.app  # type: ignore[assignment]
        entries: list[tuple[str, str, str | None, str]] = [
            (text, action, None, "") for text, action in _GLOBAL
        ]
        for host in app.config.hosts:
            for verb, action in _PER_HOST:
                entries.append((f"{verb} {host.name}", action, host.name, host.address))
        return entries

    async def discover(self) -> Hits:
        app: RtuiApp = self.app  # type: ignore[assignment]
        for text, action, name, help_text in self._entries():
            yield DiscoveryHit(text, partial(app.run_host_action, action, name), help=help_text)

    async def search(self, query: str) -> Hits:
        app: RtuiApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for text, action, name, help_text in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text),
                          partial(app.run_host_action, action, name), help=help_text)
