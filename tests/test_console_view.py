"""ConsoleView in a small host app, driven like a person: lines appear, follow, scroll, typing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input

from rtui.core.console.model import ConsoleModel
from rtui.core.kernels.events import ClearOutput, DisplayData, ExecuteInput, Stream
from rtui.tui.widgets.console_view import ConsoleView


class Host(App[None]):
    """The console pane's shape: output above, the input below it (where focus sits)."""

    CSS = """
    ConsoleView { height: 1fr; }
    Input { height: 3; }
    """

    def __init__(self, model: ConsoleModel) -> None:
        super().__init__()
        self.model = model
        self.changed_at: list[float] = []

    def compose(self) -> ComposeResult:
        yield ConsoleView(self.model)
        yield Input()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.changed_at.append(time.perf_counter())

    def write(self, text: str, name: str = "stdout") -> None:
        """What the console pane does per kernel event: apply, then ask for a repaint."""
        self.model.apply(Stream("stdout" if name == "stdout" else "stderr", text))
        self.query_one(ConsoleView).notify_changed()


def visible(view: ConsoleView) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)]


def shown(view: ConsoleView) -> list[str]:
    return [line for line in visible(view) if line]


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5) -> None:
    """Let the app run (timers, repaints) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the view"
        await pilot.pause(0.01)


FLOOD_PACE = 0.15
# Seconds between messages: ipykernel sends 200k lines as ~15 messages over ~3.5 s.


def numbered(start: int, stop: int) -> str:
    return "".join(f"line {i}\n" for i in range(start, stop))


async def test_lines_appear_and_the_view_follows_the_bottom() -> None:
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        app.write("hello\nwor")
        await until(pilot, lambda: shown(view) == ["hello", "wor"])
        app.write("ld\n")
        await until(pilot, lambda: shown(view) == ["hello", "world"])
        app.write(numbered(0, 100))
        await until(pilot, lambda: visible(view)[-1] == "line 99")
        assert view.follow
        assert view.scroll_y == view.max_scroll_y > 0
        assert app.focused is app.query_one(Input)  # output never steals focus


async def test_new_lines_under_old_ones_repaint_only_their_rows() -> None:
    """While the output fits, a new result repaints its own rows, not the rows above it
    nor the blank ones below; once it scrolls, every row moves and all are repainted."""
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        app.write(numbered(0, 3))
        await until(pilot, lambda: shown(view)[-1:] == ["line 2"])
        calls: list[tuple[Region, ...]] = []
        original = view.refresh

        def spy(*regions: Region, **kwargs: bool) -> ConsoleView:
            calls.append(regions)
            return original(*regions, **kwargs)

        view.refresh = spy  # type: ignore[method-assign]
        app.write(numbered(3, 5))
        await until(pilot, lambda: shown(view)[-1:] == ["line 4"])
        width = max(view.virtual_size.width, view.size.width)
        # The open last line (3 done, then "line 3\n" and "line 4\n") starts at row 3.
        assert calls == [(Region(0, 3, width, 2),)], calls

        calls.clear()
        height = view.scrollable_content_region.height
        app.write(numbered(5, 5 + height))
        await until(pilot, lambda: shown(view)[-1:] == [f"line {4 + height}"])
        assert () in calls, calls  # scrolled: a full repaint


async def test_scrolled_up_position_is_kept_while_lines_arrive_and_drop() -> None:
    app = Host(ConsoleModel(max_lines=150))
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        app.write(numbered(0, 100))
        await until(pilot, lambda: visible(view)[-1] == "line 99")
        view.focus()
        await pilot.press("pageup")
        assert not view.follow
        top = visible(view)[0]
        assert top.startswith("line ") and top != "line 0"
        app.write(numbered(100, 150))  # more output: nothing moves
        await until(pilot, lambda: view.model.total == 150 and view.virtual_size.height == 150)
        assert visible(view)[0] == top
        app.write(numbered(150, 190))  # 40 lines dropped from the top: still nothing moves
        await until(pilot, lambda: view.model.first_index == 40)
        await pilot.pause(0.1)
        assert visible(view)[0] == top
        assert not view.follow
        await pilot.press("end")  # back to the bottom, following again
        assert view.follow
        assert visible(view)[-1] == "line 189"
        app.write(numbered(190, 200))
        await until(pilot, lambda: visible(view)[-1] == "line 199")


async def test_home_and_page_down_reach_the_bottom_and_follow_again() -> None:
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        app.write(numbered(0, 60))
        await until(pilot, lambda: visible(view)[-1] == "line 59")
        view.focus()
        await pilot.press("home")
        assert visible(view)[0] == "line 0" and not view.follow
        await pilot.press("pagedown", "pagedown", "pagedown")
        assert view.follow
        app.write(numbered(60, 70))
        await until(pilot, lambda: visible(view)[-1] == "line 69")


async def test_long_lines_soft_wrap() -> None:
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        width = view.scrollable_content_region.width
        long = "".join(str(i % 10) for i in range(2 * width + 5))
        app.write(f"short\n{long}\nafter\n")
        await until(pilot, lambda: "after" in shown(view))
        rows = shown(view)
        assert rows == ["short", long[:width], long[width : 2 * width], long[2 * width :], "after"]
        assert view.virtual_size.height == 5


async def test_edits_above_the_bottom_rewrap_and_repaint() -> None:
    """A line redrawn in place that grows past the width, a display update, a clear_output."""
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        width = view.scrollable_content_region.width
        app.model.apply(ExecuteInput("work()", 1, "c"))
        app.model.apply(DisplayData({"text/plain": "chart v1"}, transient={"display_id": "d"}))
        app.write("\rstep 1", "stderr")
        app.write("log a\n")  # stdout: the stderr line stays open above it
        await until(pilot, lambda: shown(view) == ["In [1]: work()", "chart v1", "step 1", "log a"])
        wide = "x" * (width + 10)
        app.write(f"\r{wide}", "stderr")  # redrawn in place, now two rows
        await until(pilot, lambda: view.virtual_size.height == 5)
        assert shown(view) == ["In [1]: work()", "chart v1", wide[:width], wide[width:], "log a"]
        app.model.apply(
            DisplayData(
                {"text/plain": "chart v2\nwith legend"},
                transient={"display_id": "d"},
                update=True,
            )
        )
        view.notify_changed()
        expected = [
            "In [1]: work()",
            "chart v2",
            "with legend",
            wide[:width],
            wide[width:],
            "log a",
        ]
        await until(pilot, lambda: shown(view) == expected)
        assert view.virtual_size.height == 6
        app.model.apply(ClearOutput(False, "c"))
        app.write("fresh\n")
        await until(pilot, lambda: shown(view) == ["In [1]: work()", "fresh"])
        assert view.virtual_size.height == 2


async def test_resize_rewraps() -> None:
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        app.write("y" * 100 + "\nend\n")
        await until(pilot, lambda: shown(view)[-1:] == ["end"])
        assert view.virtual_size.height == 3
        await pilot.resize_terminal(40, 24)
        await until(pilot, lambda: view.virtual_size.height == 4)  # 100 cells in 39-cell rows
        assert shown(view)[-1] == "end"


async def test_ansi_colours_reach_the_rendered_strips() -> None:
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        app.write("\x1b[31mred\x1b[0m plain \x1b[1;34mblue\x1b[0m\n")
        await until(pilot, lambda: shown(view) == ["red plain blue"])
        segments = {seg.text: seg.style for seg in view.render_line(0) if seg.text.strip()}
        red, blue = segments["red"], segments["blue"]
        assert red is not None and red.color is not None and red.color.number == 1
        assert blue is not None and blue.color is not None and blue.color.number == 4
        assert blue.bold


async def test_progress_bar_shows_only_its_latest_state() -> None:
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        for pct in range(0, 101, 10):
            app.write(f"\rtraining {pct:3d}%|{'#' * (pct // 10):<10}|", "stderr")
            await pilot.pause()
        app.write("\n", "stderr")
        app.write("done\n")
        await until(pilot, lambda: shown(view) == ["training 100%|##########|", "done"])
        screen = app.export_screenshot()
        assert "100%" in screen and " 90%" not in screen and " 50%" not in screen


async def test_typing_stays_responsive_during_a_flood() -> None:
    """100,000 lines arrive in ~150 KB messages (as ipykernel sends them) while a person types."""
    app = Host(ConsoleModel())
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ConsoleView)
        text = numbered(0, 100_000)
        messages = [text[i : i + 150_000] for i in range(0, len(text), 150_000)]

        async def flood() -> None:
            for message in messages:  # arrival pace of a kernel printing flat out
                app.write(message)
                await asyncio.sleep(FLOOD_PACE)

        started = time.perf_counter()
        feeder = asyncio.create_task(flood())
        typed, pressed_at, during = "", [], 0
        for key in "abcdefghijklmnopqrstuvwxyz" * 2:
            if feeder.done():
                break
            during += 1
            pressed_at.append(time.perf_counter())
            await pilot.press(key)
            typed += key
        await feeder
        await until(pilot, lambda: visible(view)[-1] == "line 99999")
        elapsed = time.perf_counter() - started
        assert app.query_one(Input).value == typed
        latencies = [
            done - pressed for pressed, done in zip(pressed_at, app.changed_at, strict=True)
        ]
        print(
            f"\n100k lines in {len(messages)} messages painted after {elapsed:.2f} s;"
            f" {during} keys typed meanwhile, worst press-to-value {max(latencies) * 1e3:.1f} ms"
        )
        assert during >= 5
        assert max(latencies) < 0.5
