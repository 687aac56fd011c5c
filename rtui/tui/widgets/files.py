"""A host's files: the folder's entries, filtered as you type, with marks for several; copy,
move, rename and delete on the host, new folders and files, upload and download
(``file_ops``); a preview of the file under the cursor.

The remote work runs in this pane's workers (a listing dies with its tab; transfers belong to
the workspace's queue, which outlives tabs). Workers post messages; the widgets change only in
their handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from rtui.core.errors import RtuiError
from rtui.core.files.model import Entry
from rtui.core.files.paths import Remote, printable, remote_join, remote_parent, shown
from rtui.tui.widgets.file_list import FileList
from rtui.tui.widgets.file_ops import FileOperations
from rtui.tui.widgets.file_preview import FilePreview, PreviewLines

if TYPE_CHECKING:
    from rtui.core.files.service import HostFiles
    from rtui.core.workspace import Workspace

__all__ = ["FilesPane"]

_PREVIEW_DELAY = 0.15  # s the cursor rests before the preview loads (no read per key held)


class FilesFilter(Input):
    """The filter: Enter keeps it and goes back to the list, Escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", id="files.filter_clear"),
        Binding("down", "done", "Back to the list", id="files.filter_done", show=False),
    ]

    def action_clear(self) -> None:
        self.value = ""
        self.action_done()

    def action_done(self) -> None:
        self.post_message(self.Submitted(self, self.value))


