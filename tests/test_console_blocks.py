"""Rich outputs and images as blocks of the console model, and the view that draws them."""

from __future__ import annotations

import base64
import gc
import io
import threading
import time

import pandas
import pytest
from PIL import Image
from rich.console import RenderableType
from rich.text import Text
from textual.strip import Strip
from textual.widgets import Input

from rtui.core.console import blocks
from rtui.core.console.blocks import ImageBlock, ImageGeometry, RichBlock
from rtui.core.console.images import ImageStore, header_size
from rtui.core.console.model import ConsoleModel
from rtui.core.halfblocks import UPPER_HALF
from rtui.core.kernels.events import ClearOutput, DisplayData, ExecuteResult
from rtui.core.svg import rasterise, svg_size
from rtui.tui.widgets.console_view import ConsoleView
from tests.test_console_view import Host, shown, until, visible


def picture(fmt: str, size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def png_bundle(size: tuple[int, int] = (64, 48), colour: str = "red") -> dict[str, str]:
    return {"image/png": base64.b64encode(picture("PNG", size, colour)).decode(),
            "text/plain": "<Figure>"}


def test_pixel_sizes_come_from_the_file_headers() -> None:
    for fmt in ("PNG", "GIF", "JPEG", "BMP", "WEBP"):
        assert header_size(picture(fmt, (123, 45))) == (123, 45), fmt
    assert header_size(b"not an image") is None
    assert header_size(b"\x89PNG\r\n\x1a\n") is None  # cut short: unknown, no exception


def test_the_store_stops_drawing_then_stops_keeping_the_oldest_images() -> None:
    store = ImageStore(inline_bytes=250, kept_bytes=500)
    records = [store.add("image/png", bytes(100)) for _ in range(6)]
    assert [r.inline for r in records] == [False] * 4 + [True] * 2
    assert [r.data is not None for r in records] == [False] * 1 + [True] * 5
    assert store.kept_total == 500
    assert [r.seq for r in store.records()] == [6, 5, 4, 3, 2, 1]
    big = store.add("image/png", bytes(10_000))  # the newest is kept whatever its size
    assert big.inline and big.data is not None
    assert all(r.data is None for r in records)


def test_an_image_keeps_its_aspect_within_the_width_and_the_rows() -> None:
    geometry = ImageGeometry(cell_px=(10, 20), max_rows=20)
    cols, rows = geometry.cells((640, 480), 200)
    assert rows == 20 and cols == 53  # too tall at its natural 64 columns: shrunk
    assert geometry.cells((100, 50), 200) == (10, 3)  # small: its natural size
    assert geometry.cells((1000, 100), 40) == (40, 2)  # wide: the view's width
    assert ImageGeometry(draw=False).cells((640, 480), 80) == (80, 1)


def test_raw_toggles_a_block_to_its_text_plain() -> None:
    m = ConsoleModel()
    m.apply(DisplayData({"text/markdown": "# Title", "text/plain": "<Markdown object>"}))
    block = m.block_at(m.total - 1)
    assert isinstance(block, RichBlock)
    version = m.version
    block.raw = True
    m.block_changed(m.total - 1)
    assert m.version > version
    assert [t.plain for t in block.lines(40)] == ["<Markdown object>"]
    assert m.changes_since(version).modified == frozenset({m.total - 1})


def test_a_live_plot_is_updated_in_place() -> None:
    m = ConsoleModel()
    m.apply(DisplayData(png_bundle(colour="red"), transient={"display_id": "plot"}))
    m.apply(DisplayData(png_bundle(colour="blue"), transient={"display_id": "plot"},
                        update=True))
    assert m.line_count == 1
    only = m.block_at(m.first_index)
    assert isinstance(only, ImageBlock) and only.record.seq == 2
    # clear_output(wait=True) then a new frame: the frame replaces the old one.
    m.apply(ClearOutput(wait=True))
    m.apply(DisplayData(png_bundle(colour="green")))
    assert m.line_count == 1
    assert isinstance(m.block_at(m.first_index), ImageBlock)


def test_a_multi_line_result_with_html_is_drawn_below_its_prompt() -> None:
    m = ConsoleModel()
    m.apply(ExecuteResult(7, {"text/plain": "   a\n0  1", "text/html": "<table></table>"}))
    assert m.plain_lines()[0] == "Out[7]:"
    assert isinstance(m.block_at(m.first_index + 1), RichBlock)


async def test_the_view_draws_a_picture_in_half_blocks_off_the_event_loop() -> None:
    model = ConsoleModel()
    app = Host(model)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        model.apply(DisplayData(png_bundle((200, 100), "red")))
        view.notify_changed()
        # First the label (the picture is drawn in a thread), then the cells.
        await until(pilot, lambda: any(UPPER_HALF in row for row in visible(view)))
        rows = [row for row in visible(view) if UPPER_HALF in row]
        assert len(rows) == 5  # 200x100 px at 10x20 px cells: 20 columns, 5 rows
        strip = view.render_line(visible(view).index(rows[0]))
        colours = {seg.style.color.triplet for seg in strip if seg.style and seg.style.color
                   and UPPER_HALF in seg.text}
        assert colours == {(255, 0, 0)}


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="4in" height="{h}" viewBox="0 0 384 192">'
       '<rect width="384" height="192" fill="#00ff00"/></svg>')


