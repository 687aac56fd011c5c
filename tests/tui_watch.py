"""A TUI console watching a kernel, driven by Textual's pilot as the in-process TUI tests do,
and the same console in a process of its own for what one in the test's process cannot
meet: its whole process stopped (SIGSTOP) and continued.

    python -m tests.tui_watch HOSTS_TOML HOST TAG

(HOME and the XDG variables name the person's files.) Once told a kernel's id on stdin (it
starts meanwhile) it attaches with `k` to that kernel,
says on stdout ``attached`` once its console shows the line ``TAG ready``, ``flowing`` once
it shows ``TAG 100`` or later and ``ended`` once it shows ``TAG printed ...``; then, on any line on
stdin, writes one JSON line (the console's plain lines and state) and quits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable

from rtui.core.config.store import HostStore
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ChoiceScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane


async def until(predicate: Callable[[], bool], timeout: float, what: str,
                every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(every)


def shows(pane: ConsolePane, line: str, last: int = 200) -> bool:
    """Whether one of the console's last ``last`` lines is ``line`` (the whole of it)."""
    model = pane.model
    return line in model.plain_lines(max(model.first_index, model.total - last))


def latest(pane: ConsolePane, tag: str) -> int:
    """The number of the last flood line (``TAG n``) among the console's last lines; -1."""
    model = pane.model
    for line in reversed(model.plain_lines(max(model.first_index, model.total - 200))):
        head, _, number = line.partition(" ")
        if head == tag and number.isdigit():
            return int(number)
    return -1


def ended(pane: ConsolePane, tag: str) -> bool:
    """Whether the console shows the flood's closing line (``TAG printed N lines ...``)."""
    model = pane.model
    tail = model.plain_lines(max(model.first_index, model.total - 200))
    return any(line.startswith(f"{tag} printed ") for line in tail)


async def attach_with_k(app: RtuiApp, pilot: Pilot[None], host: str,
                        kernel_id: str) -> ConsolePane:
    """What a person does: back to the hosts (f3), down to ``host``, `k`, the kernel, Enter.
    The new console, once it holds its kernel."""
    before = set(app.query(ConsolePane))
    table = app.query_one("#hosts", DataTable)
    if app.focused is not table:
        await pilot.press("f3")
        await until(lambda: app.focused is table, 10, "the host list in view")
    await until(lambda: table.row_count > 0, 10, "the host list")
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    step = names.index(host) - table.cursor_row
    await pilot.press(*(["down"] * step if step > 0 else ["up"] * -step))
    await pilot.press("k")
    await until(lambda: isinstance(app.screen, ChoiceScreen), 60, f"{host}'s kernel list")
    screen = app.screen
    assert isinstance(screen, ChoiceScreen)
    index = next(i for i, (value, _) in enumerate(screen.options) if kernel_id in value)
    await pilot.press(*["down"] * index, "enter")
    await until(lambda: len(set(app.query(ConsolePane)) - before) == 1, 60,
                f"a console on {host}")
    (pane,) = set(app.query(ConsolePane)) - before
    await until(lambda: pane.kernel is not None and isinstance(app.focused, CodeInput)
                and app.focused.parent is pane, 60,
                f"{host}'s kernel in its console")
    return pane


async def main(hosts: Path, host: str, tag: str) -> None:
    app = RtuiApp(HostStore(hosts), check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        kernel_id = (await asyncio.to_thread(sys.stdin.readline)).strip()
        pane = await attach_with_k(app, pilot, host, kernel_id)
        for said, done in (("attached", lambda: shows(pane, f"{tag} ready")),
                           ("flowing", lambda: latest(pane, tag) >= 100),
                           ("ended", lambda: ended(pane, tag))):
            await until(done, 600, said, every=0.1)
            print(said, flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        print(json.dumps({"lines": pane.model.plain_lines(), "state": pane.state}), flush=True)
        await pane.detach()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
