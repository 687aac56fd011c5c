"""The console flow against the real sshd and a real kernel, pressing the keys a person would:
open a console, run code, see output, input(), interrupt, restart, close."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rtui.core.config.store import HostStore
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.tui.app import RtuiApp
from rtui.tui.render import painting_held
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.sshd import SSHD, pid_alive
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, rows, until


async def test_console_flow(sshd: SSHD, tmp_path: Path, isolated_home: Path) -> None:
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")  # one key: a console on a new kernel
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))  # typing goes to the editor

        await pilot.press(*"print('hi there')", "enter")
        await until(lambda: "hi there" in output(pane))
        await pilot.press(*"6*7", "enter")
        await until(lambda: "Out[2]: 42" in output(pane))
        await until(lambda: pane.execution_count == 2)
        # Each kernel message reached the console once (its cell's own way, not also another).
        assert output(pane).splitlines().count("hi there") == 1
        assert output(pane).count("Out[2]: 42") == 1

        await pilot.press("1", "slash", "0", "enter")
        await until(lambda: "ZeroDivisionError" in output(pane))

        await pilot.press(*"name = input('who? ')", "enter")
        # Asked in the console's own editor (the prompt as its title), as a terminal does.
        await until(lambda: pane.query_one(CodeInput).border_title == "who? ")
        await pilot.press(*"ada", "enter")
        await pilot.press(*"print('hello', name)", "enter")
        await until(lambda: "hello ada" in output(pane))

        await pilot.press(*"import time; time.sleep(30)", "enter")
        await until(lambda: pane.state == "busy")
        # A cell holds the screen's paint until the kernel is idle, 20 ms at most: a long
        # one must not freeze it (the app's batch count is what holds it).
        await until(lambda: not painting_held(app), timeout=0.5)
        assert pane.state == "busy"
        started = time.monotonic()
        await pilot.press("ctrl+c")
        await until(lambda: "KeyboardInterrupt" in output(pane), timeout=5)
        assert time.monotonic() - started < 2.5

        await pilot.press("f9")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "Kernel restarted" in output(pane))
        await pilot.press(*"print('name' in dir())", "enter")
        await until(lambda: "False" in output(pane).split("Kernel restarted")[-1])

        records = {r.id: r for r in await pane.kernels.list()}
        pid = records[pane.kernel.id].pid
        assert pid and pid_alive(pid)
        await pilot.press("f4")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("down", "enter")  # shut the kernel down
        await until(lambda: not app.query(ConsolePane))
        await until(lambda: not pid_alive(pid), timeout=10)


async def test_console_opens_at_once_and_runs_what_was_typed_when_the_kernel_is_there(
    sshd: SSHD, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tab opens before the kernel is up; a cell typed meanwhile runs once it is. A tab
    closed while its kernel starts leaves no kernel behind."""
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    gate = asyncio.Event()
    started: list[RemoteKernel] = []
    real_start = HostKernels.start

    async def held_start(self: HostKernels, **kwargs: Any) -> RemoteKernel:
        await gate.wait()  # the real start, held until the test lets it go
        kernel = await real_start(self, **kwargs)
        started.append(kernel)
        return kernel

    monkeypatch.setattr(HostKernels, "start", held_start)
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        assert pane.kernel is None and pane.state == "starting"
        assert "Starting a kernel on lab" in output(pane)
        await pilot.press(*"print(6*7)", "enter")
        gate.set()
        await until(lambda: "\n42" in output(pane))
        text = output(pane)
        assert text.index("Connected to kernel") < text.index("\n42")

        # Closed while starting: the tab goes at once, the kernel is shut down when it is up.
        gate.clear()
        await pilot.press("f3", "enter")
        await until(lambda: len(app.query(ConsolePane)) == 2)
        await pilot.press("f4")
        await until(lambda: len(app.query(ConsolePane)) == 1)
        assert not isinstance(app.screen, ChoiceScreen)  # nothing to ask: no kernel yet
        gate.set()
        await until(lambda: len(started) == 2)
        doomed = started[1].id
        deadline = time.monotonic() + 15
        while any(r.id == doomed and r.alive for r in await pane.kernels.list()):
            assert time.monotonic() < deadline, "the kernel of the closed tab is still running"
            await asyncio.sleep(0.1)
        await pane.shutdown_kernel()


async def test_kernels_column_follows_consoles_opened_and_shut_down(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """The host list counts a kernel started here at once, not at the next check."""

    def kernels_shown() -> str:
        return next(r[4] for r in rows(app) if r[0] == "lab")

    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    app = RtuiApp(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: kernels_shown().isdigit())  # checked: ok, with a count
        before = int(kernels_shown())
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.kernel is not None)
        await until(lambda: kernels_shown() == str(before + 1))
        await pilot.press("f4")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("down", "enter")  # shut the kernel down
        await until(lambda: not app.query(ConsolePane))
        await until(lambda: kernels_shown() == str(before))
