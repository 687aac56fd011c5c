"""Entry.from_row: the agent's rows taken as they are when their types are right (the fast
way for a 100,000-name listing), converted when they are not; the same entry either way."""

from __future__ import annotations

import dataclasses
import json
import stat

import pytest

from rtui.core.files.model import Entry


def test_from_row_fast_and_converted_alike() -> None:
    file = Entry("a b\nc.txt", "file", 12, 1796646896.25, stat.S_IFREG | 0o644)
    link = Entry("to-sub", "link", 3, 1796646896.5, stat.S_IFLNK | 0o777, "sub", "dir")
    for entry in (file, link):
        row = json.loads(json.dumps(entry.to_row()))  # as the agent's JSON brings it
        fast = Entry.from_row(row)
        assert fast == entry and hash(fast) == hash(entry) and type(fast) is Entry
        assert fast.to_row() == row
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.name = "other"  # type: ignore[misc]
    # other types (an SFTP-ish int mtime, numbers as text, a short row) are converted
    odd = Entry.from_row(["n", "file", "12", 1796646896, "33188"])
    assert odd == Entry("n", "file", 12, 1796646896.0, 33188)
    assert type(odd.mtime) is float and type(odd.size) is int
    assert Entry.from_row(["n", "file", True, 1.0, 33188, None, None]).size == 1
    assert type(Entry.from_row(["n", "file", True, 1.0, 33188, None, None]).size) is int
    assert Entry.from_row(["n", "link", 1, 1.0, 41471, 7, None]).target == "7"


def test_homes_are_shown_as_tilde_as_shells_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from rtui.core.files.paths import Local, Remote, shown, tilde

    assert [tilde(p, "/home/ann") for p in ("/home/ann", "/home/ann/x", "/home/annex", "/x")] \
        == ["~", "~/x", "/home/annex", "/x"]
    assert tilde("/x", "/") == "/x" and tilde("/x", None) == "/x"
    monkeypatch.setenv("HOME", "/home/me")
    assert shown(Remote("lab", "/home/ann/a\nb"), "/home/ann") == "lab:~/a\\nb"
    assert shown(Remote("lab", "/home/ann/a"), None) == "lab:/home/ann/a"
    assert shown(Local("/home/me/Downloads")) == "~/Downloads"
