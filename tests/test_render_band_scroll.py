"""Rows that only scrolled are moved by the terminal, not painted again.

Every frame the app writes is fed to a VT emulator (pyte): after each one, what the emulated
terminal shows must be exactly what the app meant to paint (its compositor's full render),
whether the frame moved rows (a band scroll) or fell back to painting the view whole.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pyte
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from rtui.core.config.model import Settings
from rtui.core.config.store import HostStore
from rtui.core.console.model import ConsoleModel
from rtui.core.kernels.events import Stream
from rtui.tui.app import RtuiApp
from rtui.tui.render.band_scroll import (
    CompositorUpdate,
    ScrollingApp,
    ScrollingScreen,
    screen_rows,
    scroll_sequence,
)
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console_view import ConsoleView
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.test_console_view import numbered, until
from tests.tui_helpers import until as until_true

WIDTH, HEIGHT = 80, 24
DL = "M\x1b[r"  # the end of a band scroll: lines deleted, the region reset
DECSTBM = re.compile(r"\x1b\[\d*;\d*r")  # a scrolling region set (its reset is "\x1b[r")
DELETE_LINES = re.compile(r"\x1b\[\d*M")  # DL


class Host(ScrollingApp):
    """The console pane's shape: output above, an input below it."""

    CSS = """
    ConsoleView { height: 1fr; }
    Input { height: 3; }
    """

    def __init__(self, max_lines: int = 100_000, *, band_scroll: bool = True) -> None:
        super().__init__()
        self.model = ConsoleModel(max_lines=max_lines)
        self.band_scroll_setting = band_scroll

    @property
    def band_scroll(self) -> bool:
        return self.band_scroll_setting

    def compose(self) -> ComposeResult:
        yield ConsoleView(self.model)
        yield Input()

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = False  # a blink is a frame of its own: the byte counts are of output
        field.focus()

    def write(self, text: str) -> None:
        self.model.apply(Stream("stdout", text))
        self.query_one(ConsoleView).notify_changed()


class Terminal:
    """A VT emulator fed with every frame the app displays (headless apps display nothing,
    so the frames are rendered here exactly as the driver would write them)."""

    def __init__(self) -> None:
        self.screen = pyte.Screen(WIDTH, HEIGHT)
        self.stream = pyte.Stream(self.screen)
        self.frames: list[str] = []

    def display(self, app: App[None], renderable: object) -> None:
        if isinstance(renderable, CompositorUpdate):
            data = renderable.render_segments(app.console)
            self.frames.append(data)
            self.stream.feed(data)

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]

    def shows(self, text: str) -> bool:
        return any(text in row for row in self.screen.display)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    term = Terminal()
    monkeypatch.setattr(App, "_display", lambda app, screen, renderable:
                        term.display(app, renderable))
    yield term


def meant(app: App[None]) -> list[str]:
    """What the app's compositor says the whole screen is."""
    return [strip.text.rstrip() for strip in screen_rows(app.screen)]


async def write_and_check(app: Host, pilot: Pilot[None], terminal: Terminal, start: int,
                          stop: int, *, moved: bool | None) -> list[str]:
    """Write lines ``start .. stop - 1`` and let them paint: the terminal shows what the app
    means, and its rows were moved (True), painted (False) or either (None). The frames."""
    before = len(terminal.frames)
    app.write(numbered(start, stop))
    await until(pilot, lambda: f"line {stop - 1}" in " ".join(terminal.rows()))
    await pilot.pause(0.02)
    assert terminal.rows() == meant(app)
    frames = terminal.frames[before:]
    if moved is not None:
        assert any(DL in frame for frame in frames) is moved, "rows moved or painted?"
    return frames


def test_scroll_sequence_moves_only_its_band() -> None:
    screen = pyte.Screen(10, 5)
    stream = pyte.Stream(screen)
    stream.feed("".join(f"\x1b[{y + 1};1H{c}" for y, c in enumerate("abcde")))
    stream.feed(scroll_sequence(1, 3, 2))
    assert [row.rstrip() for row in screen.display] == ["a", "d", "", "", "e"]


async def test_followed_output_is_moved_by_the_terminal_and_shows_right(
        terminal: Terminal) -> None:
    app = Host()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        view = app.query_one(ConsoleView)
        assert isinstance(app.screen, ScrollingScreen)
        before = len(terminal.frames)
        app.write(numbered(0, 30))
        await until(pilot, lambda: "line 29" in terminal.rows())
        # The view painted whole (its scrollbar may follow in a frame of its own).
        full = max(len(frame) for frame in terminal.frames[before:])
        for start in range(30, 60, 3):  # a result: a few rows at a time
            frames = await write_and_check(app, pilot, terminal, start, start + 3, moved=True)
            # Three new rows and the scrollbar, not the 21 rows of the view.
            assert sum(len(frame) for frame in frames) < full / 2
        assert view.follow


async def test_rows_are_moved_also_once_old_lines_are_dropped(terminal: Terminal) -> None:
    """At its line limit every new line drops the oldest: the view still moves up by the new
    rows only, and the terminal shows what the app means."""
    app = Host(max_lines=40)
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        app.write(numbered(0, 60))
        await until(pilot, lambda: "line 59" in terminal.rows())
        for start in range(60, 90, 3):
            await write_and_check(app, pilot, terminal, start, start + 3, moved=True)
            assert app.model.first_index > 0  # lines were dropped


