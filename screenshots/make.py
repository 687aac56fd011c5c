"""Make rtui's SVG screenshots: the real app, in real states, against the demo SSH server.

    python screenshots/make.py [--out DIR]      # default: this folder

Everything runs headless (``App.run_test``) at fixed terminal sizes, in a throwaway HOME and
XDG dirs made here (the real ``~/.config`` and ``~/.ssh`` are never read or written), against
:class:`rtui.demo.DemoServer` as ``rtui demo`` uses it. The hosts file of the temporary
HOME holds two more hosts so that the list shows other badges: ``archive`` (127.0.0.1 port 1,
unreachable) and ``newbox`` (the demo server's port as an ordinary host, so its key is unknown).
``jupyter.svg`` is a console on a real jupyter_server started here (the tests' harness: token
auth on loopback) as a ``jupyter`` host of its own hosts file.
Kernels started here are shut down and the demo server closed; nothing is left behind.

Each picture waits for a condition (a check settled, a cell finished) rather than a fixed
sleep; cursors do not blink and animations are off, so runs differ only in what is really
variable (latencies, kernel ids, temporary paths).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from rtui.core.config.store import HostStore
    from rtui.demo import DemoServer
    from rtui.tui.app import RtuiApp
    from rtui.tui.widgets.console import ConsolePane
    from rtui.tui.widgets.files import FilesPane
    from tests.harness.jupyter import PendingServer

HERE = Path(__file__).resolve().parent
SIZE = (120, 36)
SMALL = (80, 24)
STARTED = time.monotonic()
WAIT = 60.0  # seconds for any one condition (a kernel start on a loaded machine is slow)

UNREACHABLE = "archive"
UNTRUSTED = "newbox"

# Cells typed into the console, one string per line of a cell.
HELLO = ["import time; print('hello from the demo kernel')"]
ANSWER = ["6 * 7"]
FAILURE = ["1/0"]
PLOT_IMPORTS = ["import numpy as np, matplotlib.pyplot as plt; x = np.linspace(0, 12, 400)"]
PLOT = ["plt.plot(x, np.sin(x), label='sin(x)'); plt.plot(x, np.cos(x) / 2, label='cos(x)/2');"
        " plt.legend(); plt.title('demo'); plt.show()"]
FRAME = ["import pandas as pd; df = pd.DataFrame({'t': x, 'sin(t)': np.sin(x)}); n = 42"]
MARKDOWN = ["from IPython.display import Markdown; Markdown('**Two** curves, *12* units long')"]
SERVER_HELLO = ["import platform; print(f'Python {platform.python_version()}, a kernel of "
                "jupyter_server')"]
PROGRESS = [
    "for i in range(21):",
    "    print(f\"\\rprogress {'#' * i:<20} {i * 5:3d}%\", end='', flush=True)",
    "    time.sleep(0.02)",
    "print()",
]

SHOTS = ("hosts.svg", "host-form.svg", "host-key.svg", "console.svg", "kernels.svg",
         "help.svg", "console-80x24.svg", "files.svg", "files-image.svg", "files-80x24.svg",
         "console-plot.svg", "plots.svg", "variables.svg", "environments.svg", "slurm.svg",
         "jupyter.svg")


def isolate(root: Path) -> None:
    """Point HOME, the XDG dirs and TMPDIR into ``root``; drop what would reach outside it."""
    home = root / "home"
    for sub in ("", ".config", ".local/share", ".local/state", ".cache", ".ssh", "Downloads"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    (root / "tmp").mkdir(mode=0o700)
    os.environ["HOME"] = str(home)
    os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
    os.environ["XDG_DATA_HOME"] = str(home / ".local/share")
    os.environ["XDG_STATE_HOME"] = str(home / ".local/state")
    os.environ["XDG_CACHE_HOME"] = str(home / ".cache")
    os.environ["TMPDIR"] = str(root / "tmp")
    tempfile.tempdir = None  # re-read TMPDIR: the demo server's temp dir lands in root too
    for var in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "RTUI_CONFIG", "NO_COLOR", "FORCE_COLOR",
                "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR",
                "TEXTUAL"):
        os.environ.pop(var, None)
    os.environ["TEXTUAL_ANIMATIONS"] = "none"  # read when Textual is first imported


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait for ``predicate``; a clear error naming ``what`` when it does not come."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        await asyncio.sleep(0.02)


def output(pane: ConsolePane) -> str:
    return "\n".join(pane.model.plain_lines())


class Camera:
    """Takes the screenshots of one app once it has settled; keeps them in memory."""

    def __init__(self, app: RtuiApp, pilot: Pilot[None], shots: dict[str, str]) -> None:
        self.app = app
        self.pilot = pilot
        self.shots = shots

    async def take(self, name: str) -> None:
        from textual.widgets import Input, TextArea

        for screen in self.app.screen_stack:  # steady cursors: drawn, never blinking
            for widget in screen.query("Input, TextArea"):
                if isinstance(widget, Input | TextArea):
                    widget.cursor_blink = False
        await self.pilot.wait_for_scheduled_animations()
        await self.pilot.pause()
        await self.pilot.pause()
        self.shots[name] = self.app.export_screenshot(title="rtui")
        print(f"screenshots: {name} at {time.monotonic() - STARTED:.1f} s", flush=True)


# -- the steps ----------------------------------------------------------------------------------


async def wait_for_checks(app: RtuiApp, expected: dict[str, str]) -> None:
    """Until every host's check has settled with the badge kind ``expected`` names."""
    from rtui.tui.widgets.hosts import HostsPane, badge_for

    pane = app.query_one(HostsPane)

    def settled() -> bool:
        if pane.checking or any(w.group == "checks" and w.is_running for w in app.workers):
            return False
        return all(badge_for(pane.statuses.get(n), False) == kind for n, kind in expected.items())

    try:
        await until(settled, "the host checks")
    except TimeoutError:
        found = {n: badge_for(pane.statuses.get(n), n in pane.checking) for n in expected}
        raise TimeoutError(f"host checks: wanted {expected}, have {found}") from None


