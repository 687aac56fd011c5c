"""The Files tab: the list as it streams in, its filter, sort and marks, the preview's
descriptions, and the tab driven with the pilot against the real sshd as a person would."""

from __future__ import annotations

import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input, TabbedContent

from rtui.core.files.model import Entry, SortKey, sort_entries
from rtui.core.halfblocks import UPPER_HALF, fit
from rtui.tui.app import RtuiApp
from rtui.tui.render.band_scroll import screen_rows
from rtui.tui.screens.prompts import ConfirmScreen, TextPromptScreen
from rtui.tui.widgets.file_list import FileList, human_size
from rtui.tui.widgets.file_preview import (
    PreviewLines,
    describe_binary,
    describe_image,
    highlight,
)
from rtui.tui.widgets.files import FilesFilter, FilesPane
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import screen_lines, store_with, until


class _ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FileList(id="list")


def _rows(app: App[None]) -> list[str]:
    return [strip.text.rstrip() for strip in screen_rows(app.screen)]


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
        shown = [line for line in _rows(app) if line.strip()]
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
        # Not moved by the person, the cursor stayed at the top as the rest sorted in (not
        # on the entry first listed, which ended in the middle), the view scrolled to it.
        assert files.cursor == 0 and round(files.scroll_y) == 0

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
        marked_rows = [line for line in _rows(app) if line.startswith("*")]
        assert len(marked_rows) == 2
        files.clear_marks()
        assert files.chosen() == [files.current]


async def test_list_order_is_the_models_for_every_sort() -> None:
    """Batches ranked alone and merged give model.sort_entries's order, every key both
    ways (reversing reads the ranking backwards), links to folders among the folders."""
    entries = [*_entries(0, 3000),
               Entry("zlink", "link", 3, 1.0, 0o120777, "/etc", "dir"),
               Entry("alink", "link", 3, 2.0, 0o120777, "/x", "file")]
    app = _ListApp()
    async with app.run_test(size=(80, 24)):
        files = app.query_one(FileList)
        files.start()
        files.set_hidden(True)
        for start in range(0, len(entries), 250):
            files.add(entries[start:start + 250])
        files.finish()
        for key in SortKey:
            for reverse in (False, True):
                files.set_sort(key, reverse)
                expected = sort_entries(entries, key, reverse)
                assert [e.name for e in files.view] == [e.name for e in expected], (key, reverse)


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
        lines = _rows(app)
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


# -- the tab against the real sshd ------------------------------------------------------------


def _pane(app: RtuiApp) -> FilesPane:
    return app.query_one(FilesPane)


def _names(app: RtuiApp) -> list[str]:
    return [e.name for e in _pane(app).file_list.view]


def _listed(app: RtuiApp, path: Path | None = None) -> bool:
    """The tab is there, showing ``path`` (None: any folder), listed whole."""
    lists = app.query(FileList)
    return bool(lists) and lists.first().complete and (
        path is None or _pane(app).path == str(path))


async def _at(app: RtuiApp, path: Path) -> None:
    await until(lambda: _listed(app, path))


async def _type_answer(pilot: Any, app: RtuiApp, text: str) -> None:
    """A prompt is up: its text replaced by ``text`` and sent."""
    await until(lambda: isinstance(app.screen, TextPromptScreen))
    app.screen.query_one(Input).value = text
    await pilot.press("enter")