async def test_a_notification_over_the_output_makes_the_view_paint_whole(
        terminal: Terminal) -> None:
    app = Host()
    async with app.run_test(size=(WIDTH, HEIGHT), notifications=True) as pilot:
        app.write(numbered(0, 40))
        await until(pilot, lambda: "line 39" in terminal.rows())
        app.notify("toast here", timeout=30)
        await until(pilot, lambda: any("toast here" in row for row in terminal.rows()))
        await write_and_check(app, pilot, terminal, 40, 42, moved=False)


class Dialog(ModalScreen[None]):
    def compose(self) -> ComposeResult:
        yield Label("a dialog over the console")


async def test_output_under_a_dialog_and_after_it_shows_right(terminal: Terminal) -> None:
    """Under a dialog the rows are not moved (the dialog's screen paints the console then);
    once it is gone they are again."""
    app = Host()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        app.write(numbered(0, 30))
        await until(pilot, lambda: "line 29" in terminal.rows())
        app.push_screen(Dialog())
        await until(pilot, lambda: any("a dialog" in row for row in terminal.rows()))
        await write_and_check(app, pilot, terminal, 30, 33, moved=False)
        app.pop_screen()
        await pilot.pause(0.05)
        assert terminal.rows() == meant(app)
        await write_and_check(app, pilot, terminal, 33, 36, moved=True)


async def test_two_scrolls_before_a_frame_and_scrolling_back_stay_right(
        terminal: Terminal) -> None:
    app = Host()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        view = app.query_one(ConsoleView)
        app.write(numbered(0, 30))
        await until(pilot, lambda: "line 29" in terminal.rows())
        # Two catch-ups before the screen paints: the second cannot move rows the first
        # only marked, so the view is painted whole; either way the screen is right.
        app.write(numbered(30, 32))
        view.sync()
        app.write(numbered(32, 33))
        view.sync()
        await until(pilot, lambda: "line 32" in terminal.rows())
        await pilot.pause(0.02)
        assert terminal.rows() == meant(app)
        await pilot.press("tab")  # focus the output, then scroll back and forth
        view.focus()
        for key in ("up", "up", "pageup", "end"):
            await pilot.press(key)
            await pilot.pause(0.02)
            assert terminal.rows() == meant(app)
        await write_and_check(app, pilot, terminal, 33, 35, moved=None)


async def test_paint_now_paints_pending_rows_in_this_loop_turn(terminal: Terminal) -> None:
    app = Host()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        view = app.query_one(ConsoleView)
        app.write("first\n")
        await until(pilot, lambda: "first" in terminal.rows())
        app.model.apply(Stream("stdout", "second\n"))
        view.sync()  # marks its rows dirty; Textual would paint them some loop turns later
        screen = app.screen
        assert isinstance(screen, ScrollingScreen)
        screen.paint_now()
        assert "second" in terminal.rows()  # no await in between
        assert terminal.rows() == meant(app)


async def test_band_scroll_off_writes_no_scrolling_region_and_shows_right(
        terminal: Terminal) -> None:
    """With the setting off (a terminal that mishandles scrolling regions) the view is
    painted whole, as Textual does: no DECSTBM, no DL, and the screen is what the app means,
    following the output, scrolling back, and once old lines are dropped."""
    app = Host(max_lines=40, band_scroll=False)
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        view = app.query_one(ConsoleView)
        app.write(numbered(0, 30))
        await until(pilot, lambda: "line 29" in terminal.rows())
        for start in range(30, 60, 3):  # results a few rows at a time, then the line limit
            await write_and_check(app, pilot, terminal, start, start + 3, moved=False)
        assert app.model.first_index > 0
        assert view.follow
        view.focus()
        for key in ("up", "pageup", "end"):
            await pilot.press(key)
            await pilot.pause(0.02)
            assert terminal.rows() == meant(app)
        written = "".join(terminal.frames)
        assert not DECSTBM.search(written), "a scrolling region was set"
        assert not DELETE_LINES.search(written), "lines were deleted"
        # Turned on (a reloaded setting), the next result's rows are moved again: the checks
        # above look for what band scrolling writes.
        app.band_scroll_setting = True
        await write_and_check(app, pilot, terminal, 60, 63, moved=True)
        written = "".join(terminal.frames)
        assert DECSTBM.search(written) and DELETE_LINES.search(written)


@pytest.mark.parametrize("band_scroll", [False, True], ids=["off", "on"])
async def test_rtui_console_follows_the_band_scroll_setting(
        band_scroll: bool, sshd: SSHD, tmp_path: Path, isolated_home: Path,
        terminal: Terminal) -> None:
    """rtui itself, on a real kernel, with ``band_scroll`` set in hosts.toml: results are
    moved by the terminal only when it is on, and the screen is right either way."""
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: dataclasses.replace(
        c.with_host(host_for(sshd, "lab", python=sys.executable)),
        settings=Settings(band_scroll=band_scroll)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        await until_true(lambda: app.band_scroll is band_scroll)
        await pilot.press("enter")  # a console on a new kernel
        await until_true(lambda: isinstance(app.focused, CodeInput))
        await pilot.press(*"for i in range(60): print(i)", "enter")
        await until_true(lambda: "59" in terminal.rows())
        before = len(terminal.frames)
        for n in range(3):  # results a few rows at a time, under a full view
            await pilot.press(*f"print('cell', {n})", "enter")
            await until_true(partial(terminal.shows, f"cell {n}"))
        await until_true(lambda: terminal.rows() == meant(app), timeout=2)
        written = "".join(terminal.frames[before:])
        assert bool(DECSTBM.search(written)) is band_scroll
        assert bool(DELETE_LINES.search(written)) is band_scroll
