"""Big rich outputs (a 1000-row table, a long Markdown) laid out in a thread, so typing never waits.

A rich block's row count is known only once it is laid out, and laying out a 1000-row
DataFrame's HTML costs 0.1 to 0.4 s of CPU: on the event loop that froze the console for about
a second on a loaded machine. The view asks ``deferred(block, line, width)`` wherever it needs a
block's rows. A quick source (``rich_text.quick``: a few ms, ``Markdown('# Title')``) or a
layout already made says False, and the view lays it out at once. Else the layout is queued
(one worker thread; the newest asked first, as the bottom of the output is what a person
reads) and the view counts and draws the block's plain text meanwhile; when the layout is made
(cached in the block, per width), ``on_ready(block, line)`` runs on the loop.

A block is known by its identity, not its line: lines move (a display updated above it), so
each ``deferred`` call notes the line the view counted it at, and ``on_ready`` gets the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from rtui.core.console.blocks import Block, RichBlock
from rtui.core.console.rich_text import quick

__all__ = ["RichLayouts"]

Job = tuple[int, Block, int]  # (id of the block, the block, width)


class RichLayouts:
    """Layouts of a view's big rich blocks, made in a worker thread."""

    def __init__(self, on_ready: Callable[[Block, int], None]) -> None:
        self._on_ready = on_ready
        self._lock = threading.Lock()  # the dicts below are shared with the worker
        # id(block) -> (block, width): asked for, in the order asked (the last is done first).
        # Values hold the block, so its id is not reused while it is a key here.
        self._wanted: dict[int, tuple[Block, int]] = {}
        self._running: dict[int, tuple[Block, int]] = {}
        self._lines: dict[int, int] = {}  # id(block) -> line the view last counted it at
        self._pool: ThreadPoolExecutor | None = None

    def deferred(self, block: Block, line: int, width: int) -> bool:
        """Whether ``block`` is being laid out in the thread at ``width`` (it is queued now if
        it was not); False: ``block.lines(width)`` is cheap or made already."""
        if (not isinstance(block, RichBlock) or block.raw or quick(block.kind, block.source)
                or block.laid_out(width)):
            return False
        key = id(block)
        with self._lock:
            asked = self._wanted.get(key)
            running = self._running.get(key)
            queued = (asked or running or (None, -1))[1] == width
            new = asked is None and not queued
            if not queued:
                self._wanted.pop(key, None)  # asked at another width: now at this one, first
                self._wanted[key] = (block, width)
            self._lines[key] = line
        if new:
            self._submit()
        return True

    def _submit(self) -> None:
        """One more job for the worker (it takes the newest wanted layout, not a given one)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="rtui-rich")
        loop = asyncio.get_running_loop()

        def deliver(done: Future[Job | None]) -> None:
            job = None if done.cancelled() else done.result()
            if job is None:
                return
            with contextlib.suppress(RuntimeError):  # the app's loop closed meanwhile
                loop.call_soon_threadsafe(self._finished, job)

        self._pool.submit(self._work).add_done_callback(deliver)

    def _work(self) -> Job | None:
        """In the worker: lay out the newest wanted block (its rows are cached in it)."""
        with self._lock:
            if not self._wanted:
                return None
            key = next(reversed(self._wanted))
            block, width = self._wanted.pop(key)
            self._running[key] = (block, width)
        block.lines(width)  # RichBlock._render turns a renderer's failure into rows
        return key, block, width

    def _finished(self, job: Job) -> None:
        key, block, _ = job
        with self._lock:
            self._running.pop(key, None)
            line = self._lines.get(key)
            if key not in self._wanted:
                self._lines.pop(key, None)
        if line is not None:
            self._on_ready(block, line)

    def close(self) -> None:
        """Stop the worker (the view is going)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
