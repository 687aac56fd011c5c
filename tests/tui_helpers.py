"""Shared by the TUI tests: waiting on conditions (never sleeping a fixed time), reading state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual.widgets import DataTable

from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from rtui.tui.app import RtuiApp
from rtui.tui.render.band_scroll import screen_rows
from rtui.tui.widgets.console import ConsolePane


async def until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def output(pane: ConsolePane) -> str:
    return "\n".join(pane.model.plain_lines())


def store_with(tmp_path: Path, *hosts: Host) -> HostStore:
    store = HostStore(tmp_path / "hosts.toml")
    for host in hosts:
        store.update(partial(Config.with_host, host=host))
    return store


def rows(app: RtuiApp) -> list[list[str]]:
    table = app.query_one("#hosts", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def status_of(app: RtuiApp, name: str) -> str:
    for row in rows(app):
        if row[0] == name:
            return row[1]
    raise AssertionError(f"{name} not listed")


def screen_lines(app: RtuiApp) -> list[str]:
    """The screen as a person sees it, one string per terminal row (the dialog on top too)."""
    return [strip.text.rstrip() for strip in screen_rows(app.screen)]
