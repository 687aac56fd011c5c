"""Every image a console's kernel showed, newest first, within a byte budget.

Its own module because the console draws images and the Plots tab lists and saves them: both
read one store, which decides what is kept. Two bounds, because a cell that shows 200 plots
must neither freeze the app nor hold gigabytes: the newest ``inline_bytes`` of images are drawn
in the console (older ones become one-line placeholders there: drawing them again would cost
decoding on every scroll), and the newest ``kept_bytes`` are kept at all (older ones lose their
bytes: the Plots tab says so and can no longer save them).

UI-free and cheap on the event loop: the pixel size comes from the file's header (PNG, GIF,
JPEG, WebP, BMP read here in microseconds); decoding is the painter's job, in a thread.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from rtui.core.svg import SVG_MIME, svg_size

__all__ = ["IMAGE_MIMES", "ImageRecord", "ImageStore", "header_size"]

IMAGE_MIMES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
# What a console draws (Pillow decodes them); the first one a bundle has wins, in this order.

DEFAULT_INLINE_BYTES: Final = 32 * 1024 * 1024
DEFAULT_KEPT_BYTES: Final = 128 * 1024 * 1024

_KINDS: Final = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF",
                 "image/webp": "WebP", "image/bmp": "BMP", "image/svg+xml": "SVG"}


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels from the file's first bytes; None if not recognised."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The first start-of-frame marker's size (SOF0-15 less DHT, JPG, DAC)."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(w), int(h)
        pos += 2 + length
    return None


@dataclass(eq=False, slots=True)
class ImageRecord:
    """One image a kernel showed. ``data`` is None once the store's budget dropped it;
    ``inline`` is False once the console no longer draws it (``version`` counts both)."""

    seq: int
    mime: str
    data: bytes | None
    size_px: tuple[int, int] | None
    nbytes: int
    execution_count: int | None = None
    display_id: str | None = None
    when: float = field(default_factory=time.time)
    inline: bool = True
    version: int = 0

    @property
    def kind(self) -> str:
        """"PNG", "JPEG"... for messages and file names."""
        return _KINDS.get(self.mime, self.mime.removeprefix("image/").upper())

    @property
    def suffix(self) -> str:
        """The file name suffix a saved copy gets."""
        return {"image/jpeg": ".jpg", "image/svg+xml": ".svg"}.get(
            self.mime, "." + self.mime.removeprefix("image/"))

    def describe(self) -> str:
        """"image 3: 640x480 PNG, 24 KB"."""
        from rtui.core.units import byte_size

        size = f"{self.size_px[0]}x{self.size_px[1]} " if self.size_px else ""
        return f"image {self.seq}: {size}{self.kind}, {byte_size(self.nbytes)}"


class ImageStore:
    """The images of one console, oldest first inside, ``records()`` newest first."""

    def __init__(self, *, inline_bytes: int = DEFAULT_INLINE_BYTES,
                 kept_bytes: int = DEFAULT_KEPT_BYTES) -> None:
        self.inline_bytes = inline_bytes
        self.kept_bytes = max(kept_bytes, inline_bytes)
        self._records: deque[ImageRecord] = deque()
        self._seq = 0
        self._inline_total = 0  # bytes of the records still drawn inline
        self._kept_total = 0  # bytes of the records still kept
        self._oldest_inline = 0  # index into _records of the oldest record still inline
        self._oldest_kept = 0
        self._listeners: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._records)

    @property
    def kept_total(self) -> int:
        """Bytes of images kept now."""
        return self._kept_total

    def add(self, mime: str, data: bytes, *, execution_count: int | None = None,
            display_id: str | None = None) -> ImageRecord:
        """Keep a new image; older ones leave the console, then the store, past the budgets."""
        self._seq += 1
        size = svg_size(data) if mime == SVG_MIME else header_size(data)
        record = ImageRecord(self._seq, mime, data, size, len(data), execution_count,
                             display_id)
        self._records.append(record)
        self._inline_total += record.nbytes
        self._kept_total += record.nbytes
        self._enforce()
        for listener in list(self._listeners):
            listener()
        return record

    def _enforce(self) -> None:
        records = self._records
        # The newest image is always drawn and kept, whatever its size.
        while self._inline_total > self.inline_bytes and self._oldest_inline < len(records) - 1:
            old = records[self._oldest_inline]
            self._oldest_inline += 1
            old.inline = False
            old.version += 1
            self._inline_total -= old.nbytes
        while self._kept_total > self.kept_bytes and self._oldest_kept < len(records) - 1:
            old = records[self._oldest_kept]
            self._oldest_kept += 1
            old.data = None
            old.version += 1
            self._kept_total -= old.nbytes
        # Records with neither bytes nor a line in the console are forgotten in bulk.
        gone = min(self._oldest_kept, self._oldest_inline)
        if gone > 1024:
            for _ in range(gone):
                records.popleft()
            self._oldest_kept -= gone
            self._oldest_inline -= gone

    def records(self) -> list[ImageRecord]:
        """Every image still known, newest first (those without bytes say so)."""
        return list(reversed(self._records))

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (no arguments) after each new image; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None
