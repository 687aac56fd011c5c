"""A look into the file under the cursor, without fetching it whole: text highlighted with
Pygments (the first 256 KiB, more as the person pages down), binary files summarised
(what they are and their first bytes), images described (format, width and height, size)
and drawn in half-block cells (``rtui.core.halfblocks``; not under NO_COLOR), redrawn to fit
when the preview's size changes.

Only the rows in view are painted (a 256 KiB log is thousands of lines); highlighting runs in
a thread, so the list keeps moving while a big chunk is lexed.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.events import Resize
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from rtui.core.errors import RtuiError
from rtui.core.files.model import Entry
from rtui.core.files.paths import printable
from rtui.core.halfblocks import ImageError, cells, decode
from rtui.core.units import byte_size

if TYPE_CHECKING:
    from PIL.Image import Image

    from rtui.core.files.service import HostFiles

__all__ = ["CHUNK", "IMAGE_LIMIT", "FilePreview", "PreviewLines", "describe_binary",
           "describe_image"]

CHUNK = 256 * 1024  # bytes read at a time
_SNIFF = 8 * 1024  # a NUL in this much says binary
_HEX_BYTES = 512  # shown of a binary file
IMAGE_LIMIT = 32 * 1024 * 1024  # bytes: a bigger image is described, not read and drawn
# Control characters but tab and newline, shown as ^X (never sent to the terminal as they are).
_CONTROLS = {i: f"^{chr(i + 64)}" for i in range(32) if i not in (9, 10)} | {127: "^?"}
_DIM = Style(dim=True)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's first start-of-frame marker."""
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None


