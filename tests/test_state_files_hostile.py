"""rtui's own small state files (remembered kernels, kernel notes, a console's history) with
a FIFO or /dev/zero in their place: each is read as empty, at once, and a warning is logged
(a plain read hung on the FIFO and read /dev/zero until memory ran out)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from rtui.core.console.history import History
from rtui.core.kernel_notes import KernelNotes
from rtui.core.kernels.remembered import RememberedKernels

BOUND_S = 5.0


def _hostile(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
async def test_state_files_in_a_special_files_place_read_as_empty(tmp_path: Path,
                                                                  kind: str) -> None:
    started = time.monotonic()
    remembered = RememberedKernels(tmp_path / "remembered")
    _hostile(tmp_path / "remembered" / "lab.json", kind)
    assert await asyncio.wait_for(asyncio.to_thread(remembered.get, "lab", "k1"), BOUND_S) is None

    notes: KernelNotes[int] = KernelNotes(tmp_path / "notes.json", lambda v: isinstance(v, int))
    _hostile(tmp_path / "notes.json", kind)
    assert await asyncio.wait_for(asyncio.to_thread(notes.load), BOUND_S) == {}

    history = History(tmp_path / "history")
    _hostile(tmp_path / "history", kind)
    await asyncio.wait_for(history.load(), BOUND_S)
    assert len(history) == 0
    assert await asyncio.wait_for(asyncio.to_thread(history.add, "1 + 1"), BOUND_S)
    notes.save({"k": 1})  # refused (logged), never written through the special file
    assert time.monotonic() - started < BOUND_S
