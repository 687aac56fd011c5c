"""The big directory in rtui's Files tab: the app driven by Textual's pilot (headless, 80x24),
timed from the tab being told to show the folder to its first rows on screen, and to the
whole listing sorted in (``go``, what ``:`` and a typed path do). The tab is opened with
``f`` on the host list (its host connected) first, untimed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from benchmarks.files.bench import STEP_TIMEOUT, Bench, Row

PAINT_POLL = 0.005  # seconds between looks at the screen
OPEN_TIMEOUT = 60.0


async def tab_listing(bench: Bench, path: str, runs: int, row: Row, mark: str) -> None:
    """``runs`` times: from the tab's folder (``bench.remote``) to ``path``, whose names hold
    ``mark``; back again, untimed, between runs."""
    from rtui.core.config.store import HostStore
    from rtui.tui.app import RtuiApp
    from rtui.tui.render.band_scroll import screen_rows
    from rtui.tui.widgets.files import FilesPane

    app = RtuiApp(HostStore(bench.home / ".config" / "rtui" / "hosts.toml"),
                  check_on_start=False)

    def painted() -> bool:
        return any(mark in strip.text for strip in screen_rows(app.screen))

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")  # on the host list (its one host): the host's Files tab
        await until(lambda: bool(app.query(FilesPane)), OPEN_TIMEOUT, "the Files tab opened")
        pane = app.query_one(FilesPane)
        await until(lambda: pane.file_list.complete, OPEN_TIMEOUT, "the home listed")
        pane.go(str(bench.remote))
        await until(lambda: pane.path == str(bench.remote) and pane.file_list.complete,
                    OPEN_TIMEOUT, "the tab's first folder listed")
        for _ in range(runs):
            started = time.perf_counter()
            pane.go(path)
            await until(painted, STEP_TIMEOUT, "the first rows painted")
            row.add("first", time.perf_counter() - started)
            await until(lambda: pane.path == path and pane.file_list.complete, STEP_TIMEOUT,
                        "the whole listing")
            row.add("all", time.perf_counter() - started)
            pane.go(str(bench.remote))
            await until(lambda: pane.path == str(bench.remote) and pane.file_list.complete
                        and not painted(), STEP_TIMEOUT, "the way back")


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(PAINT_POLL)
