"""Closing a tab the app opened (a console, a Files or a Plots tab): one rule, kept here."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

__all__ = ["close_tab_of"]


async def close_tab_of(app: App[Any], pane: Widget) -> None:
    """Remove the tab holding ``pane`` (if it is still there) and show the hosts."""
    tab = pane.parent
    if isinstance(tab, TabPane) and tab.id and pane.is_attached:
        tabs = app.query_one(TabbedContent)
        await tabs.remove_pane(tab.id)
        tabs.active = "tab-hosts"
