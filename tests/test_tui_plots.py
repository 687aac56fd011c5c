"""Pictures in a real console and its Plots tab, against the real sshd and a real kernel,
pressing the keys a person would: images drawn inline, f8 lists them newest first, Enter
shows one whole, s saves it here, S on the host, r shows an output's text/plain."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.widgets import DataTable

from rtui.core.console.blocks import ImageBlock
from rtui.core.halfblocks import UPPER_HALF
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import TextPromptScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from rtui.tui.widgets.console_view import ConsoleView
from rtui.tui.widgets.plots import PlotPicture, PlotsPane
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, store_with, until

SHOW = (
    "import io; from PIL import Image as P; from IPython.display import Image, display\n"
    "def png(c, size=(120, 60)):\n"
    "    b = io.BytesIO(); P.new('RGB', size, c).save(b, 'PNG'); return b.getvalue()\n"
    "display(Image(png('red'))); display(Image(png('blue', (60, 60))))\n"
    "h = display(Image(png('red')), display_id=True); h.update(Image(png('green')))"
)


def blocks(pane: ConsolePane) -> list[ImageBlock]:
    model = pane.model
    found = (model.block_at(i) for i in range(model.first_index, model.total))
    return [b for b in found if isinstance(b, ImageBlock)]


def drawn(widget: ConsoleView | PlotPicture) -> bool:
    return any(UPPER_HALF in widget.render_line(y).text for y in range(widget.size.height))


async def test_pictures_inline_and_in_the_plots_tab(sshd: SSHD, tmp_path: Path,
                                                    isolated_home: Path) -> None:
    trust(sshd, isolated_home)
    store = store_with(tmp_path, host_for(sshd, "lab", python=sys.executable))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        pane.query_one(CodeInput).text = SHOW
        await pilot.press("ctrl+j")
        # A display updated in place (a live plot): three pictures, the last one green.
        await until(lambda: len(blocks(pane)) == 3 and blocks(pane)[-1].record.seq == 4,
                    timeout=30)
        view = pane.query_one(ConsoleView)
        await until(lambda: drawn(view))  # drawn in half-block cells, off the loop
        assert "<IPython.core.display.Image object>" in output(pane)  # its text/plain, kept

        # r on the output pane: the picture nearest the bottom shows its text/plain.
        await pilot.press("f5")
        assert view.has_focus
        newest = blocks(pane)[-1]
        await pilot.press("r")
        assert newest.raw
        await until(lambda: "<IPython.core.display.Image object>" in
                    "".join(view.render_line(y).text for y in range(view.size.height)))
        await pilot.press("r")
        assert not newest.raw
        await pilot.press("f5")
        assert isinstance(app.focused, CodeInput)

        await pilot.press("f8")
        await until(lambda: bool(app.query(PlotsPane)))
        plots = app.query_one(PlotsPane)
        table = plots.query_one(DataTable)
        await until(lambda: table.row_count == 4)  # every picture shown, the replaced too
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == ["4", "3", "2", "1"]
        picture = plots.query_one(PlotPicture)
        await until(lambda: drawn(picture))
        await pilot.press("down", "down", "down")
        await until(lambda: picture.record is not None and picture.record.seq == 1)
        await pilot.press("enter")
        assert plots.has_class("-full")
        await pilot.press("escape")
        assert not plots.has_class("-full")

        # s: saved on this machine, whole, under the name typed; never over a file.
        here = tmp_path / "red.png"
        await pilot.press("s")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one("#answer").value = str(here)  # type: ignore[attr-defined]
        await pilot.press("enter")
        first = pane.model.images.records()[-1]
        await until(lambda: here.exists())
        assert here.read_bytes() == first.data
        await pilot.press("s")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one("#answer").value = str(here)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(lambda: any("exists already" in str(n.message)
                                for n in app._notifications))
        # S: on the host, through the host's SFTP (the host is this machine here).
        there = tmp_path / "on-host.png"
        await pilot.press("S")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one("#answer").value = str(there)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(lambda: there.exists())
        assert there.read_bytes() == first.data
        await pilot.press("f4")
        await until(lambda: not app.query(PlotsPane))
