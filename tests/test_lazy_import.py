"""import_off_loop: a slow import never holds the event loop, however many wait for it."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from rtui.core.lazy import import_off_loop


async def test_slow_import_runs_once_off_the_loop(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rtui_slow_module.py").write_text(
        "import time\nCOUNT = 1\ntime.sleep(0.4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rtui_slow_module", raising=False)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    first = asyncio.create_task(import_off_loop("rtui_slow_module"))
    await asyncio.sleep(0.05)  # the import is under way in the thread: in sys.modules already
    assert "rtui_slow_module" in sys.modules
    await import_off_loop("rtui_slow_module")  # a second caller: returns once it is done
    import rtui_slow_module  # what a caller does next: on the loop, so it must not wait

    await first
    ticking.cancel()
    assert rtui_slow_module.COUNT == 1
    assert max(gaps) < 0.2  # the loop kept turning meanwhile
