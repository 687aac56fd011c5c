"""exit() and quit() typed in a console, against the real sshd and real kernels, pressing the
keys a person would: the tab closes with a one-line note; exit(keep_kernel=True) leaves the
kernel running and listed for k; a plain exit() leaves nothing on the host, says nothing of
heartbeats or deaths, and the quit dialog never offers to leave it running."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ChoiceScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.sshd import SSHD
from tests.host_leftovers import processes_mentioning, until_gone
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import store_with, until

PY = sys.executable


async def test_exit_and_quit_in_a_console(
    sshd: SSHD, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=PY)), check_on_start=False)

    told: list[str] = []  # every notification, also those gone from the screen since
    notify = app.notify

    def noting(message: str, **kwargs: Any) -> None:
        told.append(message)
        notify(message, **kwargs)

    monkeypatch.setattr(app, "notify", noting)

    async def console(*keys: str) -> ConsolePane:
        await pilot.press(*keys)
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput) and pane.kernel is not None)
        return pane

    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        # quit(keep_kernel=True): the tab closes, the kernel runs on, k lists it.
        pane = await console("enter")
        kept = pane.kernel
        assert kept is not None and kept.launched
        await pilot.press(*"x = 6; quit(keep_kernel=True)", "enter")
        await until(lambda: not app.query(ConsolePane))
        assert f"lab: kernel {kept.id[:8]} left running, as the code asked (k attaches again)" \
            in told
        assert processes_mentioning(kept.id)
        await pilot.press("k")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        screen = app.screen
        assert isinstance(screen, ChoiceScreen)
        index = [value for value, _ in screen.options].index(kept.connection_file)

        # Attached again, its namespace there; exit() ends it: nothing left on the host.
        pane = await console(*["down"] * index, "enter")
        await pilot.press(*"print(x * 7); exit()", "enter")
        await until(lambda: not app.query(ConsolePane))
        assert "\n42" in "\n".join(pane.model.plain_lines())
        assert f"lab: kernel {kept.id[:8]} exited, as the code asked, and was shut down" \
            in told
        await until_gone(kept.id, kept.connection_file, kept.keeper)

        # A kernel started here whose exit() is answered while the quit dialog is up: the
        # dialog counted it, so it is asked again without it; nothing is left: rtui quits.
        pane = await console("enter")
        ended = pane.kernel
        assert ended is not None and ended.launched
        go = tmp_path / "go"  # the cell waits for it, then exits
        await pilot.press(*f"import os, time; [time.sleep(0.02) for _ in iter(lambda: "
                          f"os.path.exists({str(go)!r}), True)]; exit()", "enter")
        await until(lambda: pane.state == "busy")
        await pilot.press("ctrl+q")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        assert isinstance(app.screen, ChoiceScreen)
        assert "leave 1 kernel(s) running" in app.screen.options[0][1]
        go.touch()
        await until(lambda: app.return_code == 0)
        assert f"lab: kernel {ended.id[:8]} exited, as the code asked, and was shut down" \
            in told
        await until_gone(ended.id, ended.connection_file, ended.keeper)
        # Its end was asked for: no heartbeat alarm, no death told, here or in the output.
        said = "\n".join(told + pane.model.plain_lines()).lower()
        assert not any(word in said for word in ("heartbeat", "died", "dead", "not answering"))
