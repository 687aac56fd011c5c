"""The Files tab's edit, run and transfers keys, and f7 from a console, with the pilot against
the real sshd and a real kernel: ``e`` with EDITOR set to a small script that edits and
exits (a save is uploaded while it runs; a change on the host meanwhile is put to the
person), Enter and ``R`` on a ``.py`` run it in the host's console, f7 opens the Files tab
where the kernel is, and the transfers panel shows a job and cancels it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import TabbedContent

from rtui.core.config.store import HostStore
from rtui.core.files.paths import Local, Remote
from rtui.core.files.transfer import TransferSpec
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen
from rtui.tui.widgets.console import ConsolePane
from rtui.tui.widgets.files import FilesPane
from rtui.tui.widgets.transfers import TransfersPanel
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, screen_lines, until

SIZE = (80, 24)

# An editor: appends a line and saves, then waits (as a person would, editing on) until
# that save is on the host; with "conflict", someone else then changes the host's file and
# it saves once more before it exits.
EDITOR = """#!{python}
import os, sys, time
local, remote, log = sys.argv[-1], os.environ["EDIT_REMOTE"], os.environ["EDIT_LOG"]
with open(local, "a") as f:
    f.write("mine\\n")
deadline = time.monotonic() + 20
while open(remote).read() != open(local).read():
    if time.monotonic() > deadline:
        open(log, "a").write("not uploaded while the editor ran\\n")
        sys.exit(3)
    time.sleep(0.05)
open(log, "a").write("uploaded while the editor ran\\n")
if os.environ.get("EDIT_MODE") == "conflict":
    with open(remote, "a") as f:
        f.write("theirs\\n")
    with open(local, "a") as f:
        f.write("again\\n")
"""


def _app(sshd: SSHD, tmp_path: Path, home: Path) -> RtuiApp:
    trust(sshd, home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    return RtuiApp(store, check_on_start=False)


def _edit_ended(app: RtuiApp) -> bool:
    return not any(w.group == "edit" and not w.is_finished for w in app.workers)


async def _files_at(pilot: Any, app: RtuiApp, folder: Path, name: str) -> FilesPane:
    """The host's Files tab (f on the host list) at ``folder``, the cursor on ``name``."""
    await pilot.press("f")
    await until(lambda: bool(app.query(FilesPane)))
    pane = app.query_one(FilesPane)
    await until(lambda: pane.file_list.complete)
    app.open_files("lab", str(folder))
    await until(lambda: pane.path == str(folder) and pane.file_list.complete)
    pane.file_list.select_name(name)
    await until(lambda: getattr(pane.file_list.current, "name", None) == name)
    return pane


async def test_e_edits_in_the_editor_uploads_each_save_and_asks_on_a_conflict(
    sshd: SSHD, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = sshd.remote_home / f"edit-{tmp_path.name}"
    folder.mkdir()
    remote = folder / "notes.txt"
    remote.write_text("first\n")
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR.format(python=sys.executable))
    editor.chmod(0o755)
    log = tmp_path / "editor.log"
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{editor} --wait")  # arguments are kept
    monkeypatch.setenv("EDIT_REMOTE", str(remote))
    monkeypatch.setenv("EDIT_LOG", str(log))
    app = _app(sshd, tmp_path, isolated_home)
    async with app.run_test(size=SIZE) as pilot:
        files = await _files_at(pilot, app, folder, "notes.txt")
        await pilot.press("e")
        await until(lambda: log.exists() and "\n" in log.read_text())
        assert log.read_text() == "uploaded while the editor ran\n"
        await until(lambda: _edit_ended(app))
        assert remote.read_text() == "first\nmine\n"
        assert [p.name for p in folder.iterdir()] == ["notes.txt"]  # no temp left

        # Someone changes it on the host while it is edited: asked, and both kept.
        monkeypatch.setenv("EDIT_MODE", "conflict")
        await pilot.press("e")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        dialog = app.screen
        assert isinstance(dialog, ChoiceScreen)
        assert dialog.title_text == "notes.txt changed on lab"
        assert f"{remote} changed on the host" in dialog.hint
        assert remote.read_text() == "first\nmine\nmine\ntheirs\n"  # not overwritten
        await pilot.press("down", "enter")  # keep both
        await until(lambda: _edit_ended(app))
        assert len(list(folder.iterdir())) == 2
        kept = next(p for p in folder.iterdir() if p != remote)
        assert kept.name.startswith("notes (rtui ") and kept.name.endswith(").txt")
        assert kept.read_text() == "first\nmine\nmine\nagain\n"
        await until(lambda: kept.name in [e.name for e in files.file_list.view])  # listed again
        assert remote.read_text() == "first\nmine\nmine\ntheirs\n"
        assert log.read_text().count("uploaded while the editor ran") == 2
        # The local copies are gone with their private directories.
        assert not list((Path(os.environ["XDG_RUNTIME_DIR"]) / "rtui" / "edit").iterdir())