def test_svg_sizes_come_from_the_root_element() -> None:
    assert svg_size(SVG.format(h="2in").encode()) == (384, 192)
    assert svg_size(SVG.replace(' width="4in"', "").format(h="96").encode()) == (192, 96)
    assert svg_size(b'<svg viewBox="0,0,30,10"></svg>') == (30, 10)
    assert svg_size(b'<svg width="100%" height="100%"></svg>') is None
    assert svg_size(b"<html></html>") is None


async def test_an_svg_is_rasterised_and_drawn_like_any_picture() -> None:
    model = ConsoleModel()
    model.apply(DisplayData({"image/svg+xml": SVG.format(h="2in"), "text/plain": "<Fig>"}))
    block = model.block_at(model.first_index)
    assert isinstance(block, ImageBlock) and block.record.size_px == (384, 192)
    png = rasterise(block.record.data or b"", 96)
    assert header_size(png) == (96, 48)
    app = Host(model)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        view.notify_changed()
        await until(pilot, lambda: any(UPPER_HALF in row for row in visible(view)))
        y = next(i for i, row in enumerate(visible(view)) if UPPER_HALF in row)
        colours = {seg.style.color.triplet for seg in view.render_line(y)
                   if seg.style and seg.style.color and UPPER_HALF in seg.text}
        assert colours == {(0, 255, 0)}
    model.apply(DisplayData({"image/svg+xml": "<svg>broken", "text/plain": "<Fig>"}))
    broken = model.block_at(model.total - 1)
    assert isinstance(broken, ImageBlock) and not broken.drawn  # no size: named, not drawn


async def test_two_hundred_pictures_are_drawn_off_the_loop_and_only_those_seen() -> None:
    model = ConsoleModel()
    app = Host(model)
    painted: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        paint = view.images._paint

        def spy(data: bytes, cols: int, rows: int) -> list[Strip]:
            painted.append(threading.current_thread().name)
            return paint(data, cols, rows)

        view.images._paint = spy
        bundle = png_bundle((100, 50))
        started = time.perf_counter()
        for _ in range(200):  # one cell's 200 plots, as fast as the kernel sends them
            model.apply(DisplayData(bundle))
            view.notify_changed()
        applied = time.perf_counter() - started
        await pilot.press(*"typed")  # typing goes on meanwhile
        await until(pilot, lambda: any(UPPER_HALF in row for row in visible(view)))
        await until(pilot, lambda: app.query_one(Input).value == "typed")
        await pilot.pause(0.2)
    assert len(model.images) == 200
    assert applied < 1.0  # no decoding as they arrive: the headers only
    assert painted and all(name.startswith("rtui-images") for name in painted)
    assert len(painted) <= 12  # those in view (24 rows / 3 rows each), not all 200


