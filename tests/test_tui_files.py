"""The Files tab: the list as it streams in, its filter, sort and marks, the preview's
descriptions, and the tab driven with the pilot against the real sshd as a person would."""

from __future__ import annotations

import struct
import time
import zlib

from textual.app import App, ComposeResult

from rtui.core.files.model import Entry, SortKey
from rtui.tui.widgets.file_list import FileList, human_size
from rtui.tui.widgets.file_preview import describe_binary, describe_image, highlight
from tests.tui_helpers import screen_lines


class _ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FileList(id="list")


def _entries(start: int, count: int) -> list[Entry]:
    """Names in no order (as a host lists them), a folder every 50, a hidden one every 7."""
    out = []
    for n in range(start, start + count):
        name = f"{'.' if n % 7 == 0 else ''}f{(n * 7919) % 1_000_003:07d}"
        out.append(Entry(name, "dir" if n % 50 == 0 else "file", n, 1.7e9 + n, 0o100644))
    return out


async def test_list_streams_100k_entries_first_rows_at_once() -> None:
    """100,000 names in batches of 1,000: the first batch is on screen at once; later
    batches cost no repaint of a sorted 100k list each; filter, hidden, sort and marks work
    over the whole listing and keep the cursor on its entry."""
    app = _ListApp()
    async with app.run_test(size=(80, 24)) as pilot:
        files = app.query_one(FileList)
        files.focus()
        files.start()
        started = time.monotonic()
        files.add(_entries(0, 1000))
        await pilot.pause()
        first_paint = time.monotonic() - started
        shown = [line for line in screen_lines(app) if line.strip()]
        assert shown and shown[0].lstrip().startswith("f") and shown[0].rstrip().endswith(
            tuple("0123456789")), shown[:3]  # a folder first, with its time
        assert first_paint < 1.0, first_paint
        for start in range(1000, 100_000, 1000):
            files.add(_entries(start, 1000))
        files.finish()
        await pilot.pause()
        assert files.total == 100_000
        visible = [e for e in _entries(0, 100_000) if not e.hidden]
        assert len(files.view) == len(visible)
        dirs = sorted((e.name for e in visible if e.is_dir), key=str.casefold)
        assert [e.name for e in files.view[:len(dirs)]] == dirs  # folders first, by name
        names = [e.name for e in files.view[len(dirs):]]
        assert names == sorted(names, key=str.casefold)

        await pilot.press("down", "down")
        keep = files.current
        assert keep is not None
        files.set_filter(keep.name[3:6])  # typed in the filter: the cursor stays on its entry
        assert files.current == keep and all(keep.name[3:6] in e.name for e in files.view)
        files.set_filter("")
        files.set_hidden(True)
        assert len(files.view) == 100_000 and files.current == keep
        files.set_sort(SortKey.SIZE, False)  # largest first, folders first
        sizes = [e.size for e in files.view if not e.is_dir]
        assert sizes == sorted(sizes, reverse=True) and files.current == keep

        files.toggle_mark()
        files.toggle_mark()
        assert len(files.marked) == 2 and files.cursor == files.view.index(keep) + 2
        assert [e.name for e in files.chosen()] == sorted(
            files.marked, key=lambda n: [e.name for e in files.view].index(n))
        await pilot.pause()
        marked_rows = [line for line in screen_lines(app) if line.startswith("*")]
        assert len(marked_rows) == 2
        files.clear_marks()
        assert files.chosen() == [files.current]


async def test_list_shows_odd_names_on_one_line_and_cuts_long_ones() -> None:
    """Names with a newline, bytes that are not UTF-8 and wide characters take one row;
    a link shows where it leads; a long name is cut with an ellipsis, its size kept."""
    app = _ListApp()
    async with app.run_test(size=(80, 24)) as pilot:
        files = app.query_one(FileList)
        files.start()
        files.add([
            Entry("a b\nc é漢.txt", "file", 10, 1.7e9, 0o100644),
            Entry("bad-\udcff.bin", "file", 2048, 1.7e9, 0o100755),
            Entry("to-etc", "link", 4, 1.7e9, 0o120777, "/etc", "dir"),
            Entry("x" * 120, "file", 5 * 1024 * 1024, 1.7e9, 0o100644),
        ])
        files.finish()
        await pilot.pause()
        lines = screen_lines(app)
        text = "\n".join(lines)
        assert "to-etc/ -> /etc" in text
        assert "a b\\nc é漢.txt" in text and "bad-\\xff.bin" in text
        long_row = next(line for line in lines if "xxxx" in line)
        assert "…" in long_row and "5.0M" in long_row


def _png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def test_preview_describes_images_and_binaries() -> None:
    times = "\N{MULTIPLICATION SIGN}"
    assert describe_image(_png(800, 600), 120 * 1024) == f"PNG 800{times}600, 120 KiB"
    gif = b"GIF89a" + struct.pack("<HH", 32, 16) + b"\x00" * 8
    assert describe_image(gif, 300) == f"GIF 32{times}16, 300 B"
    jpeg = (b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
            + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 480, 640) + b"\x00" * 12)
    assert describe_image(jpeg, 3 * 1024 * 1024) == f"JPEG 640{times}480, 3.0 MiB"
    assert describe_image(b"hello", 5) is None
    assert describe_binary(b"\x7fELF\x02\x01", 1_500_000) == "ELF executable or library, 1.4 MiB"
    assert describe_binary(b"\x00\x01", 2) == "binary data, 2 B"
    assert human_size(0) == "0" and human_size(4096) == "4.0K" and human_size(12 << 20) == "12M"


def test_preview_highlights_python_and_escapes_control_characters() -> None:
    lines = highlight("def f(x):\n\treturn x  # \x1b[31mred\n", "/tmp/a.py")
    assert [line.plain for line in lines] == ["def f(x):", "    return x  # ^[[31mred"]
    assert any(span.style for span in lines[0].spans)  # coloured by the Python lexer
