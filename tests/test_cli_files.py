"""``rtui files`` and ``rtui cp``: what they print (pure shapes), then the real command in a
subprocess against the real sshd."""

from __future__ import annotations

import io
import json
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from rtui.cli.file_output import (
    ProgressLine,
    duration,
    entry_json,
    human_size,
    listing_rows,
    progress_line,
    stat_line,
)
from rtui.core.files.model import Entry

# -- pure shapes -----------------------------------------------------------------------------

NOON = 1796646896.0  # 2026-12-07 12:34:56 UTC


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@dataclass(frozen=True)
class Progress:
    file: str
    done: int
    total: int
    files_done: int = 0
    files_total: int = 1
    rate: float = 0.0
    eta: float | None = None


def test_sizes_and_durations_read_like_scp() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 120 * 2**20, 5 * 2**40, 2**60)] == [
        "0 B", "1023 B", "1.5 KiB", "120 MiB", "5.0 TiB", "1024 PiB"]
    assert [duration(s) for s in (0, 2.6, 725, 3723)] == ["0:00", "0:03", "12:05", "1:02:03"]


def test_listing_rows_escape_names_and_align_sizes(utc: None) -> None:
    entries = [
        Entry("data", "dir", 4096, NOON, stat.S_IFDIR | 0o755),
        Entry("a b\nc é漢.txt", "file", 7, NOON, stat.S_IFREG | 0o644),
        Entry("bad-\udcff.bin", "file", 123456, NOON, stat.S_IFREG | 0o600),
        Entry("loop", "link", 4, NOON, stat.S_IFLNK | 0o777, "lo\top", None),
    ]
    rows = listing_rows(entries)
    assert rows == [
        "drwxr-xr-x    4096  2026-12-07 12:34  data",
        "-rw-r--r--       7  2026-12-07 12:34  a b\\nc é漢.txt",
        "-rw-------  123456  2026-12-07 12:34  bad-\\xff.bin",
        "lrwxrwxrwx       4  2026-12-07 12:34  loop -> lo\\top",
    ]
    assert listing_rows([]) == []


def test_stat_line_and_json_keep_what_the_terminal_cannot_show(utc: None) -> None:
    entry = Entry("x\ny", "file", 10, NOON, stat.S_IFREG | 0o640)
    assert stat_line("dir/x\ny", entry, target="t\x1b") == (
        "dir/x\\ny -> t\\x1b: file, 10 bytes, mode 0640 (-rw-r-----), "
        "modified 2026-12-07 12:34:56")
    odd = Entry("bad-\udcff\n", "file", 1, NOON, stat.S_IFREG | 0o644)
    back = json.loads(json.dumps(entry_json(odd, path="p")))
    assert back == {"path": "p", "name": "bad-\udcff\n", "kind": "file", "size": 1,
                    "mtime": NOON, "mode": stat.S_IFREG | 0o644, "target": None,
                    "target_kind": None}


def test_progress_line_fits_its_width_and_cuts_the_name_on_the_left() -> None:
    p = Progress("dir/results.csv", 45 * 2**20, 100 * 2**20, rate=85 * 2**20, eta=2.7)
    line = progress_line(p, 60)
    assert line.split() == ["results.csv", "45%", "45", "MiB", "85", "MiB/s", "ETA", "0:03"]
    assert len(line) == 59
    long = Progress("/x/" + "n" * 100 + "-end.bin", 0, 0, files_done=3, files_total=10)
    line = progress_line(long, 50)
    assert len(line) == 49 and line.startswith("…") and "-end.bin  3/10  100%" in line
    assert line.endswith("0 B  0 B/s  ETA --:--")
    assert progress_line(p, 60, elapsed=65).endswith("85 MiB/s  1:05")
    assert "\\n" in progress_line(Progress("a\nb", 1, 2), 40)  # still one line


def test_progress_is_redrawn_at_most_ten_times_a_second_and_ended_once() -> None:
    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(out, width=lambda: 40, clock=lambda: now[0])
    line.finish(complete=True)
    assert out.getvalue() == ""  # nothing came: nothing to end
    for t, done in ((0.0, 1), (0.05, 2), (0.09, 3), (0.11, 4), (0.15, 5)):
        now[0] = t
        line.update(Progress("f", done * 1000, 10_000))
    draws = out.getvalue().split("\r")[1:]
    assert [d.split()[1] for d in draws] == ["10%", "40%"]  # at 0.0 and 0.11 only
    assert "3.9 KiB" in draws[1] and "\n" not in out.getvalue()
    now[0] = 2.0
    line.update(Progress("f", 10_000, 10_000))
    line.finish(complete=True)
    final = out.getvalue().split("\r")[-1]
    assert final.endswith("\n") and final.rstrip().endswith("0:02") and "100%" in final
    assert len(final) == len(draws[1]) + 1  # padded over the longer line before it
    assert all(len(d.rstrip("\n")) <= 39 for d in out.getvalue().split("\r"))