async def choose(app: RtuiApp, name: str) -> None:
    from rtui.cli.demo import select_host

    if not await select_host(app, name):
        raise TimeoutError(f"host {name} is not listed")
    await asyncio.sleep(0)


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*text)


async def open_console(app: RtuiApp, pilot: Pilot[None]) -> ConsolePane:
    """Enter on the selected host: the console on a new kernel, its editor focused."""
    from rtui.tui.screens.prompts import ChoiceScreen
    from rtui.tui.widgets.code_input import CodeInput
    from rtui.tui.widgets.console import ConsolePane

    before = set(app.query(ConsolePane))
    await pilot.press("enter")
    await until(lambda: bool(set(app.query(ConsolePane)) - before)
                or isinstance(app.screen, ChoiceScreen), "the console or the Python picker")
    if isinstance(app.screen, ChoiceScreen):  # more than one Python with ipykernel: the first
        await pilot.press("enter")
        await until(lambda: bool(set(app.query(ConsolePane)) - before), "the console")
    pane = next(iter(set(app.query(ConsolePane)) - before))
    await until(lambda: isinstance(app.focused, CodeInput), "the console's editor to have focus")
    pane.query_one(CodeInput).cursor_blink = False
    return pane


async def back_to_console(app: RtuiApp, pilot: Pilot[None], pane: ConsolePane) -> None:
    """The console's tab shown again and its editor focused, once the tab switch has settled
    (activating a tab moves the focus a frame later: keys typed before that went elsewhere)."""
    from textual.widgets import TabbedContent, TabPane

    from rtui.tui.widgets.code_input import CodeInput

    tab = pane.parent
    assert isinstance(tab, TabPane) and tab.id
    app.query_one(TabbedContent).active = tab.id
    await pilot.pause()
    await pilot.pause()
    editor = pane.query_one(CodeInput)
    editor.focus()
    await until(lambda: app.focused is editor, "the console's editor to have focus")
    await pilot.pause()
    await until(lambda: app.focused is editor, "the editor to keep the focus")


async def run_cell(pilot: Pilot[None], pane: ConsolePane, lines: list[str], done: str) -> None:
    """Type ``lines`` as a person would (Enter continues an incomplete cell), run, wait."""
    from rtui.tui.widgets.code_input import CodeInput

    editor = pane.query_one(CodeInput)
    count = pane.execution_count
    for n, line in enumerate(lines):
        if n:
            # Enter on an incomplete cell adds a line, indented as the kernel suggests;
            # make that indent the one the next line has.
            await pilot.press("enter")
            await until(lambda n=n: editor.text.count("\n") == n, "a new line in the editor")
            indent = editor.text.rsplit("\n", 1)[-1]
            if line.startswith(indent):
                line = line[len(indent):]
            else:  # e.g. back to the margin after a loop body
                await pilot.press(*["backspace"] * len(indent))
        await type_text(pilot, line)
    code = "\n".join(lines)
    if editor.text != code:
        raise RuntimeError(f"the editor holds {editor.text!r}, not {code!r}")
    await pilot.press("ctrl+j" if len(lines) > 1 else "enter")
    await until(lambda: pane.execution_count > count and pane.state == "idle"
                and done in output(pane), f"the output {done!r}")