class FilesPane(FileOperations):
    """The files of one host, one folder at a time."""

    DEFAULT_CSS = """
    FilesPane { layout: vertical; height: 1fr; }
    FilesPane #files-path { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    FilesPane #files-filter { height: 1; border: none; padding: 0 1; }
    FilesPane #files-filter.-hidden { display: none; }
    FilesPane #files-body { height: 1fr; }
    FilesPane FileList { width: 1fr; height: 1fr; }
    FilesPane FilePreview.-hidden { display: none; }
    FilesPane #files-status { height: 1; background: $panel; color: $text-muted;
                              padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("backspace,left", "parent", "Parent folder", id="files.parent", show=False),
        Binding("slash", "filter", "Filter", id="files.filter"),
        Binding("full_stop", "hidden", "Hidden files on/off", id="files.hidden", show=False),
        Binding("s", "sort", "Sort: name, size, time", id="files.sort", show=False),
        Binding("S", "sort_reverse", "Reverse the sort", id="files.sort_reverse", show=False),
        Binding("space", "mark", "Mark", id="files.mark", show=False),
        Binding("ctrl+a", "mark_all", "Mark all", id="files.mark_all", show=False),
        Binding("escape", "unmark", "Unmark all / unfilter", id="files.unmark", show=False),
        Binding("c", "copy", "Copy to…", id="files.copy", show=False),
        Binding("m", "move", "Move to…", id="files.move", show=False),
        Binding("r", "rename", "Rename", id="files.rename", show=False),
        Binding("d,delete", "delete", "Delete", id="files.delete", show=False),
        Binding("n", "mkdir", "New folder", id="files.mkdir", show=False),
        Binding("N", "new_file", "New file", id="files.new_file", show=False),
        Binding("u", "upload", "Upload", id="files.upload"),
        Binding("g", "download", "Download", id="files.download"),
        Binding("e", "edit", "Edit", id="files.edit", show=False),
        Binding("R", "run", "Run in the folder", id="files.run", show=False),
        Binding("t", "transfers", "Transfers", id="files.transfers", show=False),
        Binding("y", "copy_path", "Copy the path", id="files.copy_path", show=False),
        Binding("colon", "goto", "Go to path", id="files.goto", show=False),
        Binding("v", "preview", "Preview", id="files.preview"),
        Binding("f5", "refresh", "Refresh", id="files.refresh", show=False),
        Binding("f4", "close_files", "Close", id="files.close", show=False),
    ]

    @dataclass
    class CloseRequested(Message):
        pane: FilesPane

    @dataclass
    class _Listing(Message):
        generation: int
        path: str  # resolved: absolute
        home: str  # the host's home, shown as ~

    @dataclass
    class _Batch(Message):
        generation: int
        entries: list[Entry]

    @dataclass
    class _Listed(Message):
        generation: int
        error: str | None

    def __init__(self, files: HostFiles, workspace: Workspace, path: str = "~") -> None:
        super().__init__()
        self.files = files
        self.workspace = workspace
        self.host = files.name
        self.path = path  # the folder shown (absolute once listed)
        self.home: str | None = None  # the host's home (shown as ~), once listed
        self._start = path
        self._generation = 0
        self._select: str | None = None  # the name the next listing puts the cursor on
        self._preview_timer: Any = None
        self._unsubscribe: Callable[[], None] = lambda: None
        self._file_list = FileList(id="files-list")
        self._file_preview = FilePreview(id="files-preview", classes="-hidden")

    def compose(self) -> ComposeResult:
        yield Static(f"{self.host}:", id="files-path", markup=False)
        yield FilesFilter(placeholder="filter by name (Enter keeps it, Escape clears it)",
                          id="files-filter", classes="-hidden")
        with Horizontal(id="files-body"):
            yield self._file_list
            yield self._file_preview
        yield Static("", id="files-status", markup=False)

    @property
    def preview(self) -> FilePreview:
        return self._file_preview

    def on_mount(self) -> None:
        self.file_list.focus()
        self.go(self._start)
        self._unsubscribe = self.workspace.transfers.subscribe(self.on_job)

    def on_unmount(self) -> None:
        self._unsubscribe()

    # -- the folder ---------------------------------------------------------------------------

    def go(self, path: str, select: str | None = None) -> None:
        """Show folder ``path`` (``~``, relative to the one shown, or absolute)."""
        if not path.startswith(("/", "~")):
            path = remote_join(self.path, path)
        self._generation += 1
        self._list(self._generation, path, select)

    @work(group="list", exclusive=True, exit_on_error=False)
    async def _list(self, generation: int, path: str, select: str | None) -> None:
        """The folder's entries, batch by batch as the host sends them. A folder that cannot
        be listed at all leaves the one shown as it was (the app says why)."""
        resolved = await self.files.resolve(path)
        home = await self.files.home()  # known by now: no round trip
        began, error = False, None
        try:
            async for batch in self.files.list(resolved):
                if not began:
                    began = True
                    self.post_message(self._Listing(generation, resolved, home))
                self.post_message(self._Batch(generation, list(batch)))
        except RtuiError as failure:
            if not began:
                raise
            error = str(failure)  # cut short: what came is shown, and why no more
        if not began:
            self.post_message(self._Listing(generation, resolved, home))
        self.post_message(self._Listed(generation, error))

    @on(_Listing)
    def _listing(self, message: _Listing) -> None:
        if message.generation != self._generation:
            return
        select, self._select = self._select, None
        if select is None and remote_parent(self.path) == message.path != self.path:
            select = self.path.rsplit("/", 1)[-1]  # up a level: the cursor on where we were
        self.path, self.home = message.path, message.home
        self.query_one("#files-path", Static).update(shown(Remote(self.host, self.path),
                                                          self.home))
        self.file_list.start(select=select)
        self.preview.clear()

    @on(_Batch)
    def _batch(self, message: _Batch) -> None:
        if message.generation == self._generation:
            self.file_list.add(message.entries)

    @on(_Listed)
    def _listed(self, message: _Listed) -> None:
        if message.generation != self._generation:
            return
        self.file_list.finish()
        if message.error:
            self.notify(message.error, title="Files", severity="error", timeout=10)
            self._status(message.error)

    def _reload(self, select: str | None = None) -> None:
        """The folder listed again, the cursor kept (or put on ``select``)."""
        current = self.file_list.current
        self._select = select or (current.name if current is not None else None)
        self.go(self.path)

    # -- the status line and the preview ------------------------------------------------------

    @on(FileList.Changed)
    def _counts(self, message: FileList.Changed) -> None:
        message.stop()
        self._status()

    def _status(self, note: str = "") -> None:
        files = self.file_list
        hidden = 0 if files.show_hidden else files.hidden_count
        listed = files.total - hidden
        parts = [f"{len(files.view):,} of {listed:,} match" if files.filter_text
                 else f"{listed:,} {'entry' if listed == 1 else 'entries'}"]
        if hidden:
            parts.append(f"{hidden:,} hidden")
        if files.marked:
            parts.append(f"{len(files.marked):,} marked")
        parts.append(f"by {files.sort_key.value}{' reversed' if files.reverse else ''}")
        if files.filter_text:
            parts.append(f"filter: {files.filter_text}")
        if not files.complete:
            parts.append("listing…")
        if note:
            parts.append(note)
        self.query_one("#files-status", Static).update(" · ".join(parts))

    @on(FileList.Highlighted)
    def _moved(self, message: FileList.Highlighted) -> None:
        message.stop()
        if self.preview.has_class("-hidden"):
            return
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(_PREVIEW_DELAY, self._show_preview)

    def _show_preview(self) -> None:
        entry = self.file_list.current
        if entry is None:
            self.preview.clear()
        else:
            self.preview.show(self.files, self._full(entry), entry)

    @on(FileList.Selected)
    def _open(self, message: FileList.Selected) -> None:
        """Enter: a folder opens, a ``.py`` file runs in the host's console, another file
        shows in the preview."""
        message.stop()
        entry = message.entry
        if entry.is_dir:
            self.go(self._full(entry))
        elif entry.name.endswith(".py") and self._can("run_file"):
            self._hand_off("run_file", self.host, self._full(entry), cd=False)
        else:
            self.preview.remove_class("-hidden")
            self._show_preview()
            self._focus(self.preview.lines)

    @on(PreviewLines.Leave)
    def _leave_preview(self, message: PreviewLines.Leave) -> None:
        message.stop()
        self._focus(self.file_list)

    def action_preview(self) -> None:
        """Preview on; on already: off."""
        preview = self.preview
        if preview.has_class("-hidden"):
            preview.remove_class("-hidden")
            self._show_preview()
        else:
            preview.add_class("-hidden")
            preview.clear()
            self._focus(self.file_list)

    def _focus(self, widget: Widget) -> None:
        """Focus ``widget`` now (``focus()`` waits for the keys already queued)."""
        self.screen.set_focus(widget)

    def on_key(self, event: events.Key) -> None:
        """``/`` and what is typed right after it (a paste, a quick typist, tmux's
        send-keys) reach the list before the filter can have the focus, and the keys' bindings
        run later still: ``/`` opens the filter as it passes here, and the printable keys
        behind it go on to the filter, in order, rather than to the list's bindings."""
        box = self.query_one(FilesFilter)
        if self.screen.focused is box:
            if event.is_printable and event.character:
                event.stop()
                event.prevent_default()
                box.insert_text_at_cursor(event.character)
        elif event.key == "slash":
            event.stop()
            event.prevent_default()
            self.action_filter()

    # -- keys on the list ---------------------------------------------------------------------

    def action_parent(self) -> None:
        if self.path != "/":
            self.go(remote_parent(self.path))

    def action_filter(self) -> None:
        box = self.query_one(FilesFilter)
        box.remove_class("-hidden")
        self._focus(box)

    @on(Input.Changed, "#files-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.file_list.set_filter(event.value)

    @on(Input.Submitted, "#files-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.set_class(not event.value, "-hidden")
        self._focus(self.file_list)

    def action_hidden(self) -> None:
        files = self.file_list
        files.set_hidden(not files.show_hidden)

    def action_sort(self) -> None:
        files = self.file_list
        files.set_sort(files.sort_key.next(), files.reverse)

    def action_sort_reverse(self) -> None:
        files = self.file_list
        files.set_sort(files.sort_key, not files.reverse)

    def action_mark(self) -> None:
        self.file_list.toggle_mark()

    def action_mark_all(self) -> None:
        self.file_list.mark_all()

    def action_unmark(self) -> None:
        if not self.file_list.clear_marks() and self.file_list.filter_text:
            self.query_one(FilesFilter).action_clear()

    def action_refresh(self) -> None:
        self._reload()

    def action_close_files(self) -> None:
        self.post_message(self.CloseRequested(self))

    def action_copy_path(self) -> None:
        """The path under the cursor to the clipboard (the terminal's, OSC 52)."""
        entry = self.file_list.current
        path = self._full(entry) if entry is not None else self.path
        self.app.copy_to_clipboard(path)
        self.notify(f"Copied {printable(path)}", timeout=3)

    # -- what other parts do: edit, run, transfers (the app's, when it has them) -------------

    def _hand_off(self, method: str, *args: Any, **kwargs: Any) -> None:
        """The app's ``method``: another part's use case (edit, run, transfers)."""
        getattr(self.app, method)(*args, **kwargs)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Edit, run and the transfers panel are keys once the app has them."""
        needs = {"edit": "edit_file", "run": "run_file", "transfers": "show_transfers"}
        return self._can(needs[action]) if action in needs else True

    def action_edit(self) -> None:
        entry = self._one_file("edit")
        if entry is not None:
            self._hand_off("edit_file", self.host, self._full(entry))

    def action_run(self) -> None:
        """The ``.py`` file under the cursor, run in the host's console from its folder."""
        entry = self._one_file("run")
        if entry is not None:
            self._hand_off("run_file", self.host, self._full(entry), cd=True)

    def action_transfers(self) -> None:
        self._hand_off("show_transfers")

    def _one_file(self, verb: str) -> Entry | None:
        entry = self.file_list.current
        if entry is None or entry.is_dir:
            self.notify(f"Nothing to {verb}: put the cursor on a file", severity="warning")
            return None
        return entry

    @work(group="files-op", exit_on_error=False)
    async def action_goto(self) -> None:
        path = await self._ask_text(f"Go to a folder on {self.host}",
                                    "Path (~ is your home):", self.path)
        if path is not None:
            self.go(path)

    @on(FileOperations.Done)
    def _done(self, message: FileOperations.Done) -> None:
        self.notify(message.note, timeout=4)
        self._reload(message.select)

    @on(FileOperations.Busy)
    def _busy(self, message: FileOperations.Busy) -> None:
        self._status(message.note)

    @on(FileOperations.Transferred)
    def _transferred(self, message: FileOperations.Transferred) -> None:
        if message.folder == self.path:
            self._reload()

    # -- failures -----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed operation is told where the app tells every failure (its handler); the
        status line forgets the operation's "…" note."""
        if event.state is WorkerState.ERROR:
            self._status()
            self.app.post_message(Worker.StateChanged(event.worker, event.state))
