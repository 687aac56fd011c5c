"""What the Files tab does to a host's files: copy, move, rename and delete there, new
folders and files, upload and download through the workspace's transfer queue. A part of
:class:`FilesPane` (its keys are the pane's); each operation is a worker of the pane that
asks in a dialog, acts, and posts what happened."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.widget import Widget

from rtui.core.files.model import Entry
from rtui.core.files.paths import Local, Location, Remote, printable, remote_join, shown
from rtui.core.units import byte_size
from rtui.tui.prompter import ask
from rtui.tui.screens.prompts import ConfirmScreen, TextPromptScreen
from rtui.tui.widgets.file_list import FileList

if TYPE_CHECKING:
    from rtui.core.files.queue import Job
    from rtui.core.files.service import HostFiles
    from rtui.core.workspace import Workspace

__all__ = ["FileOperations"]

_LISTED_NAMES = 6  # names a delete's question shows before "and N more"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class FileOperations(Widget):
    """The operations of :class:`FilesPane` on the folder it shows (``path``)."""

    files: HostFiles
    workspace: Workspace
    host: str
    path: str
    home: str | None

    @dataclass
    class Done(Message):
        """An operation ended: say so, list the folder again, put the cursor on ``select``."""

        note: str
        select: str | None = None

    @dataclass
    class Busy(Message):
        """An operation is under way (``note``), or ended (empty)."""

        note: str = ""

    @dataclass
    class Transferred(Message):
        """A transfer into ``folder`` of this host ended."""

        folder: str

    _file_list: FileList

    @property
    def file_list(self) -> FileList:
        """The list: made with the pane, so there before the pane's compose runs."""
        return self._file_list

    def _full(self, entry: Entry) -> str:
        return remote_join(self.path, entry.name)

    def _can(self, method: str) -> bool:
        """Whether the app has ``method`` (another part's use case: edit, run, transfers)."""
        return callable(getattr(self.app, method, None))

    # -- on the host ----------------------------------------------------------------------------

    async def _ask_text(self, title: str, prompt: str, value: str = "") -> str | None:
        answer = await ask(self.app, TextPromptScreen(title, prompt, password=False,
                                                      value=value))
        return answer.strip() or None if isinstance(answer, str) else None

    def _where(self, text: str) -> str:
        """A path typed in a prompt: ``~``, absolute, or relative to the folder shown."""
        return text if text.startswith(("/", "~")) else remote_join(self.path, text)

    def _chosen(self, verb: str) -> list[Entry]:
        chosen = self.file_list.chosen()
        if not chosen:
            self.notify(f"Nothing to {verb}", severity="warning")
        return chosen

    @staticmethod
    def _names(entries: list[Entry]) -> str:
        if len(entries) == 1:
            return printable(entries[0].name)
        return f"{len(entries)} items"

    @work(group="files-op", exit_on_error=False)
    async def action_copy(self) -> None:
        chosen = self._chosen("copy")
        if not chosen:
            return
        dest = await self._ask_text(f"Copy {self._names(chosen)} on {self.host}",
                                    "To (a folder, or a new name for one item):",
                                    self.path + "/")
        if dest is None:
            return
        self.post_message(self.Busy(f"copying {self._names(chosen)}…"))
        skipped = await self.files.copy([self._full(e) for e in chosen], self._where(dest))
        left_out = (f" ({len(skipped)} special file(s), FIFO, socket or device, left out)"
                    if skipped else "")
        self.post_message(self.Done(f"Copied {self._names(chosen)} to {printable(dest)}"
                                    f"{left_out}"))

    @work(group="files-op", exit_on_error=False)
    async def action_move(self) -> None:
        chosen = self._chosen("move")
        if not chosen:
            return
        dest = await self._ask_text(f"Move {self._names(chosen)} on {self.host}",
                                    "To (a folder, or a new name for one item):",
                                    self.path + "/")
        if dest is None:
            return
        for entry in chosen:
            await self.files.rename(self._full(entry), self._where(dest))
        self.post_message(self.Done(f"Moved {self._names(chosen)} to {printable(dest)}"))

    @work(group="files-op", exit_on_error=False)
    async def action_rename(self) -> None:
        entry = self.file_list.current
        if entry is None:
            return
        name = await self._ask_text(f"Rename {printable(entry.name)}", "New name:", entry.name)
        if name is None or name == entry.name:
            return
        await self.files.rename(self._full(entry), self._where(name))
        self.post_message(self.Done(f"Renamed to {printable(name)}", select=name))

    @work(group="files-op", exit_on_error=False)
    async def action_delete(self) -> None:
        """Delete what is marked (or under the cursor), once the person has seen what goes:
        how many files and folders and their size (counted for 0.5 s at most)."""
        chosen = self._chosen("delete")
        if not chosen:
            return
        paths = [self._full(e) for e in chosen]
        self.post_message(self.Busy("counting what would go…"))
        usage = await self.files.du(paths, time_limit=0.5)
        self.post_message(self.Busy())
        at_least = "" if usage.complete else "at least "
        names = [printable(e.name) + ("/" if e.is_dir else "") for e in chosen[:_LISTED_NAMES]]
        if len(chosen) > _LISTED_NAMES:
            names.append(f"and {len(chosen) - _LISTED_NAMES} more")
        counted = [_count(usage.files, "file")] + (
            [_count(usage.dirs, "folder")] if usage.dirs else [])
        question = (f"Delete from {self.host}:{printable(self.path)}\n  " + "\n  ".join(names)
                    + f"\n\nThat is {at_least}{' and '.join(counted)}, {at_least}"
                    f"{byte_size(usage.bytes)} on disk. It cannot be undone.")
        if not await ask(self.app, ConfirmScreen("Delete", question)):
            return
        self.post_message(self.Busy(f"deleting {self._names(chosen)}…"))
        await self.files.remove(paths, recursive=True)
        self.file_list.marked.clear()
        self.post_message(self.Done(f"Deleted {self._names(chosen)}"))

    @work(group="files-op", exit_on_error=False)
    async def action_mkdir(self) -> None:
        name = await self._ask_text(f"New folder in {printable(self.path)}", "Name:")
        if name is None:
            return
        await self.files.mkdir(self._where(name), parents=True)
        self.post_message(self.Done(f"Made {printable(name)}", select=name.split("/")[0]))

    @work(group="files-op", exit_on_error=False)
    async def action_new_file(self) -> None:
        name = await self._ask_text(f"New file in {printable(self.path)}", "Name:")
        if name is None:
            return
        path = self._where(name)
        if await self.files.exists(path):
            self.notify(f"{printable(name)} exists already", severity="error")
            return
        await self.files.write_small(path, b"")
        self.post_message(self.Done(f"Made {printable(name)}", select=name))

    # -- transfers ----------------------------------------------------------------------------

    @work(group="files-op", exit_on_error=False)
    async def action_upload(self) -> None:
        """A local file or folder into the folder shown, through the transfer queue."""
        text = await self._ask_text(f"Upload to {self.host}:{printable(self.path)}",
                                    "Local file or folder:", str(Path.cwd()) + os.sep)
        if text is not None:
            self._upload(text)

    def _upload(self, text: str) -> None:
        local = Path(text).expanduser()
        if not local.exists():
            self.notify(f"{text}: no such file or folder here", severity="error")
            return
        self._submit((Local(str(local)),), Remote(self.host, self.path),
                     recursive=local.is_dir(), what=f"upload of {local.name}")

    @work(group="files-op", exit_on_error=False)
    async def action_download(self) -> None:
        """What is marked (or under the cursor) into a local folder, through the queue."""
        chosen = self._chosen("download")
        if not chosen:
            return
        downloads = Path.home() / "Downloads"
        start = downloads if downloads.is_dir() else Path.cwd()
        text = await self._ask_text(f"Download {self._names(chosen)} from {self.host}",
                                    "To the local folder:", str(start))
        if text is not None:
            self._download(chosen, text)

    def _download(self, chosen: list[Entry], text: str) -> None:
        folder = Path(text).expanduser()
        if not folder.is_dir():
            self.notify(f"{text}: not a folder here", severity="error")
            return
        self._submit(tuple(Remote(self.host, self._full(e)) for e in chosen), Local(str(folder)),
                     recursive=any(e.is_dir for e in chosen),
                     what=f"download of {self._names(chosen)}")
        self.file_list.clear_marks()

    def _submit(self, sources: tuple[Location, ...], dest: Location, *, recursive: bool,
                what: str) -> None:
        from rtui.core.files.queue import describe
        from rtui.core.files.transfer import TransferSpec

        spec = TransferSpec(sources=sources, dest=dest, recursive=recursive)
        home = self.home

        def show(location: Location) -> str:
            here = isinstance(location, Remote) and location.host == self.host
            return shown(location, home if here else None)

        self.workspace.transfers.submit(spec, title=describe(spec, show))
        keys = " (t shows the transfers)" if self._can("show_transfers") else ""
        self.notify(f"Queued: {printable(what)}{keys}", timeout=4)

    def on_job(self, job: Job) -> None:
        """The queue's news (on the app's loop): a finished upload to this host is told."""
        dest = job.spec.dest
        if job.state == "done" and isinstance(dest, Remote) and dest.host == self.host:
            self.post_message(self.Transferred(dest.path))
