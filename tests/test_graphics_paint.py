"""Images painted as the terminal gets them: every frame Textual writes and every write to its
driver (kitty's uploads) are kept in order, and the bytes are checked (pyte ignores graphics;
half-blocks are read back through it). One 8x2-cell picture, half red, half blue."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte
import pytest
from PIL import Image
from rich.console import Console
from textual.app import App, ComposeResult
from textual.drivers.headless_driver import HeadlessDriver
from textual.strip import Strip
from textual_image._sixel import image_to_sixels

from rtui.core.console.model import ConsoleModel
from rtui.core.kernels.events import DisplayData
from rtui.core.kernels.plot_size import HALF_BLOCK_CELL
from rtui.tui.app import RtuiApp
from rtui.tui.graphics import GraphicsSupport, library
from rtui.tui.graphics.inline import SixelPainter
from rtui.tui.graphics.kitty import KittyPainter
from rtui.tui.graphics.widget import PictureView
from rtui.tui.render.band_scroll import CompositorUpdate
from rtui.tui.render.payloads import substitute
from rtui.tui.widgets.console import ConsolePane
from rtui.tui.widgets.console_view import ConsoleView
from tests.graphics_app import BLUE, RED, PictureApp, two_colours
from tests.test_render_band_scroll import Host as ScrollingHost
from tests.tui_helpers import until

# Kitty's rowcolumn-diacritics.txt, its first eight: rows and columns 0-7.
DIACRITICS = [0x305, 0x30D, 0x30E, 0x310, 0x312, 0x33D, 0x33E, 0x33F]
PLACEHOLDER = "\U0010eeee"
UPLOAD = re.compile(r"\x1b_Ga=t,f=100,i=(\d+),q=2,m=0;([A-Za-z0-9+/=]+)\x1b\\")


class Terminal:
    """What the app writes, in order: ("frame", text) and ("write", text)."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str]] = []

    def display(self, app: App[None], renderable: object) -> None:
        if isinstance(renderable, CompositorUpdate):
            self.written.append(("frame", renderable.render_segments(app.console)))

    def text(self) -> str:
        return "".join(data for _, data in self.written)

    def first(self, kind: str, needle: str) -> int:
        return next(i for i, (k, data) in enumerate(self.written) if k == kind and needle in data)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    term = Terminal()
    monkeypatch.setenv("COLORTERM", "truecolor")  # the app's console: a truecolour terminal
    monkeypatch.setattr(App, "_display", lambda app, screen, renderable:
                        term.display(app, renderable))
    monkeypatch.setattr(HeadlessDriver, "write", lambda driver, data:
                        term.written.append(("write", data)))
    yield term


async def paint(support: GraphicsSupport) -> PictureApp:
    """Run the picture app until the picture was painted, then let it quit."""
    app = PictureApp(support)
    async with app.run_test(size=(20, 4)) as pilot:
        view = app.query_one(PictureView)
        await until(lambda: bool(view._rows))
        await pilot.pause(0.05)
    return app


def expected_canvas() -> Image.Image:
    """The picture as sixel and iTerm2 draw it: fitted in 8x2 cells of 10x20 pixels."""
    canvas = Image.new("RGB", (80, 40), (0, 0, 0))
    canvas.paste(two_colours().resize((80, 40), Image.Resampling.LANCZOS), (0, 0))
    return canvas