async def test_enter_and_R_run_a_py_in_the_console_and_f7_opens_its_cwd(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    folder = sshd.remote_home / f"run-{tmp_path.name}"
    folder.mkdir()
    (folder / "hello.py").write_text("import os\nprint('hello from', os.getcwd())\n")
    app = _app(sshd, tmp_path, isolated_home)
    async with app.run_test(size=SIZE) as pilot:
        files = await _files_at(pilot, app, folder, "hello.py")
        await pilot.press("enter")  # no console on lab yet: asked to open one
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: bool(app.query(ConsolePane)), timeout=30)
        console = app.query_one(ConsolePane)
        await until(lambda: "hello from" in output(console), timeout=30)
        assert f"%run {folder}/hello.py" in output(console)
        assert f"hello from {folder}" not in output(console).splitlines()  # the cwd stays

        app.open_files("lab")  # back to the Files tab; R runs it from its folder
        await until(lambda: files.file_list.has_focus)
        await pilot.press("R")
        await until(lambda: f"hello from {folder}" in output(console).splitlines(), timeout=30)
        assert len(app.query(ConsolePane)) == 1  # the same console

        app.open_files("lab", str(sshd.remote_home))  # the tab elsewhere; f7 brings it back
        await until(lambda: files.path == str(sshd.remote_home))
        tab = console.parent
        assert tab is not None and tab.id is not None
        app.query_one(TabbedContent).active = tab.id
        await pilot.pause()
        await pilot.press("f7")
        await until(lambda: files.path == str(folder))
        await until(lambda: files.file_list.has_focus)
        await console.shutdown_kernel()


async def test_the_transfers_panel_shows_a_job_and_cancels_and_retries_it(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    folder = sshd.remote_home / f"big-{tmp_path.name}"
    folder.mkdir()
    big = folder / "big.bin"
    with big.open("wb") as f:  # sparse: a long download that costs the host no disk
        f.truncate(1 << 30)
    app = _app(sshd, tmp_path, isolated_home)
    async with app.run_test(size=SIZE) as pilot:
        await _files_at(pilot, app, folder, "big.bin")
        queue = app.workspace.transfers
        job = queue.submit(TransferSpec((Remote("lab", str(big)),), Local(str(tmp_path))))
        await pilot.press("t")
        await until(lambda: bool(app.query(TransfersPanel)))
        panel = app.query_one(TransfersPanel)
        assert panel.has_focus

        def shown() -> str:
            return "\n".join(screen_lines(app))

        await until(lambda: job.progress is not None and job.progress.done > 0)
        await until(lambda: "running" in shown() and "big.bin" in shown() and "ETA" in shown())
        await pilot.press("x")
        await until(lambda: job.state == "cancelled" and "cancelled" in shown())
        assert not list(tmp_path.glob("*big.bin*"))  # the cancelled part is removed
        await pilot.press("enter")  # retried
        await until(lambda: job.state == "running")
        await pilot.press("x")
        await until(lambda: job.state == "cancelled")
        await pilot.press("t")  # closed, the focus back on the list
        await until(lambda: not app.query(TransfersPanel))
        assert app.query_one(FilesPane).file_list.has_focus
