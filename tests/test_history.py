"""The console's per-host input history: persistence, permissions, sharing, navigation."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rtui.core import locations
from rtui.core.console.history import History


@pytest.fixture
def path() -> Path:
    return locations.state_dir() / "history" / "gpu-box.jsonl"


def test_entries_persist_across_instances(path: Path) -> None:
    first = History(path)
    assert first.entries == []
    assert first.add("import numpy as np")
    assert first.add("for i in range(3):\n    print(i)\n\n")
    second = History(path)
    assert second.entries == ["import numpy as np", "for i in range(3):\n    print(i)"]
    # One JSON object a line, the text kept whole (multi-line cells included).
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["text"] for r in records] == second.entries


def test_file_and_directory_are_private(path: Path) -> None:
    History(path).add("secret = 1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_loose_permissions_are_tightened_on_append(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("")
    path.chmod(0o644)
    History(path).add("x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_history_is_loaded_lazily(path: Path) -> None:
    history = History(path)
    History(path).add("late")
    # Nothing was read at construction: the entry written after it is seen.
    assert history.entries == ["late"]


async def test_load_reads_in_a_thread_and_keeps_what_the_loop_added(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    History(path).add("old")
    readers: list[str] = []
    history = History(path)
    original = history._read

    def read() -> list[str]:
        readers.append(threading.current_thread().name)
        return original()

    monkeypatch.setattr(history, "_read", read)
    await history.load()
    assert history.entries == ["old"]
    assert readers and readers[0] != threading.main_thread().name  # not on the loop

    # Used on the loop while the thread reads: the loop's entries (and its add) stay.
    later = History(path)
    gate = threading.Event()
    slow = later._read

    def slow_read() -> list[str]:
        gate.wait(5)
        return slow()

    monkeypatch.setattr(later, "_read", slow_read)
    loading = asyncio.ensure_future(later.load())
    await asyncio.sleep(0.01)
    monkeypatch.setattr(later, "_read", slow)
    later.add("typed meanwhile")
    gate.set()
    await loading
    assert later.entries == ["old", "typed meanwhile"]


def test_consecutive_duplicates_and_blank_input_are_skipped(path: Path) -> None:
    history = History(path)
    assert history.add("a")
    assert not history.add("a")
    assert not history.add("a\n")
    assert not history.add("   \n")
    assert history.add("b")
    assert history.add("a")
    assert history.entries == ["a", "b", "a"]
    assert History(path).entries == ["a", "b", "a"]


def test_trimmed_to_max_entries_and_compacted(path: Path) -> None:
    history = History(path, max_entries=5)
    for i in range(12):
        history.add(f"x = {i}")
    assert history.entries == [f"x = {i}" for i in range(7, 12)]
    reloaded = History(path, max_entries=5)
    assert reloaded.entries == [f"x = {i}" for i in range(7, 12)]
    # The file had more than twice the maximum, so loading rewrote it with the kept ones.
    assert len(path.read_text().splitlines()) == 5


def test_torn_or_foreign_lines_are_ignored(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text('{"text": "good"}\nnot json\n[1, 2]\n{"text": 3}\n{"text": "al')
    assert History(path).entries == ["good"]


def test_unwritable_file_does_not_break_add(tmp_path: Path) -> None:
    history = History(tmp_path / "file-not-dir" / "h.jsonl")
    (tmp_path / "file-not-dir").write_text("")
    assert history.add("kept in memory")
    assert history.entries == ["kept in memory"]


WRITER = """
import sys
import threading
from pathlib import Path
from rtui.core.console.history import History
history = History(Path(sys.argv[1]))
tag = sys.argv[2]
sys.stdin.readline()  # start together
for i in range(int(sys.argv[3])):
    history.add(f"{tag} {i}\\n" + "x" * 3000)
"""


def test_two_processes_append_at_once(path: Path) -> None:
    count = 200
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(count)],
                         stdin=subprocess.PIPE)
        for tag in ("A", "B")
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * count
    texts = [json.loads(line)["text"] for line in lines]  # every line whole
    for tag in ("A", "B"):
        mine = [t.split("\n")[0] for t in texts if t.startswith(tag)]
        assert mine == [f"{tag} {i}" for i in range(count)]
    assert len(History(path).entries) == 2 * count


def test_search_is_newest_first_and_unique(path: Path) -> None:
    history = History(path)
    for text in ("df.head()", "import pandas", "df.describe()", "x = 1", "df.head()"):
        history.add(text)
    assert history.search("df.") == ["df.head()", "df.describe()"]
    assert history.search("nothing") == []
    assert history.search("") == ["df.head()", "x = 1", "df.describe()", "import pandas"]


def test_cursor_walks_back_and_forth_and_restores_the_draft(path: Path) -> None:
    history = History(path)
    for text in ("one", "two", "three"):
        history.add(text)
    cursor = history.cursor(prefix_filter=False)
    assert cursor.newer() is None  # not navigating yet
    assert cursor.older("my draft") == "three"
    assert cursor.active
    assert cursor.older("three") == "two"
    assert cursor.older("two") == "one"
    assert cursor.older("one") is None  # stays on the oldest
    assert cursor.newer() == "two"
    assert cursor.newer() == "three"
    assert cursor.newer() == "my draft"
    assert not cursor.active
    assert cursor.newer() is None


def test_cursor_prefix_filter(path: Path) -> None:
    history = History(path)
    for text in ("import os", "x = 1", "import sys", "print(x)", "import sys"):
        history.add(text)
    history.add("import os")
    cursor = history.cursor()
    assert cursor.older("imp") == "import os"
    assert cursor.prefix == "imp"
    assert cursor.older("import os") == "import sys"
    # "import os" again would repeat the shown entry's neighbour: the next distinct is older.
    assert cursor.older("import sys") == "import os"
    assert cursor.older("import os") is None
    assert cursor.newer() == "import sys"
    assert cursor.newer() == "import os"
    assert cursor.newer() == "imp"
    # An explicit prefix wins over the draft; an empty draft visits everything.
    assert cursor.older("print(x)\nmore", prefix="") == "import os"
    cursor.reset()
    assert cursor.older("") == "import os"
    assert cursor.older("import os") == "import sys"
    assert cursor.older("import sys") == "print(x)"


def test_cursor_without_match_does_not_start_navigating(path: Path) -> None:
    history = History(path)
    history.add("a = 1")
    cursor = history.cursor()
    assert cursor.older("zzz") is None
    assert not cursor.active
    assert cursor.newer() is None


def test_history_module_does_not_import_textual() -> None:
    code = ("import sys, rtui.core.console.history; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
