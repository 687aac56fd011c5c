"""Pictures in the console's output, drawn in a thread so an image never delays typing.

Its own module because drawing is the one slow thing a console view does: decoding a PNG and
turning it into cells costs milliseconds to tens of milliseconds, and a cell may show 200
plots. The view asks for a picture's rows when it paints them; the first time, the picture is
queued (one worker thread, in the order they are painted) and the view draws its label
meanwhile; when it is ready the view repaints that line. Only pictures that are painted are
ever drawn, and the drawings of the last few dozen are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from rtui.core.console.blocks import ImageBlock
from rtui.core.halfblocks import ImageError, cells, decode
from rtui.core.svg import SVG_MIME, rasterise

__all__ = ["InlineImages", "half_block_rows", "raster"]

_KEEP: Final = 48  # drawings kept (key: image, columns, rows)

Key = tuple[int, int, int]  # (record seq, columns, rows)


def raster(data: bytes, mime: str) -> bytes:
    """Bytes Pillow can decode: an SVG rasterised first (rtui.core.svg); call in a thread."""
    if mime != SVG_MIME:
        return data
    try:
        return rasterise(data)
    except ValueError as exc:
        raise ImageError(f"not an SVG that can be drawn ({exc})") from None


def half_block_rows(data: bytes, cols: int, rows: int) -> list[Strip]:
    """The picture in coloured half-block cells (every terminal, tmux too); call in a thread."""
    image = decode(data)
    console = Console(width=max(cols, 1), color_system="truecolor", force_terminal=True,
                      legacy_windows=False)
    out = [Strip(list(text.render(console))) for text in cells(image, cols, rows)]
    while len(out) < rows:
        out.append(Strip([]))
    return out


class InlineImages:
    """Drawings of a view's pictures; ``on_ready(line)`` is called on the loop when one is."""

    def __init__(self, on_ready: Callable[[int], None],
                 paint: Callable[[bytes, int, int], list[Strip]] = half_block_rows) -> None:
        self._on_ready = on_ready
        self._paint = paint
        self._done: OrderedDict[Key, list[Strip] | str] = OrderedDict()  # str: why not
        self._queued: dict[Key, int] = {}  # key -> the line that asked
        self._pool: ThreadPoolExecutor | None = None

    def ready(self, block: ImageBlock, width: int) -> bool:
        """Whether ``block``'s drawing at ``width`` is there (or failed, with a reason)."""
        return self._key(block, width) in self._done

    @staticmethod
    def _key(block: ImageBlock, width: int) -> Key:
        cols, rows = block.cells(width)
        return block.record.seq, cols, rows

    def strips(self, block: ImageBlock, line: int, width: int, style: Style) -> list[Strip] | None:
        """The picture's rows padded to ``width``; None while it is being drawn (it is
        queued now if it was not)."""
        key = self._key(block, width)
        done = self._done.get(key)
        if done is None:
            self._queue(key, block, line)
            return None
        self._done.move_to_end(key)
        if isinstance(done, str):
            label = Text(f"[{block.record.describe()}: {done}]"[:width], style="dim")
            rows = [Strip([]) for _ in range(key[2])]
            rows[0] = Strip(list(label.render(Console(width=width))))
            done = rows
        return [strip.apply_style(style).crop_extend(0, width, style) for strip in done]

    def _queue(self, key: Key, block: ImageBlock, line: int) -> None:
        data = block.record.data
        if key in self._queued or data is None:
            return
        self._queued[key] = line
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="rtui-images")
        loop = asyncio.get_running_loop()
        _, cols, rows = key
        future = self._pool.submit(self._draw, data, block.record.mime, cols, rows)

        def deliver(done: Future[list[Strip] | str]) -> None:
            if done.cancelled():
                return
            with contextlib.suppress(RuntimeError):  # the app's loop closed meanwhile
                loop.call_soon_threadsafe(self._finished, key, done.result())

        future.add_done_callback(deliver)

    def _draw(self, data: bytes, mime: str, cols: int, rows: int) -> list[Strip] | str:
        try:
            return self._paint(raster(data, mime), cols, rows)
        except ImageError as exc:
            return str(exc)
        except Exception as exc:  # a picture that cannot be drawn must not end the console
            return f"could not draw it ({type(exc).__name__}: {exc})"

    def _finished(self, key: Key, result: list[Strip] | str) -> None:
        line = self._queued.pop(key, None)
        self._done[key] = result
        while len(self._done) > _KEEP:
            self._done.popitem(last=False)
        if line is not None:
            self._on_ready(line)

    def close(self) -> None:
        """Stop the drawing thread (the view is going)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