def _notes(app: RtuiApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_files_tab_browse_and_change_with_keys(
    sshd: SSHD, tmp_path: Path, isolated_home: Path, short_tmp: Path
) -> None:
    """f opens the host's tab; : goes to a folder; the filter, hidden files, sort, marks,
    Enter and backspace; rename, new folder, new file, copy, move, delete (confirmed with
    what goes); y copies the path; a path that is not there is said and changes nothing."""
    site = short_tmp / "site"  # its title, lab:<site>, is read whole at 80 columns
    (site / "sub" / "deep").mkdir(parents=True)
    (site / "sub" / "deep" / "x.txt").write_text("x" * 3000)
    (site / "sub" / "y.txt").write_text("def y():\n    return 1\n")
    (site / "sub" / "pic.png").write_bytes(_png(800, 600))
    (site / "notes.txt").write_text("hello\nworld\n")
    (site / "big.bin").write_bytes(b"\x00" * 50_000)
    (site / ".hidden").write_text("h")
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=sys.executable)),
                  check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await until(lambda: _listed(app))
        await until(lambda: isinstance(app.focused, FileList))
        assert "lab:~" in [line.strip() for line in screen_lines(app)]  # home, as shells say
        await pilot.press("colon")
        await _type_answer(pilot, app, str(site))
        await _at(app, site)
        assert _names(app) == ["sub", "big.bin", "notes.txt"]  # folders first, by name
        lines = "\n".join(screen_lines(app))
        assert f"lab:{site}" in lines and "sub/" in lines and "49K" in lines
        assert "3 entries · 1 hidden" in lines

        await pilot.press("full_stop")
        assert ".hidden" in _names(app)
        await pilot.press("full_stop")
        # "/" and a name in one burst (a paste, tmux's send-keys): the name reaches the list
        # before the filter has the focus; it is the filter's all the same (n is new folder).
        for key in ("slash", "n", "o"):
            app.post_message(events.Key(key, "/" if key == "slash" else key))
        await until(lambda: _names(app) == ["notes.txt"])
        assert app.screen.query_one(FilesFilter).value == "no"
        await pilot.press("enter")  # the filter kept, back to the list
        assert isinstance(app.focused, FileList)
        await pilot.press("escape")  # nothing marked: the filter goes
        assert len(_names(app)) == 3
        await pilot.press("s")  # by size: the biggest file first
        assert _names(app) == ["sub", "big.bin", "notes.txt"]
        await pilot.press("S")
        assert _names(app) == ["sub", "notes.txt", "big.bin"]
        await pilot.press("s", "s", "S")  # back to names, A to Z

        await pilot.press("home", "enter")  # into sub/, then back with the cursor on it
        await _at(app, site / "sub")
        assert _names(app) == ["deep", "pic.png", "y.txt"]
        await pilot.press("v", "down")  # the preview follows the cursor
        preview = _pane(app).preview
        await until(lambda: "PNG 800\N{MULTIPLICATION SIGN}600" in "\n".join(screen_lines(app)))
        # Only its header: described, and said why it is not drawn (over its first bytes).
        await until(lambda: bool(preview.lines.lines) and preview.lines.lines[0].plain
                    == "not drawn: broken or truncated image (no decoder accepts it)")
        await pilot.press("down")
        await until(lambda: [t.plain for t in preview.lines.lines] == ["def y():", "    return 1"])
        await pilot.press("enter")  # Enter on a file: into its preview, v (or escape) back
        assert isinstance(app.focused, PreviewLines)
        await pilot.press("v")
        assert isinstance(app.focused, FileList)
        await pilot.press("v")
        assert preview.has_class("-hidden")
        await pilot.press("backspace")
        await _at(app, site)
        current = _pane(app).file_list.current
        assert current is not None and current.name == "sub"

        await pilot.press("y")
        assert app.clipboard == str(site / "sub")

        await pilot.press("end", "r")  # rename notes.txt
        await _type_answer(pilot, app, "renamed.txt")
        await until(lambda: (site / "renamed.txt").exists() and "renamed.txt" in _names(app))
        assert not (site / "notes.txt").exists()
        current = _pane(app).file_list.current
        assert current is not None and current.name == "renamed.txt"

        await pilot.press("n")
        await _type_answer(pilot, app, "made")
        await until(lambda: "made" in _names(app))
        assert (site / "made").is_dir()
        await pilot.press("N")
        await _type_answer(pilot, app, "empty.txt")
        await until(lambda: "empty.txt" in _names(app))
        assert (site / "empty.txt").read_bytes() == b""

        # Copy renamed.txt into made/, then move empty.txt there: two marks, one key.
        pane = _pane(app)
        pane.file_list.select_name("renamed.txt")
        await pilot.press("c")
        await _type_answer(pilot, app, "made")
        await until(lambda: (site / "made" / "renamed.txt").exists())
        assert (site / "renamed.txt").read_text() == "hello\nworld\n"
        pane.file_list.select_name("empty.txt")
        await pilot.press("space")
        pane.file_list.select_name("big.bin")
        await pilot.press("space", "m")
        await _type_answer(pilot, app, str(site / "made"))
        await until(lambda: (site / "made" / "big.bin").exists()
                    and (site / "made" / "empty.txt").exists())
        await until(lambda: "big.bin" not in _names(app))
        assert not pane.file_list.marked

        # Delete sub/ and made/: the question says what goes before anything does.
        pane.file_list.select_name("made")
        await pilot.press("space")
        pane.file_list.select_name("sub")
        await pilot.press("space", "d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        question = "\n".join(screen_lines(app))
        assert "made/" in question and "sub/" in question
        assert "That is 6 files and 3 folders" in question, question
        await pilot.press("n")
        assert (site / "sub").exists()
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: not (site / "sub").exists() and not (site / "made").exists())
        await until(lambda: _names(app) == ["renamed.txt"])

        await pilot.press("colon")
        await _type_answer(pilot, app, str(site / "missing"))
        await until(lambda: "missing" in _notes(app))
        assert _pane(app).path == str(site)

        # One tab per host: f again shows it; opened with a path (as from a console), it
        # goes there; f4 closes it.
        tabs = app.query_one(TabbedContent)
        await pilot.press("f3", "f")
        await until(lambda: tabs.active == pane.parent.id)  # type: ignore[union-attr]
        app.open_files("lab", str(tmp_path))
        await _at(app, tmp_path)
        assert len(app.query(FilesPane)) == 1
        await pilot.press("f4")
        await until(lambda: not app.query(FilesPane) and tabs.active == "tab-hosts")