async def shut_down(pilot: Pilot[None], pane: ConsolePane) -> None:
    """f4 on the console, "Shut the kernel down": the kernel started here is stopped."""
    from rtui.tui.screens.prompts import ChoiceScreen
    from rtui.tui.widgets.code_input import CodeInput

    app = pilot.app
    await until(lambda: isinstance(app.focused, CodeInput), "the console's editor")
    await pilot.press("f4")
    await until(lambda: isinstance(app.screen, ChoiceScreen), "the close dialog")
    await pilot.press("down", "enter")
    await until(lambda: not pane.is_attached, "the console to close")


async def files_tab(app: RtuiApp, host: str) -> FilesPane:
    """The host's Files tab once it is shown, its listing complete and its list focused."""
    from rtui.tui.widgets.file_list import FileList
    from rtui.tui.widgets.files import FilesPane

    await until(lambda: any(p.host == host for p in app.query(FilesPane)), "the Files tab")
    pane = next(p for p in app.query(FilesPane) if p.host == host)
    await until(lambda: pane.file_list.complete and isinstance(app.focused, FileList),
                "the listing")
    return pane


async def open_folder(pilot: Pilot[None], pane: FilesPane, name: str) -> None:
    """Down to ``name`` in the list, then Enter: the folder listed whole."""
    await move_to(pilot, pane, name)
    path = pane.path
    await pilot.press("enter")
    await until(lambda: pane.path != path and pane.file_list.complete, f"the folder {name}")


async def move_to(pilot: Pilot[None], pane: FilesPane, name: str) -> None:
    """The cursor from the top of the list down to ``name``, as a person would."""
    await pilot.press("home")
    for _ in range(pane.file_list.total):
        current = pane.file_list.current
        if current is not None and current.name == name:
            return
        await pilot.press("down")
    raise RuntimeError(f"{name} is not in the list")


async def environments(app: RtuiApp, pilot: Pilot[None], host: str) -> None:
    """From the host list: the host's Environments tab, then the first one's packages."""
    from textual.widgets import DataTable, TabbedContent

    from rtui.tui.widgets.environments import EnvironmentsPane

    await pilot.press("f3")
    tabs = app.query_one(TabbedContent)
    await until(lambda: tabs.active == "tab-hosts", "the hosts tab")
    await choose(app, host)
    await pilot.press("v")
    await until(lambda: bool(app.query(EnvironmentsPane)), "the Environments tab")
    pane = app.query_one(EnvironmentsPane)
    await until(lambda: bool(pane.listed) and app.focused is pane.table, "the environments")
    await pilot.press("enter")
    packages = pane.query_one("#packages-table", DataTable)
    await until(lambda: packages.row_count > 0, "the packages")


# -- the two sessions ---------------------------------------------------------------------------