def spy_layouts(monkeypatch: pytest.MonkeyPatch, hold: threading.Event | None = None
                ) -> list[tuple[str, int]]:
    """(thread name, width) of every rich layout; a layout outside the main thread waits for
    ``hold`` (bounded: a layout on the loop would only stall the test, not hang it)."""
    laid_out: list[tuple[str, int]] = []
    render = blocks.render_lines

    def spy(renderable: RenderableType, width: int) -> list[Text]:
        name = threading.current_thread().name
        laid_out.append((name, width))
        if hold is not None and name != "MainThread":
            hold.wait(10)
        return render(renderable, width)

    monkeypatch.setattr(blocks, "render_lines", spy)
    return laid_out


async def test_a_small_markdown_is_drawn_in_the_frame_it_arrives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    laid_out = spy_layouts(monkeypatch)
    model = ConsoleModel()
    app = Host(model)
    async with app.run_test(size=(80, 24)):
        view = app.query_one(ConsoleView)
        model.apply(DisplayData({"text/markdown": "# Title\n\nSome *text*.",
                                 "text/plain": "<Markdown>"}))
        view.sync()
        rows = [row.strip() for row in visible(view) if row.strip()]
        assert rows == ["Title", "Some text."]  # rendered at once, never its plain text first
    assert [name for name, _ in laid_out] == ["MainThread"]


async def test_a_thousand_row_table_is_laid_out_off_the_loop_while_typing_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its plain text (dim) at once; the layout in a thread, held there while a person types
    and a display above it grows (the table moves down two lines); then the table, and again
    in the thread at a new width."""
    hold = threading.Event()
    laid_out = spy_layouts(monkeypatch, hold)
    frame = pandas.DataFrame({"a": range(1000), "b": [i / 2 for i in range(1000)],
                              "c": ["text"] * 1000})
    model = ConsoleModel()
    app = Host(model)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        status = {"display_id": "status"}
        model.apply(DisplayData({"text/plain": "loading"}, transient=status))
        bundle = {"text/html": frame.to_html(), "text/plain": repr(frame)}
        gc.collect()  # a full collection's pause is not the layout's: keep it out of the count
        started = time.thread_time()
        model.apply(DisplayData(bundle))
        view.sync()
        rows = shown(view)
        on_loop = time.thread_time() - started  # CPU of this thread: the machine's load aside
        assert rows[-1] == "[1000 rows x 3 columns]" and "995  995  497.5  text" in rows
        last = next(iter(view.render_line(visible(view).index(rows[-1]))))
        assert last.style is not None and last.style.dim
        await pilot.press(*"typed")
        await until(pilot, lambda: app.query_one(Input).value == "typed")
        model.apply(DisplayData({"text/plain": "loaded\n2\n3"}, transient=status, update=True))
        view.notify_changed()
        await until(pilot, lambda: shown(view)[:3] == ["loaded", "2", "3"])  # it moved down
        assert laid_out and not hold.is_set()  # typing went on while the layout was held
        hold.set()
        table_end = ["997  997  498.5  text", "998  998  499.0  text", "999  999  499.5  text"]
        await until(pilot, lambda: [row.strip() for row in shown(view)[-3:]] == table_end)
        await pilot.resize_terminal(60, 24)
        await until(pilot, lambda: any(width < 60 for _, width in laid_out))
        await until(pilot, lambda: [row.strip() for row in shown(view)[-3:]] == table_end)
    assert all(name.startswith("rtui-rich") for name, _ in laid_out), laid_out
    print(f"\nthe loop's CPU for the table's first frame: {on_loop * 1e3:.1f} ms")
    assert on_loop < 0.05, f"{on_loop * 1e3:.0f} ms of the loop's CPU"