async def test_upload_and_download_go_through_the_queue(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """u sends a local file into the folder shown (which is listed again when it is there);
    g brings what is marked, a folder whole, into a local folder."""
    site, here = tmp_path / "site", tmp_path / "here"
    (site / "data").mkdir(parents=True)
    (site / "data" / "a.csv").write_text("1,2\n")
    (site / "report.txt").write_bytes(b"r" * 200_000)
    here.mkdir()
    (here / "up.txt").write_text("from here\n")
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=sys.executable)),
                  check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_files("lab", str(site))
        await _at(app, site)
        await pilot.press("u")
        await _type_answer(pilot, app, str(here / "up.txt"))
        await until(lambda: "up.txt" in _names(app))  # listed again once it arrived
        assert (site / "up.txt").read_text() == "from here\n"

        pane = _pane(app)
        for name in ("data", "report.txt"):
            pane.file_list.select_name(name)
            await pilot.press("space")
        await pilot.press("g")
        await _type_answer(pilot, app, str(here))
        await until(lambda: (here / "report.txt").exists() and (here / "data" / "a.csv").exists())
        assert (here / "report.txt").read_bytes() == b"r" * 200_000
        assert (here / "data" / "a.csv").read_text() == "1,2\n"
        jobs = app.workspace.transfers.jobs
        await until(lambda: all(job.state == "done" for job in jobs))
        assert len(jobs) == 2 and not pane.file_list.marked

        await pilot.press("u")  # a local path that is not there: said, nothing queued
        await _type_answer(pilot, app, str(here / "nope.txt"))
        await until(lambda: "nope.txt: no such file or folder here" in _notes(app))
        assert len(app.workspace.transfers.jobs) == 2