def _image_size(data: bytes) -> tuple[str, tuple[int, int] | None] | None:
    """(format, (width, height) or None) when ``data`` starts an image rtui knows."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return "PNG", struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return "GIF", struct.unpack("<HH", data[6:10])
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG", _jpeg_size(data)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return "BMP", (width, abs(height))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            return "WebP", (1 + int.from_bytes(data[24:27], "little"),
                            1 + int.from_bytes(data[27:30], "little"))
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return "WebP", ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        if kind == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return "WebP", (width & 0x3FFF, height & 0x3FFF)
        return "WebP", None
    return None


def describe_image(data: bytes, size: int) -> str | None:
    """What an image is from its first bytes: format, width by height, size (as
    ``PNG 800 by 600, 120 KiB`` with a multiplication sign); None: not an image."""
    found = _image_size(data)
    if found is None:
        return None
    kind, dims = found
    if dims is None:
        return f"{kind} image, {byte_size(size)}"
    return f"{kind} {dims[0]}\N{MULTIPLICATION SIGN}{dims[1]}, {byte_size(size)}"


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x7fELF", 0, "ELF executable or library"),
    (b"\x1f\x8b", 0, "gzip compressed data"),
    (b"BZh", 0, "bzip2 compressed data"),
    (b"\xfd7zXZ\x00", 0, "xz compressed data"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd compressed data"),
    (b"PK\x03\x04", 0, "zip archive"),
    (b"%PDF", 0, "PDF document"),
    (b"SQLite format 3\x00", 0, "SQLite database"),
    (b"\x93NUMPY", 0, "NumPy array (.npy)"),
    (b"\x89HDF\r\n\x1a\n", 0, "HDF5 data"),
    (b"ustar", 257, "tar archive"),
)


def describe_binary(data: bytes, size: int) -> str:
    """What a binary file is (by its first bytes, as ``file`` does) and its size."""
    for magic, offset, what in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return f"{what}, {byte_size(size)}"
    return f"binary data, {byte_size(size)}"


def hex_lines(data: bytes) -> list[str]:
    """``xxd``'s layout: offset, 16 bytes in hex, the printable ones."""
    lines = []
    for at in range(0, len(data), 16):
        row = data[at:at + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{at:08x}  {hexes:<47}  {text}")
    return lines


def highlight(code: str, path: str) -> list[Text]:
    """``code`` highlighted by the Pygments lexer for ``path``'s name (plain when none),
    in the terminal's 16 colours, as one Text per line."""
    code = code.expandtabs(4).translate(_CONTROLS)
    lexer = Syntax.guess_lexer(path, code[:4096])
    syntax = Syntax(code, lexer, theme="ansi_dark", background_color="default")
    text = syntax.highlight(code)
    text.rstrip()
    return list(text.split("\n", allow_blank=True))


class PreviewLines(ScrollView, can_focus=True):
    """The preview's rows: only those in view are painted (cropped, scrolled sideways)."""

    DEFAULT_CSS = """
    PreviewLines { background: $surface; color: $foreground; overflow: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_by(0, -1)", "Up", id="preview.up", show=False),
        Binding("down", "scroll_by(0, 1)", "Down", id="preview.down", show=False),
        Binding("left", "scroll_by(-8, 0)", "Left", id="preview.left", show=False),
        Binding("right", "scroll_by(8, 0)", "Right", id="preview.right", show=False),
        Binding("pageup", "page(-1)", "Page up", id="preview.page_up", show=False),
        Binding("pagedown,space", "page(1)", "Page down, reads more", id="preview.page_down"),
        Binding("home", "edge(-1)", "Top", id="preview.top", show=False),
        Binding("end", "edge(1)", "Bottom", id="preview.bottom", show=False),
        Binding("escape,v", "leave", "Back to the list", id="preview.leave"),
    ]

    @dataclass
    class MoreWanted(Message):
        """Scrolled near the end of what is loaded."""

    @dataclass
    class Leave(Message):
        """The person is done with the preview."""

    @dataclass
    class Resized(Message):
        """The rows' size changed (an image is redrawn to fit)."""

    def on_resize(self, event: Resize) -> None:
        self.refresh()
        self.post_message(self.Resized())

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Text] = []
        self._cache: LRUCache[int, Strip] = LRUCache(512)
        self._widest = 0

    def set_lines(self, lines: list[Text], *, append: bool = False) -> None:
        if not append:
            self.lines = []
            self._cache.clear()
            self._widest = 0
            self.scroll_to(0, 0, animate=False, force=True)
        self.lines.extend(lines)
        self._widest = max([self._widest, *(cell_len(t.plain) for t in lines)])
        self.virtual_size = Size(self._widest, len(self.lines))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        base = self.rich_style
        if not 0 <= index < len(self.lines):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            strip = Strip(self.lines[index].render(self.app.console)).apply_style(base)
            self._cache[index] = strip
        x = round(self.scroll_x)
        return strip.crop_extend(x, x + width, base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def _near_end(self) -> None:
        if round(self.scroll_y) + 2 * self.scrollable_content_region.height >= len(self.lines):
            self.post_message(self.MoreWanted())

    def action_scroll_by(self, x: int, y: int) -> None:
        self.scroll_to(self.scroll_x + x, self.scroll_y + y, animate=False)
        self._near_end()

    def action_page(self, step: int) -> None:
        height = max(self.scrollable_content_region.height - 1, 1)
        self.scroll_to(y=self.scroll_y + step * height, animate=False)
        self._near_end()

    def action_edge(self, step: int) -> None:
        self.scroll_to(y=0 if step < 0 else self.max_scroll_y, animate=False)
        self._near_end()

    def action_leave(self) -> None:
        self.post_message(self.Leave())


class FilePreview(Vertical):
    """A title (name, size, what it is) over the file's lines; ``show`` loads a file."""

    DEFAULT_CSS = """
    FilePreview { width: 1fr; height: 1fr; border-left: solid $primary-darken-2; }
    FilePreview #preview-title { height: 1; background: $panel; color: $text-muted;
                                 padding: 0 1; }
    FilePreview PreviewLines { height: 1fr; }
    """

    @dataclass
    class _Loaded(Message):
        generation: int
        offset: int  # where these lines start in the file (0: the first chunk)
        lines: list[Text]
        next_offset: int  # where more text starts; the file's size: no more
        size: int  # the file's (a link's target's, for a link)
        title: str | None  # None: the title stays
        image: Image | None = None  # decoded, drawn to the rows' size (and again on resize)

    @dataclass
    class _Drawn(Message):
        generation: int
        size: tuple[int, int]  # the rows' (columns, rows) drawn for
        lines: list[Text]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._files: HostFiles | None = None
        self._path = ""
        self._file_size = 0
        self._next = 0  # where the next chunk starts (== _size: all read, or not text)
        self._generation = 0
        self._loading = False  # a chunk is on its way (no second request for it)
        self._link = False  # the file shown is a link (its size is its target's)
        self._base_title = ""
        self._image: Image | None = None  # the image shown, decoded (redrawn on resize)
        self._drawn: tuple[int, int] | None = None  # the size it was last drawn for
        self.shown: str | None = None  # the path in view (or being loaded)

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-title", markup=False)
        yield PreviewLines(id="preview-lines")

    @property
    def lines(self) -> PreviewLines:
        return self.query_one(PreviewLines)

    def show(self, files: HostFiles, path: str, entry: Entry) -> None:
        """Preview ``entry`` (at ``path`` on ``files``' host)."""
        if path == self.shown:
            return
        self._generation += 1
        self._image = self._drawn = None
        self._files, self._path, self._file_size, self.shown = files, path, entry.size, path
        self._link = entry.kind == "link"
        name = printable(entry.name)
        if entry.is_dir:
            self._title(f"{name}/  folder")
            self.lines.set_lines([Text("Enter opens the folder.", style=_DIM)])
            self._next = self._file_size = 0
            return
        if entry.kind == "other" or (entry.kind == "link" and entry.target_kind is None):
            what = "a special file" if entry.kind == "other" else "a link that leads nowhere"
            self._title(f"{name}  {what}")
            self.lines.set_lines([])
            self._next = self._file_size = 0
            return
        self._next = 0
        self._title(f"{name}  {byte_size(entry.size)}  reading…")
        self.lines.set_lines([])
        self._load(self._generation, 0)

    def clear(self) -> None:
        self._generation += 1
        self._image = self._drawn = None
        self.shown = None
        self._title("")
        self.lines.set_lines([])

    def _title(self, text: str, *, more: bool = False) -> None:
        self._base_title = text
        note = f"  (read {byte_size(self._next)})" if more else ""
        self.query_one("#preview-title", Static).update(text + note)

    @work(group="preview", exclusive=True, exit_on_error=False)
    async def _load(self, generation: int, offset: int) -> None:
        """Read a chunk at ``offset`` and turn it into lines (off the loop when lexing)."""
        files, path, size = self._files, self._path, self._file_size
        assert files is not None
        self._loading = True
        name = printable(path.rsplit("/", 1)[-1])
        try:
            if offset == 0 and self._link:
                size = (await files.stat(path)).size
            data = await files.read_range(path, offset, CHUNK)
        except RtuiError as error:
            self.post_message(self._Loaded(generation, offset, [Text(str(error), style="red")],
                                           size, size, f"{name}  not readable"))
            return
        if offset == 0:
            size = max(size, len(data))
            image = describe_image(data, size)
            if image is not None or b"\x00" in data[:_SNIFF]:
                what = image or describe_binary(data, size)
                lines = [Text(line, style=_DIM) for line in hex_lines(data[:_HEX_BYTES])]
                decoded = None
                if image is not None and not self.app.no_color:
                    decoded, note = await self._decode_image(files, path, data, size)
                    lines = [] if decoded is not None else [note, *lines]
                self.post_message(self._Loaded(generation, 0, lines, size, size,
                                               f"{name}  {what}", decoded))
                return
        end = len(data)
        if offset + end < size and b"\n" in data:
            end = data.rindex(b"\n") + 1  # a line cut by the chunk goes with the next one
        text = data[:end].decode("utf-8", errors="replace")
        lines = await asyncio.to_thread(highlight, text, path)
        title = f"{name}  {byte_size(size)}" if offset == 0 else None
        self.post_message(self._Loaded(generation, offset, lines,
                                       offset + end if end else size, size, title))

    @staticmethod
    async def _decode_image(files: HostFiles, path: str, first: bytes,
                            size: int) -> tuple[Image | None, Text]:
        """The image at ``path`` (``first``: its first bytes) read whole and decoded in a
        thread; None and why when it is too big, unreadable or broken."""
        too_big = Text(f"not drawn: images over {byte_size(IMAGE_LIMIT)} are only described",
                       style=_DIM)
        if size > IMAGE_LIMIT:
            return None, too_big
        data = first
        try:
            if len(first) < size:
                # One read, pipelined by asyncssh; a file grown since its stat is cut at the
                # limit (and a little over it: refused, not drawn from a part).
                want = min(size + CHUNK, IMAGE_LIMIT + 1) - len(first)
                data = first + await files.read_range(path, len(first), want)
                if len(data) > IMAGE_LIMIT:
                    return None, too_big
            return await asyncio.to_thread(decode, data), Text()
        except (RtuiError, ImageError) as error:
            return None, Text(str(error), style="red")

    def _draw(self) -> None:
        """Draw the image shown at the rows' size, unless it is drawn at it already."""
        size = (self.lines.size.width, self.lines.size.height)
        if self._image is None or not all(size) or size == self._drawn:
            return
        self._drawn = size
        self._draw_cells(self._generation, self._image, size)

    @work(group="preview-draw", exclusive=True, exit_on_error=False)
    async def _draw_cells(self, generation: int, image: Image, size: tuple[int, int]) -> None:
        lines = await asyncio.to_thread(cells, image, *size)
        self.post_message(self._Drawn(generation, size, lines))

    @on(_Drawn)
    def _drawn_cells(self, message: _Drawn) -> None:
        if message.generation == self._generation and message.size == self._drawn:
            self.lines.set_lines(message.lines)

    def on_preview_lines_resized(self, message: PreviewLines.Resized) -> None:
        message.stop()
        self._draw()

    @on(_Loaded)
    def _loaded(self, message: _Loaded) -> None:
        if message.generation != self._generation:
            return
        self._loading = False
        self._next, self._file_size = message.next_offset, message.size
        self._title(message.title if message.title is not None else self._base_title,
                    more=self._next < self._file_size)
        self.lines.set_lines(message.lines, append=message.offset > 0)
        if message.image is not None:
            self._image = message.image
            self._draw()

    def on_preview_lines_more_wanted(self, message: PreviewLines.MoreWanted) -> None:
        message.stop()
        if self._next < self._file_size and not self._loading and self.shown is not None:
            self._loading = True
            self._load(self._generation, self._next)