async def main_session(server: DemoServer, store: HostStore, shots: dict[str, str]) -> None:
    """120x36: hosts, the add form, the host key prompt, a console, kernels, help."""
    from textual.widgets import DataTable, TabbedContent

    from rtui.cli.demo import demo_app
    from rtui.tui.screens.help import HelpScreen
    from rtui.tui.screens.host_form import HostFormScreen
    from rtui.tui.screens.prompts import ChoiceScreen, HostKeyScreen
    from rtui.tui.widgets.hosts import HostsPane

    app = demo_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        camera = Camera(app, pilot, shots)
        await wait_for_checks(app, {server.name: "ok", UNREACHABLE: "unreachable",
                                    UNTRUSTED: "host-key-unknown"})
        await choose(app, server.name)
        await camera.take("hosts.svg")

        # The add-host form, a bad port caught as it is typed.
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, HostFormScreen), "the host form")
        form = app.screen
        await type_text(pilot, "gpu1")
        await pilot.press("enter")
        await type_text(pilot, "gpu1.example.org")
        await pilot.press("enter")
        await type_text(pilot, "99999")
        error = form.query_one("#e-port")
        await until(lambda: not error.has_class("-empty"), "the port's validation error")
        await camera.take("host-form.svg")
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, HostFormScreen), "the form to close")

        # Check the untrusted host by hand: the unknown key is asked about, then refused.
        await choose(app, UNTRUSTED)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, HostKeyScreen), "the host key prompt")
        await camera.take("host-key.svg")
        await pilot.press("n")
        await wait_for_checks(app, {UNTRUSTED: "host-key-unknown"})  # refused: still unknown

        # A console on the demo host.
        await choose(app, server.name)
        pane = await open_console(app, pilot)
        await run_cell(pilot, pane, HELLO, "hello from the demo kernel")
        await run_cell(pilot, pane, ANSWER, "Out[2]: 42")
        await run_cell(pilot, pane, FAILURE, "ZeroDivisionError")
        await run_cell(pilot, pane, PROGRESS, "100%")
        await camera.take("console.svg")

        # A plot, drawn inline in half-block cells (a terminal with graphics gets pixels),
        # then the console's Plots tab (f8).
        await run_cell(pilot, pane, PLOT_IMPORTS, "")
        await run_cell(pilot, pane, PLOT, "")
        await run_cell(pilot, pane, MARKDOWN, "Two")
        view = pane.query_one("#output")
        await until(lambda: sum("▀" in view.render_line(y).text  # type: ignore[attr-defined]
                                for y in range(view.size.height)) > 10, "the plot drawn")
        await camera.take("console-plot.svg")
        await pilot.press("f8")
        await until(lambda: any("▀" in pic.render_line(y).text
                                for pic in app.query("PlotPicture")
                                for y in range(pic.size.height)), "the Plots tab's picture")
        await camera.take("plots.svg")
        await pilot.press("f4")
        # Closed once the close's worker has ended and the tabs have settled: its last step
        # shows the hosts, and a tab activated meanwhile took the focus from the console
        # after back_to_console had given it (under load).
        await until(lambda: not app.query("PlotPicture") and not any(
            w.group == "plots" and w.is_running for w in app.workers), "the Plots tab to close")
        await pilot.pause()
        await pilot.pause()
        await back_to_console(app, pilot, pane)

        # The variables pane (f12), beside the console, after a cell that made a DataFrame.
        await run_cell(pilot, pane, FRAME, "")
        await pilot.press("f12")
        table = pane.query_one("VariablesPane").query_one(DataTable)
        await until(lambda: any(str(table.get_row_at(i)[0]) == "df"
                                for i in range(table.row_count)), "the variables")
        await camera.take("variables.svg")
        await pilot.press("f12")
        pane.query_one("#code").focus()

        # f7 from the console: the host's files, where the kernel runs; a script previewed.
        await pilot.press("f7")
        files = await files_tab(app, server.name)
        await open_folder(pilot, files, "demo-project")
        await move_to(pilot, files, "analysis.py")
        await pilot.press("v")
        await until(lambda: files.preview.shown is not None
                    and len(files.preview.lines.lines) > 5, "the preview")
        await pilot.press("escape")  # back to the list, the preview kept
        await camera.take("files.svg")
        # The chart in data/, drawn in half-block cells.
        await open_folder(pilot, files, "data")
        await move_to(pilot, files, "day.png")
        await until(lambda: files.preview.shown is not None
                    and files.preview.shown.endswith("day.png")
                    and any("▀" in line.plain for line in files.preview.lines.lines),
                    "the image")
        await camera.take("files-image.svg")

        # Back to the hosts (f3), the kernels running on the demo host (k).
        await pilot.press("f3")
        tabs = app.query_one(TabbedContent)
        await until(lambda: tabs.active == "tab-hosts"
                    and isinstance(app.focused, DataTable), "the hosts tab")
        await choose(app, server.name)
        await pilot.press("c")  # re-check, so the list counts the console's kernel too
        await wait_for_checks(app, {server.name: "ok"})
        pane_hosts = app.query_one(HostsPane)
        await until(lambda: pane_hosts.statuses[server.name].kernels >= 1, "the kernel count")
        await pilot.press("k")
        await until(lambda: isinstance(app.screen, ChoiceScreen), "the kernel list")
        await camera.take("kernels.svg")
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, ChoiceScreen), "the kernel list to close")

        await pilot.press("f1")
        await until(lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await camera.take("help.svg")
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, HelpScreen), "the help screen to close")

        # The demo host's environments (v), the packages of the first (enter).
        await environments(app, pilot, server.name)
        await camera.take("environments.svg")
        await pilot.press("escape")

        # Leave nothing running: back to the console, close it and shut its kernel down.
        tabs.active = pane.parent.id  # type: ignore[union-attr]
        await shut_down(pilot, pane)


