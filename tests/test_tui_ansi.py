"""``rtui --ansi`` draws with the terminal's own 16 colours on every screen: no 256-colour or
truecolour code reaches the terminal (tmux showed 38;5;N before). Each screen is painted as
the terminal gets it and its codes read back."""

from __future__ import annotations

import io
import re
import sys
from collections import Counter
from pathlib import Path

from PIL import Image
from rich.color import Color, ColorType
from rich.console import Console
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from rtui.core.halfblocks import UPPER_HALF
from rtui.tui.app import RtuiApp
from rtui.tui.screens.help import HelpScreen
from rtui.tui.screens.host_form import HostFormScreen
from rtui.tui.screens.prompts import ConfirmScreen, TextPromptScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from rtui.tui.widgets.files import FilesPane
from rtui.tui.widgets.transfers import TransfersPanel
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, screen_lines, store_with, until

# A colour beyond the 16 in an SGR sequence's parameters: 38;5;N / 48;5;N (256 colours) or
# 38;2;R;G;B / 48;2;R;G;B (truecolour).
_WIDE_COLOUR = re.compile(r"(?:^|;)([34]8;(?:5;\d+|2;\d+;\d+;\d+))")


def wide_colours(app: RtuiApp) -> Counter[str]:
    """The codes of colours beyond the 16 in the screen (dialogs over it too) as a terminal
    gets it: Textual's own paint of the screen, written for a truecolour terminal so that
    no colour is brought down to the 16 on the way."""
    update = app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens)
    sink = io.StringIO()
    Console(file=sink, force_terminal=True, color_system="truecolor", width=app.size.width,
            legacy_windows=False).print(update)
    found: Counter[str] = Counter()
    for params in re.findall(r"\x1b\[([0-9;]*)m", sink.getvalue()):
        found.update(_WIDE_COLOUR.findall(params))
    return found


def colour_of(app: RtuiApp, text: str) -> Color | None:
    """The foreground colour of the first piece of the screen painted as ``text`` alone."""
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if segment.text.strip() == text and segment.style is not None:
                return segment.style.color
    raise AssertionError(f"{text!r} is not on the screen")


async def shows_16_colours(app: RtuiApp, pilot: Pilot[None], what: str) -> None:
    await pilot.pause()
    assert wide_colours(app) == Counter(), (what, screen_lines(app))


async def test_the_probe_sees_the_default_themes_truecolour(tmp_path: Path) -> None:
    """Without --ansi the theme is truecolour: what the probe must catch."""
    app = RtuiApp(store_with(tmp_path), check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert wide_colours(app)


async def test_ansi_draws_every_screen_with_the_16_colours(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """Host list, host form, help, a dialog, notifications, the command palette, the console
    (kernel output with 256-colour and truecolour codes of its own, a traceback, the help
    panel, highlighted code, a busy status), the Files tab (list, marks, preview of Python
    code, an image drawn in half blocks), a prompt and the transfers panel with a transfer."""
    site, here = tmp_path / "site", tmp_path / "here"
    (site / "sub").mkdir(parents=True)
    (site / "code.py").write_text("def f(x: int) -> str:\n    return f'{x!r}'  # note\n")
    (site / "run.sh").write_text("echo hi\n")
    (site / "run.sh").chmod(0o755)
    image = Image.new("RGB", (64, 32))
    for x in range(64):
        for y in range(32):
            image.putpixel((x, y), (x * 4, 128, 255 - y * 8))  # colours none of the 16
    image.save(site / "plot.png")
    here.mkdir()
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=sys.executable)),
                  ansi=True, check_on_start=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await shows_16_colours(app, pilot, "host list")
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, HostFormScreen))
        await pilot.press(*"x y")  # a name with a space: the form says what is wrong
        await until(lambda: "is not a usable name" in "\n".join(screen_lines(app)))
        await shows_16_colours(app, pilot, "host form")
        await pilot.press("escape", "f1")
        await until(lambda: isinstance(app.screen, HelpScreen))
        await shows_16_colours(app, pilot, "help")
        await pilot.press("escape", "d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await shows_16_colours(app, pilot, "confirm dialog")
        await pilot.press("n")
        app.notify("a note", title="Note")
        app.notify("a failure", title="Failed", severity="error")
        await until(lambda: len(app.screen.query("Toast")) == 2)
        await shows_16_colours(app, pilot, "notifications")
        app.clear_notifications()
        await pilot.press("ctrl+p", *"con")
        await until(lambda: isinstance(app.screen, CommandPalette))
        await shows_16_colours(app, pilot, "command palette")
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, CommandPalette))

        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        await pilot.press(*"print('\\x1b[38;5;208mamber \\x1b[48;2;10;200;30mgreen\\x1b[0m')",
                          "enter")
        await until(lambda: "amber green" in output(pane), timeout=60)
        await pilot.press(*"1/0", "enter")
        await until(lambda: "ZeroDivisionError" in output(pane))
        await pilot.press(*"def f(x): return print")
        await shows_16_colours(app, pilot, "console")
        # The kernel's own colours are brought to the nearest of the 16, not dropped.
        amber = colour_of(app, "amber")
        assert amber is not None and amber.type is ColorType.STANDARD
        assert colour_of(app, "def") == Color.parse("bright_blue")  # the editor's keyword
        await pilot.press("shift+tab")  # print's help
        await until(lambda: "Prints the values" in "\n".join(screen_lines(app)))
        await shows_16_colours(app, pilot, "console's help panel")
        await pilot.press("escape")
        pane.query_one(CodeInput).clear()
        await pilot.press(*"import time; time.sleep(5)", "enter")
        await until(lambda: pane.state == "busy")
        await shows_16_colours(app, pilot, "console, busy")
        await pilot.press("ctrl+c")
        await until(lambda: "KeyboardInterrupt" in output(pane))

        app.open_files("lab", str(site))
        await until(lambda: bool(app.query(FilesPane)))
        files = app.query_one(FilesPane)
        await until(lambda: files.file_list.complete and files.path == str(site))
        files.file_list.select_name("code.py")
        await pilot.press("v")
        await until(lambda: "return" in "\n".join(screen_lines(app)))
        await pilot.press("space")  # marked, and the cursor on plot.png: drawn
        await until(lambda: UPPER_HALF * 8 in "\n".join(screen_lines(app)))
        await shows_16_colours(app, pilot, "Files tab, an image drawn")
        await pilot.press("down")  # run.sh (green: it runs)
        await shows_16_colours(app, pilot, "Files tab")
        files.file_list.select_name("code.py")
        await pilot.press("g")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        await shows_16_colours(app, pilot, "a prompt")
        app.screen.query_one(Input).value = str(here)
        await pilot.press("enter")
        await until(lambda: (here / "code.py").exists())
        await pilot.press("t")
        await until(lambda: bool(app.query(TransfersPanel)))
        await until(lambda: "code.py" in "\n".join(screen_lines(app)).split("━━━")[-1])
        await shows_16_colours(app, pilot, "transfers panel")
        await pane.shutdown_kernel()
