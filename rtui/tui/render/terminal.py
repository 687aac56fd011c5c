"""Escape sequences of rtui's own (kitty image uploads) written to the terminal through
Textual's driver, in order with its frames: the driver's writer thread is the one writer of
the terminal, so nothing rtui writes lands in the middle of a frame."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["terminal_writer"]


def terminal_writer(app: App[Any]) -> Callable[[str], None]:
    """A function that writes to ``app``'s terminal, from any thread (off the event loop the
    write is handed to the loop). Make it on the loop; writes after the app stopped are
    dropped (a headless app writes nothing)."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def write_now(data: str) -> None:
        driver = app._driver
        if driver is not None:
            driver.write(data)

    def write(data: str) -> None:
        if threading.get_ident() == loop_thread:
            write_now(data)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(write_now, data)

    return write
