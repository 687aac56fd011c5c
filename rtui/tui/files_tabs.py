"""The app's Files tabs: one per host, opened from the host list (``f``), the palette or a
console; opening it again shows the same tab, moved to the folder asked for. A part of
:class:`RtuiApp`, as the consoles are (``rtui.tui.consoles``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.widgets import TabbedContent, TabPane

from rtui.core.lazy import import_off_loop
from rtui.core.workspace import Workspace
from rtui.tui.prompter import TuiPrompter
from rtui.tui.render import ScrollingApp
from rtui.tui.tabs import close_tab_of
from rtui.tui.widgets.host_kinds import said_unavailable

if TYPE_CHECKING:  # loaded on first use (see RtuiApp)
    from rtui.tui.widgets.files import FilesPane

__all__ = ["FilesTabs"]


class FilesTabs(ScrollingApp):
    """Files use cases of the app; the workers that open tabs belong to the app."""

    workspace: Workspace
    prompter: TuiPrompter
    _files_count: int = 0

    def files_pane(self, name: str) -> FilesPane | None:
        """The Files tab of host ``name``, if open."""
        for pane in self.query("FilesPane"):
            if getattr(pane, "host", None) == name:
                return pane  # type: ignore[return-value]
        return None

    @work(group="files", exit_on_error=False)
    async def open_files(self, name: str, path: str | None = None) -> None:
        """The host's Files tab in view, at ``path`` (None: where it was, or the home)."""
        if said_unavailable(self, self.workspace.config.get(name), "Files are"):
            return
        tabs = self.query_one(TabbedContent)
        pane = self.files_pane(name)
        if pane is None:
            await self.workspace.connect(name, self.prompter)
            files = await self.workspace.files(name)
            await import_off_loop("rtui.tui.widgets.files")
            from rtui.tui.widgets.files import FilesPane

            pane = self.files_pane(name)  # opened meanwhile (a second key press)
            if pane is None:
                self._files_count += 1
                pane_id = f"files-{self._files_count}"
                pane = FilesPane(files, self.workspace, path or "~")
                await tabs.add_pane(TabPane(f"{name} files", pane, id=pane_id))
                tabs.active = pane_id
                return
        if path is not None:
            pane.go(path)
        tab = pane.parent
        if isinstance(tab, TabPane) and tab.id:
            tabs.active = tab.id
        pane.file_list.focus()

    def on_files_pane_close_requested(self, message: FilesPane.CloseRequested) -> None:
        """``FilesPane.CloseRequested``, by handler name (the pane loads on first use)."""
        self.close_files(message.pane)

    @work(group="files", exit_on_error=False)
    async def close_files(self, pane: FilesPane) -> None:
        await close_tab_of(self, pane)