async def test_preview_reads_a_big_text_file_a_chunk_at_a_time(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """A 600 KiB log: the first 256 KiB at once, the rest as the person pages to the end; no
    line lost or doubled where the chunks meet."""
    site = tmp_path / "site"
    site.mkdir()
    lines = [f"line {n:06d} " + "x" * (n % 40) for n in range(20_000)]
    (site / "big.log").write_text("\n".join(lines) + "\n")
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=sys.executable)),
                  check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_files("lab", str(site))
        await _at(app, site)
        await pilot.press("enter")  # a file: into its preview
        preview = _pane(app).preview
        await until(lambda: bool(preview.lines.lines))
        first = len(preview.lines.lines)
        assert first < len(lines)  # a chunk, not the file
        assert "big.log  635 KiB  (read 256 KiB)" in "\n".join(screen_lines(app))
        for _ in range(5):
            await pilot.press("end")
            await pilot.pause(0.2)
            if len(preview.lines.lines) >= len(lines):
                break
        await until(lambda: len(preview.lines.lines) >= len(lines))
        assert [t.plain for t in preview.lines.lines] == lines
        assert "(read" not in "\n".join(screen_lines(app))


async def test_preview_draws_an_image_in_half_blocks_and_redraws_on_resize(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """v on a PNG: its description over it drawn in half-block cells, fitted to the preview
    with its aspect kept; drawn again to the new size when the terminal is resized; under
    NO_COLOR only described."""
    from PIL import Image

    site = tmp_path / "site"
    site.mkdir()
    image = Image.new("RGB", (200, 100))
    for x in range(200):
        for y in range(100):
            image.putpixel((x, y), (x, 0, 255 if y < 50 else 0))  # a gradient; blue at the top
    image.save(site / "plot.png")
    (site / "z.txt").write_text("z\n")
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=sys.executable)),
                  check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_files("lab", str(site))
        await _at(app, site)
        await until(lambda: isinstance(app.focused, FileList))
        await pilot.press("v")
        preview = _pane(app).preview

        def drawn() -> tuple[int, int]:
            """(columns, rows) of the drawing, once it fits the preview as it is now."""
            size = preview.lines.size
            width, height = fit((200, 100), size.width, size.height)
            lines = preview.lines.lines
            if len(lines) != (height + 1) // 2 or any(
                    t.plain != UPPER_HALF * width for t in lines):
                return 0, 0
            return width, len(lines)

        await until(lambda: drawn() != (0, 0))
        assert "plot.png  PNG 200\N{MULTIPLICATION SIGN}100" in "\n".join(screen_lines(app))
        small = drawn()
        # 2:1 as the image: four columns a row (a cell is two pixels high, half as wide).
        assert abs(small[0] - 4 * small[1]) <= 2, small
        assert any(UPPER_HALF * small[0] in line for line in screen_lines(app))
        def corner(row: int) -> tuple[int, int, int]:
            """The colour of the upper pixel of the first cell of ``row``."""
            style = next(s.style for s in preview.lines.lines[row].spans if s.start == 0)
            assert not isinstance(style, str) and style.color and style.color.triplet
            return tuple(style.color.triplet)  # type: ignore[return-value]

        red, _, blue = corner(0)
        assert red < 16 and blue > 240  # blue at the top, as drawn
        red, _, blue = corner(-1)
        assert red < 16 and blue < 16  # black below
        await pilot.resize_terminal(120, 36)
        await until(lambda: drawn()[0] > small[0])

        app.no_color = True  # as NO_COLOR set at the start does
        await pilot.press("down")  # off the file and back: shown afresh
        await until(lambda: [t.plain for t in preview.lines.lines] == ["z"])
        await pilot.press("up")
        await until(lambda: bool(preview.lines.lines) and preview.lines.lines[0].plain.startswith(
            "00000000  89 50 4e 47"))
        assert not any(UPPER_HALF in t.plain for t in preview.lines.lines)