@pytest.mark.parametrize("tmux", [False, True], ids=["direct", "tmux"])
async def test_kitty_uploads_once_through_the_driver_and_paints_placeholders(
        terminal: Terminal, tmux: bool) -> None:
    await paint(GraphicsSupport("kitty", (10, 20), tmux))
    text = terminal.text()
    if tmux:  # every command wrapped for tmux, its ESCs doubled
        kitty = [data for kind, data in terminal.written if kind == "write" and "_G" in data]
        assert len(kitty) == 3 and all(
            data.startswith("\x1bPtmux;\x1b\x1b_G") and data.endswith("\x1b\x1b\\\x1b\\")
            for data in kitty)
        text = "".join(data[7:-2].replace("\x1b\x1b", "\x1b") for data in kitty)
    upload = UPLOAD.search(text)
    assert upload is not None, text[:300]
    image_id = int(upload.group(1))
    png = Image.open(io.BytesIO(base64.b64decode(upload.group(2))))
    assert png.size == (40, 20) and png.convert("RGB").tobytes() == two_colours().tobytes()
    assert text.count("a=t,") == 1  # uploaded once
    assert f"\x1b_Ga=p,U=1,i={image_id},c=8,r=2,q=2\x1b\\" in text
    assert text.endswith(f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\")  # freed when it went
    # The placeholders: the id's low 24 bits in the foreground, its top byte the third
    # diacritic; the upload is written before the frame that shows them.
    colour = f"\x1b[38;2;{(image_id >> 16) & 255};{(image_id >> 8) & 255};{image_id & 255}m"
    top = chr(library.tgp()._NUMBER_TO_DIACRITIC[image_id >> 24])
    for row in range(2):
        cells = "".join(PLACEHOLDER + chr(DIACRITICS[row]) + chr(DIACRITICS[col]) + top
                        for col in range(8))
        shown = terminal.first("frame", f"\x1b[{row + 1};1H{colour}{cells}\x1b[0m")
        assert terminal.first("write", "a=p,U=1") < shown


def test_kitty_ids_survive_a_256_colour_terminal() -> None:
    """tmux is often a 256-colour terminal: the id is then a palette index that Rich writes
    as 38;5;N (a 24-bit id would be brought to the nearest of 256, another id)."""
    sent: list[str] = []
    painter = KittyPainter(sent.append, truecolor=False, seed=7)
    console = Console(color_system="256", force_terminal=True, legacy_windows=False)
    for n in range(3):
        strip = painter.strips(n, two_colours(), 2, 1)[0]
        image_id = int(UPLOAD.findall("".join(sent))[n][0])
        assert strip.render(console).startswith(f"\x1b[38;5;{image_id & 255}m{PLACEHOLDER}")
        assert 16 <= image_id & 0xFFFFFF <= 255


async def test_sixel_is_drawn_from_the_last_row(terminal: Terminal) -> None:
    await paint(GraphicsSupport("sixel", (10, 20)))
    sixel = image_to_sixels(expected_canvas())
    # Row 2: seven blank cells, then (cursor saved) back 7, up 1, the picture, restored,
    # and the last blank cell.
    row = f"\x1b[2;1H{' ' * 7}\x1b7\x1b[7D\x1b[1A{sixel}\x1b8 "
    assert terminal.first("frame", row) >= 0
    assert terminal.text().count("\x1bP") == terminal.text().count(row)  # only there


def test_sixel_of_a_part_scrolled_away_is_cropped_to_the_visible_rows() -> None:
    painter = SixelPainter(cell_px=(10, 20))
    lower = image_to_sixels(expected_canvas().crop((0, 20, 80, 40)))
    (only,) = painter.strips("p", two_colours(), 8, 2, range(1, 2))
    assert substitute(only.text) == f"{' ' * 7}\x1b7\x1b[7D{lower}\x1b8 "
    # Through Textual's compositor the sequence is one cell (a mark): never cut in two.
    assert only.cell_length == len(only.text) == 8
    top, bottom = painter.strips("p", two_colours(), 8, 2)
    assert top == Strip.blank(8) and "\x1b[1A" in substitute(bottom.text)


async def test_iterm_inline_image_of_the_visible_rows(terminal: Terminal) -> None:
    await paint(GraphicsSupport("iterm", (10, 20)))
    found = re.search(r"\x1b\[2;1H {7}\x1b7\x1b\[7D\x1b\[1A\x1b\]1337;File=inline=1;size=(\d+);"
                      r"width=8;height=2;preserveAspectRatio=0;doNotMoveCursor=1:"
                      r"([A-Za-z0-9+/=]+)\x07\x1b8 ", terminal.text())
    assert found is not None
    png = base64.b64decode(found.group(2))
    assert int(found.group(1)) == len(png)
    assert Image.open(io.BytesIO(png)).convert("RGB").tobytes() == expected_canvas().tobytes()


async def test_half_blocks_read_back_through_a_vt_emulator(terminal: Terminal) -> None:
    await paint(GraphicsSupport("blocks"))
    screen = pyte.Screen(20, 4)
    stream = pyte.Stream(screen)
    for kind, data in terminal.written:
        if kind == "frame":
            stream.feed(data)
    # The picture shrunk to 8x4 pixels, two a cell: the upper one the foreground.
    pixels = two_colours().resize((8, 4), Image.Resampling.LANCZOS).tobytes()  # RGB
    hexes = [[pixels[(y * 8 + x) * 3:(y * 8 + x + 1) * 3].hex() for x in range(8)]
             for y in range(4)]
    assert (hexes[0][0], hexes[0][7]) == (bytes(RED).hex(), bytes(BLUE).hex())
    for y in range(2):
        row = [screen.buffer[y][x] for x in range(8)]
        assert "".join(cell.data for cell in row) == "\N{UPPER HALF BLOCK}" * 8
        assert [(cell.fg, cell.bg) for cell in row] == list(zip(hexes[2 * y], hexes[2 * y + 1],
                                                                strict=True))
    assert "\x1b_G" not in terminal.text() and "\x1bP" not in terminal.text()


async def test_off_writes_one_line_naming_the_image(terminal: Terminal) -> None:
    data = io.BytesIO()
    two_colours().save(data, format="PNG")
    app = PictureApp(GraphicsSupport("off"), Image.open(data))
    async with app.run_test(size=(40, 4)):
        view = app.query_one(PictureView)
        view.styles.width = 30
        # Laid out at its first width, then at 30 columns: waited for, not a fixed pause.
        await until(lambda: bool(view._rows) and view._rows[0].text.startswith("[image 40x20"))
        assert view._rows[0].text == "[image 40x20 PNG]".ljust(30)
        assert all(segment.style and segment.style.dim
                   for segment in view._rows[0] if segment.text.strip())


class GraphicsHost(ScrollingHost):
    """The console view in an app with this run's graphics, wired as RtuiApp wires them."""

    painter = RtuiApp.__dict__["painter"]
    paint_image = RtuiApp.__dict__["paint_image"]

    def __init__(self, model: ConsoleModel, support: GraphicsSupport) -> None:
        super().__init__()
        self.model = model
        self.graphics = support
        model.geometry.cell_px = support.cell_px


def png_of(image: Image.Image) -> dict[str, str]:
    data = io.BytesIO()
    image.save(data, "PNG")
    return {"image/png": base64.b64encode(data.getvalue()).decode(), "text/plain": "<Figure>"}


async def show_in_console(support: GraphicsSupport, image: Image.Image) -> None:
    model = ConsoleModel()
    app = GraphicsHost(model, support)
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(ConsoleView)
        model.apply(DisplayData(png_of(image)))
        view.notify_changed()
        await until(lambda: isinstance(view.images._done.get((1, 8, 2)), list))
        await pilot.pause(0.05)


async def test_the_console_draws_with_kitty_placeholders(terminal: Terminal) -> None:
    """An 80x40 picture in cells of 10x20 pixels: 8x2 cells, uploaded whole."""
    picture = two_colours().resize((80, 40))
    await show_in_console(GraphicsSupport("kitty", (10, 20)), picture)
    upload = UPLOAD.search(terminal.text())
    assert upload is not None
    png = Image.open(io.BytesIO(base64.b64decode(upload.group(2))))
    assert png.convert("RGB").tobytes() == picture.tobytes()
    image_id = int(upload.group(1))
    assert f"\x1b_Ga=p,U=1,i={image_id},c=8,r=2,q=2\x1b\\" in terminal.text()
    colour = f"38;2;{(image_id >> 16) & 255};{(image_id >> 8) & 255};{image_id & 255}"
    shown = terminal.first("frame", PLACEHOLDER + chr(DIACRITICS[1]) + chr(DIACRITICS[7]))
    assert colour in terminal.written[shown][1]
    assert terminal.first("write", "a=p,U=1") < shown


async def test_the_console_draws_each_sixel_row_on_its_own(terminal: Terminal) -> None:
    """The console caches and scrolls rows one by one: each row is a sixel of its own cells,
    its unset pixels transparent (P2=1) so the part of a band below the row is left alone."""
    picture = two_colours().resize((80, 40))
    await show_in_console(GraphicsSupport("sixel", (10, 20)), picture)
    for row in range(2):
        part = image_to_sixels(picture.crop((0, 20 * row, 80, 20 * (row + 1))))
        assert part.startswith("\x1bP0;0;0q")
        sliced = "\x1b7\x1b[7D\x1bP0;1;0q" + part[len("\x1bP0;0;0q"):] + "\x1b8"
        assert terminal.first("frame", sliced) >= 0
    assert "\x1b[1A" not in terminal.text()  # no row draws above itself
    assert re.search("[\U00100000-\U0010eeed]", terminal.text()) is None  # no mark shows


class _Connection:
    def subscribe(self, callback: object) -> Callable[[], None]:
        return lambda: None


class _Kernels:
    """Stands for a host's kernels service: the pane only subscribes to its connection."""

    name = "lab"
    connection = _Connection()


@pytest.mark.parametrize("mode", ["off", "blocks", "sixel"])
async def test_a_console_takes_the_runs_cell_size_and_off(tmp_path: Path, mode: str) -> None:
    """The console's image geometry (rows an image takes, the plots' size) is the run's:
    the terminal's cell where pixels are drawn, the nominal half-block cell elsewhere."""
    class One(App[None]):
        graphics = GraphicsSupport(mode, (16, 32))

        def compose(self) -> ComposeResult:
            yield ConsolePane(_Kernels(), max_lines=100,  # type: ignore[arg-type]
                              history=tmp_path / "history")

    app = One()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        geometry = app.query_one(ConsolePane).model.geometry
        cell = (16, 32) if mode == "sixel" else HALF_BLOCK_CELL
        assert (geometry.cell_px, geometry.draw) == (cell, mode != "off")
