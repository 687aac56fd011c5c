"""ctrl+r in the console's editor: search the history as you type, hits in the popup.

Its own state (the query, the hits) apart from the editor, which routes keys and pastes here
while a search is open and puts the chosen entry in place.
"""

from __future__ import annotations

from textual import events

from rtui.core.console.history import History
from rtui.tui.widgets.assist_popup import AssistPopup

__all__ = ["HistorySearch"]


class HistorySearch:
    """An open reverse history search: the query typed so far and the entries it matches."""

    def __init__(self, history: History, popup: AssistPopup, *, limit: int) -> None:
        self.query = ""
        self.shown: list[str] = []  # the newest first, at most ``limit``
        self.history = history
        self.popup = popup
        self.limit = limit

    def set_query(self, query: str) -> None:
        """Search for ``query`` and show the hits (or "no match")."""
        self.query = query
        self.shown = self.history.search(query)[: self.limit]
        self.popup.show(self.shown, anchor=None, title=f"search: {query}▏", empty="no match",
                        search=True)

    def take_key(self, event: events.Key) -> bool:
        """Type ``event`` into the query (a printable key or backspace): False for others,
        which end the search and do their usual job."""
        if event.is_printable and event.character is not None:
            self.set_query(self.query + event.character)
            return True
        if event.key == "backspace":
            self.set_query(self.query[:-1])
            return True
        return False

    def take_paste(self, text: str) -> None:
        """A paste adds its first line to the query."""
        self.set_query(self.query + text.partition("\n")[0])