async def small_session(server: DemoServer, store: HostStore, shots: dict[str, str]) -> None:
    """80x24: a console in a small terminal (the host details hide below 100 columns)."""
    from rtui.cli.demo import demo_app

    app = demo_app(store, server, check_on_start=False)
    async with app.run_test(size=SMALL) as pilot:
        camera = Camera(app, pilot, shots)
        await choose(app, server.name)
        pane = await open_console(app, pilot)
        await run_cell(pilot, pane, HELLO, "hello from the demo kernel")
        await run_cell(pilot, pane, ANSWER, "Out[2]: 42")
        await run_cell(pilot, pane, PROGRESS, "100%")
        await camera.take("console-80x24.svg")
        await shut_down(pilot, pane)

        # The Files tab at 80x24: a folder downloaded, the transfers panel showing it done.
        from rtui.tui.screens.prompts import TextPromptScreen
        from rtui.tui.widgets.transfers import TransfersPanel

        await pilot.press("f3")
        await choose(app, server.name)
        await pilot.press("f")
        files = await files_tab(app, server.name)
        await move_to(pilot, files, "demo-project")
        await pilot.press("g")
        await until(lambda: isinstance(app.screen, TextPromptScreen), "the download prompt")
        await pilot.press("enter")  # to ~/Downloads, as offered
        queue = app.workspace.transfers
        await until(lambda: bool(queue.jobs) and queue.jobs[-1].state == "done",
                    "the download")
        await pilot.press("t")
        await until(lambda: bool(app.query(TransfersPanel)), "the transfers panel")
        await camera.take("files-80x24.svg")


async def slurm_session(server: DemoServer, store: HostStore, shots: dict[str, str],
                        root: Path) -> None:
    """80x24: a job console whose job waits, another job holding the only node of a real
    one-node SLURM cluster (the tests' harness: slurmctld, slurmd, munge, ~2 s to start) whose
    login node is the demo host; the job is cancelled with escape, the cluster stopped."""
    from textual.widgets import OptionList

    from rtui.cli.demo import demo_app
    from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen
    from rtui.tui.screens.slurm_form import SlurmFormScreen
    from rtui.tui.widgets.console import ConsolePane

    sys.path.insert(0, str(HERE.parent))  # the repository: its tests' cluster harness
    from tests.harness.slurm import start_slurm

    cluster = await asyncio.to_thread(start_slurm, root / "slurm")
    os.environ["SLURM_CONF"] = str(cluster.conf)  # the demo host's commands see the cluster
    try:
        await asyncio.to_thread(cluster.hold_node)
        app = demo_app(store, server, check_on_start=False)
        async with app.run_test(size=SMALL) as pilot:
            camera = Camera(app, pilot, shots)
            await choose(app, server.name)
            await pilot.press("j")
            await until(lambda: isinstance(app.screen, (SlurmFormScreen, ChoiceScreen)),
                        "the job form or the Python picker")
            if isinstance(app.screen, ChoiceScreen):  # more than one Python with ipykernel
                await until(lambda: bool(app.screen.query(OptionList)), "the picker's options")
                await pilot.press("enter")  # the first, as open_console takes
                await until(lambda: isinstance(app.screen, SlurmFormScreen), "the job form")
            await until(lambda: bool(app.screen.query("#job-partition"))
                        and app.focused is app.screen.query_one("#job-partition"),
                        "the job form's first field to have focus")
            await type_text(pilot, "debug")
            await pilot.press("tab")
            await type_text(pilot, "2:00:00")
            await pilot.press("tab")
            await type_text(pilot, "2")
            await pilot.press("ctrl+o")
            await until(lambda: bool(app.query(ConsolePane)), "the job's console")
            pane = app.query_one(ConsolePane)
            await until(lambda: pane.job.info is not None and pane.job.info.reason is not None,
                        "the pending job's reason")
            await type_text(pilot, "import numpy as np")  # typed ahead: runs once it is up
            await camera.take("slurm.svg")
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, ConfirmScreen), "the cancel question")
            await pilot.press("y")
            await until(lambda: not pane.is_attached, "the job's console to close")
    finally:
        os.environ.pop("SLURM_CONF", None)
        await asyncio.to_thread(cluster.cancel_all)
        await asyncio.to_thread(cluster.stop)


