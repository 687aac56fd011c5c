"""The app's file use cases that reach beyond the Files tab: edit a remote file in
``$VISUAL``/``$EDITOR`` (the terminal handed over with ``App.suspend()``), run a remote
``.py`` in the host's console, and open the Files tab where a console's kernel is (f7).
A part of :class:`RtuiApp`: their workers belong to the app, so they outlive the tab that
asked for them (an editor session outlives a Files tab closed meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import shlex
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SuspendNotSupported
from textual.widgets import TabbedContent, TabPane
from textual.worker import WorkerCancelled, WorkerFailed

from rtui.core.errors import RtuiError
from rtui.core.files.edit import Conflict, EditSession, Resolution, SyncResult, Uploaded
from rtui.core.files.paths import printable
from rtui.core.files.runfile import kernel_cwd, run_code
from rtui.tui.consoles import ConsoleTabs
from rtui.tui.prompter import ask
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen

if TYPE_CHECKING:  # loaded after the first frame
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["FileTasks", "editor_command"]


def editor_command(environ: dict[str, str] | None = None) -> list[str]:
    """``$VISUAL``, else ``$EDITOR`` (either may carry arguments: ``code --wait``), else
    the first of vi and nano found; RtuiError when there is none."""
    environ = dict(os.environ) if environ is None else environ
    for var in ("VISUAL", "EDITOR"):
        words = shlex.split(environ.get(var, ""))
        if words:
            return words
    for fallback in ("vi", "nano"):
        if shutil.which(fallback):
            return [fallback]
    raise RtuiError("no editor: set $EDITOR (or $VISUAL) to the program to edit files with")


class FileTasks(ConsoleTabs):
    """Edit, run, and files from a console."""

    # The Files tab: opened on a host, in a folder; the one of a host (the app's FilesTabs).
    open_files: Callable[..., Any]
    files_pane: Callable[[str], Any]

    # -- e: edit -----------------------------------------------------------------------------

    @work(group="edit", exit_on_error=False)
    async def edit_file(self, host: str, path: str) -> None:
        """Edit ``host:path`` in the person's editor on a private local copy, uploaded on
        each save; a change made on the host meanwhile is put to the person afterwards
        (overwrite, keep both, or cancel), never overwritten silently."""
        command = editor_command()
        files = await self.workspace.files(host)
        session = EditSession(files, path)
        where = f"{host}:{printable(path)}"
        try:
            local = await session.fetch()
            saves: list[SyncResult] = []
            stop = asyncio.Event()
            watching = asyncio.ensure_future(session.watch(saves.append, stop=stop))
            try:
                status = await self._run_editor([*command, str(local)])
            finally:
                stop.set()
                await watching  # a save being uploaded ends first
            result = await session.sync()  # what the last save left
            if isinstance(result, Conflict):
                saves.append(result)
                result = await session.resolve(result, await self._ask_conflict(host, result))
            saves.append(result)
            self._say_edited(where, session, saves, status)
        finally:
            session.close()
        self._show_folder(host, posixpath.dirname(session.path))

    async def _run_editor(self, argv: list[str]) -> int:
        """Run the editor on the terminal (the app suspended meanwhile; its loop runs on,
        watching for saves); its exit status. Without a terminal to hand over (headless,
        a web driver) it runs with none."""
        handed_over = contextlib.ExitStack()
        try:
            handed_over.enter_context(self.suspend())
            stdin = None
        except SuspendNotSupported:
            stdin = asyncio.subprocess.DEVNULL
        with handed_over:
            try:
                process = await asyncio.create_subprocess_exec(*argv, stdin=stdin)
            except OSError as exc:
                raise RtuiError(f"cannot run the editor {argv[0]!r}: {exc.strerror} "
                                "(see $VISUAL / $EDITOR)") from exc
            return await process.wait()

    async def _ask_conflict(self, host: str, conflict: Conflict) -> Resolution:
        name = printable(posixpath.basename(conflict.path))
        keep = printable(posixpath.basename(conflict.keep_both))
        options = [
            (Resolution.OVERWRITE.value, "Overwrite the host's file with my version"),
            (Resolution.KEEP_BOTH.value, f"Keep both: mine as {keep}"),
            (Resolution.CANCEL.value, "Cancel: upload nothing (my changes are dropped)"),
        ]
        # The title is one line of a dialog at 80 columns: the whole path goes below.
        choice = await ask(self, ChoiceScreen(
            f"{name} changed on {host}", options,
            hint=f"{conflict.reason}. Enter chooses, Escape cancels."))
        return Resolution(choice) if isinstance(choice, str) else Resolution.CANCEL

    def _show_folder(self, host: str, folder: str) -> None:
        """The host's Files tab lists ``folder`` again when it shows it (a file edited)."""
        pane = self.files_pane(host)
        if pane is not None and pane.path == folder:
            pane.action_refresh()

    def _say_edited(self, where: str, session: EditSession, saves: list[SyncResult],
                    status: int) -> None:
        uploads = [s for s in saves if isinstance(s, Uploaded)]
        if uploads:
            name = printable(posixpath.basename(uploads[-1].path))
            self.notify(f"Saved {name} on {session.files.name}"
                        f"{f' ({len(uploads)} uploads)' if len(uploads) > 1 else ''}", timeout=6)
        elif any(isinstance(s, Conflict) for s in saves):
            self.notify(f"{where}: nothing uploaded", severity="warning", timeout=6)
        else:
            self.notify(f"{where}: unchanged", timeout=4)
        if status != 0:
            self.notify(f"The editor exited with status {status}", severity="warning",
                        timeout=6)

    # -- enter / R on a .py: run it in the host's console ------------------------------------

    def _newest_console(self, host: str) -> ConsolePane | None:
        from rtui.tui.widgets.console import ConsolePane

        panes = [p for p in self.query(ConsolePane) if p.kernels.name == host]
        return panes[-1] if panes else None  # tabs are added in order: the last is the newest

    @work(group="runfile", exit_on_error=False)
    async def run_file(self, host: str, path: str, *, cd: bool = False) -> None:
        """Run the remote ``path`` in the newest console on ``host`` (none: ask to open
        one), shown there as a cell; ``cd``: the console's working directory moves to the
        file's folder first."""
        pane = self._newest_console(host)
        if pane is None:
            question = (f"No console is open on {host}. Open one and run "
                        f"{printable(posixpath.basename(path))} there?")
            if not await ask(self, ConfirmScreen("Run in a console", question)):
                return
            with contextlib.suppress(WorkerCancelled, WorkerFailed):  # said by the app
                await self.open_console(host).wait()
            pane = self._newest_console(host)
            if pane is None:
                return
        kind = pane.kernel.kind if pane.kernel is not None else "ipykernel"
        pane.run_code(run_code(path, kind=kind, cd=cd))
        tab = pane.parent
        if isinstance(tab, TabPane) and tab.id:
            self.query_one(TabbedContent).active = tab.id

    # -- f7 in a console: its host's files where its kernel is --------------------------------

    def on_console_pane_files_requested(self, message: ConsolePane.FilesRequested) -> None:
        """``ConsolePane.FilesRequested``, by handler name (the console loads on first use)."""
        self.files_from_console(message.pane)

    @work(group="files", exit_on_error=False)
    async def files_from_console(self, pane: ConsolePane) -> None:
        """Open the host's Files tab in the kernel's working directory: asked of the kernel
        (silently), else the one the host's agent lists for it, else the home."""
        kernel = pane.kernel
        cwd: str | None = None
        if kernel is not None:
            with contextlib.suppress(RtuiError):
                cwd = await kernel_cwd(kernel.session)
            if cwd is None:
                with contextlib.suppress(RtuiError):
                    records = await pane.kernels.list()
                    cwd = next((r.cwd for r in records if r.id == kernel.id), None)
        self.open_files(pane.kernels.name, cwd)

    # -- t in the Files tab: the transfers panel ---------------------------------------------

    def show_transfers(self) -> None:
        """The transfers panel at the bottom of the tab in view, focused (again: closed)."""
        from rtui.tui.widgets.transfers import toggle_transfers

        tab = self.query_one(TabbedContent).active_pane
        if tab is not None:
            toggle_transfers(tab, self.workspace.transfers)
