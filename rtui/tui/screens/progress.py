"""Progress of a long remote job (environment set-up, a hub starting a server): streamed lines
and a bar when known."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Log, ProgressBar

__all__ = ["ProgressScreen"]


class ProgressScreen(ModalScreen[None]):
    """Opened and closed by the set-up it shows; nothing to answer."""

    DEFAULT_CSS = """
    ProgressScreen { align: center middle; }
    ProgressScreen > Vertical { width: 90; max-width: 100%; height: 20; max-height: 100%;
                                border: thick $accent; background: $surface; padding: 0 1; }
    ProgressScreen Log { height: 1fr; }
    ProgressScreen #title { text-style: bold; }
    ProgressScreen #hint { color: $text-muted; }
    """

    def __init__(self, title: str, *,
                 hint: str = "No key needed: this closes by itself when the set-up ends") -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint
        self.finished = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="title")
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Log(id="lines", max_lines=2000)
            # No key to press: said so, or a person waits for one.
            yield Label(self.hint, id="hint")

    def add(self, line: str, fraction: float | None) -> None:
        self.query_one(Log).write_line(line)
        if fraction is not None:
            bar = self.query_one(ProgressBar)
            bar.update(total=100, progress=round(fraction * 100))

    async def finish(self) -> None:
        """Closed now (awaited: what comes next may add to the screen under it), or as soon
        as it is on top again (a dialog may be over it: a dismiss would close that one)."""
        self.finished = True
        if self.is_active:
            await self.dismiss()

    def on_screen_resume(self) -> None:
        if self.finished:
            self.dismiss()