def start_jupyter(root: Path) -> PendingServer:
    """A real jupyter_server (the tests' harness: token auth on loopback), started at once
    and waited for by jupyter_session: its ~4 s start overlaps the other sessions."""
    sys.path.insert(0, str(HERE.parent))  # the repository: its tests' server harness
    from tests.harness.jupyter import start_server

    (root / "jupyter").mkdir()
    return start_server(root / "jupyter")


async def jupyter_session(shots: dict[str, str], root: Path, pending: PendingServer) -> None:
    """80x24: a console on a kernel of the jupyter_server ``pending`` starts, a ``jupyter``
    host whose token comes from a variable; the kernel shut down after."""
    from rtui.core.config.model import Host
    from rtui.core.config.store import HostStore
    from rtui.core.jupyter.settings import JupyterSettings
    from rtui.tui.app import RtuiApp

    server = await asyncio.to_thread(pending.wait)
    os.environ["LAB_TOKEN"] = server.token  # never in the hosts file
    try:
        store = HostStore(root / "jupyter-hosts.toml")
        host = Host("lab", tags=("jupyter",), note="JupyterLab's server on the lab machine",
                    jupyter=JupyterSettings(url=server.url, token_env="LAB_TOKEN"))
        await asyncio.to_thread(store.update, lambda c: c.with_host(host))
        app = RtuiApp(store, check_on_start=False)
        async with app.run_test(size=SMALL) as pilot:
            camera = Camera(app, pilot, shots)
            await choose(app, "lab")
            pane = await open_console(app, pilot)
            await until(lambda: pane.kernel is not None and pane.state == "idle",
                        "the server's kernel")
            await run_cell(pilot, pane, SERVER_HELLO, "a kernel of jupyter_server")
            await run_cell(pilot, pane, ANSWER, "Out[2]: 42")
            await camera.take("jupyter.svg")
            await shut_down(pilot, pane)
    finally:
        os.environ.pop("LAB_TOKEN", None)


async def make(root: Path) -> dict[str, str]:
    """Every screenshot, as SVG text by file name."""
    from rtui.core import locations
    from rtui.core.config.model import Host
    from rtui.core.config.store import HostStore
    from rtui.demo import DemoServer, demo_processes

    shots: dict[str, str] = {}
    jupyter = start_jupyter(root)
    server = DemoServer()
    try:
        await server.start()
    except BaseException:
        await asyncio.to_thread(jupyter.stop)
        raise
    demo_root = server.root
    try:
        store = HostStore(locations.config_path())
        extra = [
            Host(UNREACHABLE, hostname="127.0.0.1", port=1, tags=("backup",),
                 note="switched off for the night"),
            Host(UNTRUSTED, hostname="127.0.0.1", port=server.port, user=server.user,
                 tags=("gpu",), note="new machine, key not yet trusted"),
        ]
        for host in extra:
            await asyncio.to_thread(store.update, lambda c, h=host: c.with_host(h))
        await main_session(server, store, shots)
        await small_session(server, store, shots)
        await slurm_session(server, store, shots, root)
        await jupyter_session(shots, root, jupyter)
    finally:
        await asyncio.to_thread(jupyter.stop)
        await server.close()
    left = server.survivors or demo_processes(demo_root)
    if left:
        raise RuntimeError(f"processes of the demo still running: {left}")
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="directory for the SVG files (default: %(default)s)")
    parser.add_argument("--only", nargs="+", choices=SHOTS, metavar="NAME",
                        help="write only these SVGs (every state is still made)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    root = Path(tempfile.mkdtemp(prefix="rtui-shots-")).resolve()
    saved_env = dict(os.environ)
    try:
        isolate(root)
        shots = asyncio.run(make(root))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(root, ignore_errors=True)
    missing = [name for name in SHOTS if name not in shots]
    if missing:
        print(f"screenshots: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    written = args.only or SHOTS
    for name in written:
        (out / name).write_text(shots[name], encoding="utf-8")
    print(f"screenshots: wrote {len(written)} SVGs to {out} in "
          f"{time.monotonic() - STARTED:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
