"""matplotlib inline plots sized to the console: the size and dpi for a console's pixels, the
silent code in a kernel without matplotlib, and a real console on a real kernel through the
sshd, whose plt.show() gives a PNG of the console's width (at start, after a resize, after a
restart)."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from rtui.core.console.blocks import ImageGeometry
from rtui.core.kernels.plot_size import (
    ASPECT,
    HALF_BLOCK_CELL,
    INLINE_BACKEND,
    NOMINAL_CELL,
    PlotSize,
    fit_code,
    layout_cell,
    plot_size,
)
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ConfirmScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, store_with, until


def test_plot_is_the_console_width_and_a_console_friendly_height() -> None:
    size = plot_size(118, 40, (9, 18))
    assert size.width_px == 118 * 9
    assert size.height_px == round(118 * 9 * ASPECT)  # 637 px < 38 rows of 18 px
    assert plot_size(118, 30, (9, 18)).height_px == 28 * 18  # 30 rows: capped
    assert 100 <= size.dpi <= 110  # 10 pt text ~ 0.8 of an 18 px cell
    width_in, height_in = size.figsize
    assert width_in * size.dpi == pytest.approx(size.width_px)
    assert height_in * size.dpi == pytest.approx(size.height_px)

    short = plot_size(200, 20, (10, 20))  # a wide, short console: capped at its rows less 2
    assert (short.width_px, short.height_px) == (2000, 18 * 20)

    unknown = plot_size(80, 24, None)  # the terminal did not say: a nominal cell
    assert unknown == plot_size(80, 24, NOMINAL_CELL)
    assert NOMINAL_CELL == ImageGeometry().cell_px  # the one images are drawn with
    assert plot_size(80, 24, (0, 0)) == unknown

    tiny = plot_size(3, 1, (8, 16))  # still a legible plot
    assert tiny.width_px >= 160 and tiny.height_px >= 96
    assert plot_size(2000, 500, (20, 40)).width_px == 4096  # no 30 MB PNG



def test_half_blocks_size_plots_at_a_nominal_cell_laid_out_alike() -> None:
    """Drawn in half-blocks, a plot is made at HALF_BLOCK_CELL whatever the terminal's own
    cell (tmux's 16x32 gave a 1888x832 PNG for 118x52 half-block pixels); it is still the
    console's width at its natural size, and as many rows as at the real cell."""
    tmux = (16, 32)
    for mode in ("kitty", "sixel", "iterm"):  # pixels on screen: the terminal's own
        assert layout_cell(mode, tmux) == tmux
    for mode in ("blocks", "off"):
        assert layout_cell(mode, tmux) == HALF_BLOCK_CELL == layout_cell(mode, (9, 18))
    real, nominal = plot_size(118, 28, tmux), plot_size(118, 28, HALF_BLOCK_CELL)
    assert (real.width_px, real.height_px, real.dpi) == (1888, 832, 184)
    assert (nominal.width_px, nominal.height_px, nominal.dpi) == (944, 416, 92)
    assert nominal.figsize == pytest.approx(real.figsize)  # the same plot, a quarter the pixels
    assert (ImageGeometry(HALF_BLOCK_CELL, 26).cells((944, 416), 118)
            == ImageGeometry(tmux, 26).cells((1888, 832), 118) == (118, 26))

def test_fit_code_is_silent_where_matplotlib_is_missing(tmp_path: Path) -> None:
    """In an IPython shell that cannot import matplotlib (nor matplotlib_inline): the cell
    succeeds, prints nothing, leaves no name behind, and a host's MPLBACKEND=Agg (which
    shows nothing) or QtAgg without a display (which fails) becomes the inline backend."""
    script = tmp_path / "fit.py"
    script.write_text(
        "import os, sys\n"
        "for name in ('matplotlib', 'matplotlib_inline', 'matplotlib_inline.config'):\n"
        "    sys.modules[name] = None  # import fails\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        f"done = shell.run_cell({fit_code(plot_size(80, 24, (8, 16)))!r}, silent=True)\n"
        "assert done.success, done\n"
        "before = dict(shell.user_ns)\n"
        f"shell.run_cell({fit_code(plot_size(90, 24, (8, 16)))!r}, silent=True)\n"
        "print('names left:', sorted(set(shell.user_ns) - set(before)),\n"
        "      [n for n in shell.user_ns if 'rtui' in n])\n"
        "print('backend:', os.environ['MPLBACKEND'])\n"
        "os.environ['MPLBACKEND'] = 'QtAgg'  # a window backend, and no display\n"
        f"shell.run_cell({fit_code(plot_size(90, 24, (8, 16)))!r}, silent=True)\n"
        "print('backend:', os.environ['MPLBACKEND'])\n"
        "try:\n"
        "    import matplotlib\n"
        "except ImportError:\n"
        "    print('still no matplotlib')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "Agg"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        "names left: [] []", f"backend: {INLINE_BACKEND}", f"backend: {INLINE_BACKEND}",
        "still no matplotlib"]


def test_fit_code_keeps_what_the_user_chose(tmp_path: Path) -> None:
    """A value the user chose stays: a matplotlibrc's (the fit waits for the import), one
    set in a cell before a console attached (nothing of rtui's in the kernel yet), one set
    between two fits; what rtui set itself follows the console."""
    rc = tmp_path / "matplotlibrc"
    rc.write_text("figure.dpi: 150\n")
    first, second = plot_size(100, 30, (10, 20)), plot_size(80, 30, (10, 20))
    script = tmp_path / "fit.py"
    script.write_text(
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "def fit(code):\n"
        "    assert shell.run_cell(code, silent=True).success\n"
        "def show(label):\n"
        "    import matplotlib as mpl\n"
        "    print(label, *mpl.rcParams['figure.figsize'], mpl.rcParams['figure.dpi'])\n"
        f"fit({fit_code(first)!r})\n"
        "assert 'matplotlib' not in sys.modules  # the fit waits for the import\n"
        "show('rc:')\n"
        "import matplotlib as mpl\n"
        "mpl.rcParams['figure.dpi'] = 80.0  # a cell sets it\n"
        f"fit({fit_code(second)!r})\n"
        "show('set:')\n"
        "shell._rtui_plot_size = None  # another kernel: the user's figsize, no fit yet\n"
        "mpl.rcParams['figure.figsize'] = [3.0, 2.0]\n"
        f"fit({fit_code(first)!r})\n"
        "show('attach:')\n"
    )
    env = {**os.environ, "MATPLOTLIBRC": str(rc)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"rc: {first.figsize[0]} {first.figsize[1]} 150.0",  # the rc's dpi, rtui's size
        f"set: {second.figsize[0]} {second.figsize[1]} 80.0",  # rtui's size follows
        "attach: 3.0 2.0 80.0",  # nothing of rtui's before: both the user's
    ]


def _png_size(png: bytes) -> tuple[int, int]:
    """The PNG's own header (the ImageStore reads it too: this checks the bytes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def test_console_sizes_matplotlib_to_itself(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """A console on a new kernel (real sshd, real ipykernel with matplotlib): rcParams say
    the console's size from the start; plt.show() gives a PNG of exactly those pixels; a
    resize is followed before the next cell, keeping a dpi the user set; a restart sizes
    the new process again."""
    trust(sshd, isolated_home)
    store = store_with(tmp_path, host_for(sshd, "lab", python=sys.executable))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        # The terminal's cells, as its detection sets them (images are drawn with them too);
        # said even once the kernel is there, the plot follows before the next cell. Set
        # once the pane has composed (compose sets the app's own cells, after mounting).
        await until(lambda: bool(pane.query(CodeInput)))
        pane.model.geometry.cell_px = (9, 18)
        await until(lambda: isinstance(app.focused, CodeInput) and pane.kernel is not None)

        def expected() -> PlotSize:
            """The output's size with a one-line editor (the status line 1, the editor 3)."""
            region = pane.query_one("#output").scrollable_content_region
            assert pane.query_one(CodeInput).outer_size.height == 3  # the test types one line
            return plot_size(region.width, pane.size.height - 4, (9, 18))

        async def enter(code: str) -> None:
            editor = pane.query_one(CodeInput)
            editor.text = code  # in one go (a key at a time is seconds on a loaded machine)
            editor.move_cursor(editor.document.end)
            await pilot.press("enter")

        async def run(code: str, marker: str) -> str:
            await enter(code)
            await until(lambda: marker in output(pane), timeout=60)
            return (output(pane).split(marker)[-1].splitlines() or [""])[0]

        def fitted(line: str) -> tuple[float, float, float]:
            width, height, dpi = (float(x) for x in line.split())
            return width, height, dpi

        show = ("import matplotlib.pyplot as plt; "
                "print('fit:', *plt.rcParams['figure.figsize'], plt.rcParams['figure.dpi'])")
        at_start = expected()
        assert fitted(await run(show, "fit: ")) == (*at_start.figsize, at_start.dpi)
        await enter("plt.plot([1, 2]); plt.show()")
        await until(lambda: len(pane.model.images) == 1, timeout=60)
        (image,) = pane.model.images.records()
        assert image.mime == "image/png" and image.data is not None
        assert _png_size(image.data) == (at_start.width_px, at_start.height_px)
        assert image.size_px == (at_start.width_px, at_start.height_px)
        # Drawn at its natural size: as wide as the output, whole within its height.
        width = pane.query_one("#output").scrollable_content_region.width
        assert pane.model.geometry.cells(image.size_px, width) == (
            width, math.ceil(at_start.height_px / 18))
        assert "Traceback" not in output(pane)

        # Resized: the next cell is preceded by a new fit; the dpi the user chose stays.
        await run("plt.rcParams['figure.dpi'] = 77; print('dpi', 'set')", "dpi set")
        await pilot.resize_terminal(80, 30)
        await until(lambda: expected() != at_start)
        resized = expected()
        assert resized.width_px < at_start.width_px
        assert fitted(await run(show.replace("fit:", "resized:"), "resized: ")) == (
            *resized.figsize, 77.0)

        await pilot.press("f9")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "Kernel restarted" in output(pane), timeout=60)
        again = ("import matplotlib as mpl; "  # not pyplot: the rcParams are set on import
                 "print('again:', *mpl.rcParams['figure.figsize'], mpl.rcParams['figure.dpi'])")
        assert fitted(await run(again, "again: ")) == (
            *resized.figsize, resized.dpi)
        await pane.shutdown_kernel()
