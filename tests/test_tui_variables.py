"""The variables pane against the real sshd and a real kernel, ipykernel and spyder-kernels,
pressing the keys a person would: f12 shows it, rows after each cell (at most one extra round
trip), a DataFrame and an array viewed, a filter, a delete, the narrow layout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtui.core.config.store import HostStore
from rtui.core.kernels.namespace import KEY
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ConfirmScreen
from rtui.tui.screens.value_view import ValueScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from rtui.tui.widgets.console_view import ConsoleView
from rtui.tui.widgets.variables import VariablesPane, VariablesTable
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, until


def _count_requests(pane: ConsolePane) -> list[str]:
    """The requests the console's session sends from now on: "cell" (a cell's own), "vars"
    (the variables pane's own: a silent request carrying its probe, a call on spyder's
    comm), not the editor's is_complete, nor other silent code (matplotlib's sizing, fire
    and forget)."""
    assert pane.kernel is not None
    transport: Any = pane.kernel.session._channels
    sent: list[str] = []
    real_send: Callable[..., str] = transport.send

    def send(channel: str, msg_type: str, content: dict[str, Any], *args: Any,
             **kwargs: Any) -> str:
        if msg_type == "execute_request" and not content["silent"]:
            sent.append("cell")
        elif msg_type == "execute_request" and KEY in content["user_expressions"]:
            sent.append("vars")
        elif msg_type == "comm_open" or (msg_type == "comm_msg" and (
                content["data"]["spyder_msg_type"] == "remote_call")):
            sent.append("vars")  # not our answers to the kernel's calls (_comm_ready, again)
        return real_send(channel, msg_type, content, *args, **kwargs)

    transport.send = send
    return sent


async def _run(pilot: Any, pane: ConsolePane, code: str) -> None:
    count = pane.execution_count
    pane.query_one(CodeInput).focus()
    await pilot.press(*code, "enter")
    await until(lambda: pane.execution_count == count + 1 and pane.state == "idle")


@pytest.mark.parametrize("kind", ["ipykernel", "spyder"])
async def test_variables_pane(kind: str, sshd: SSHD, tmp_path: Path, isolated_home: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    if kind == "spyder":
        real_start = HostKernels.start

        async def spyder_start(self: HostKernels, **kwargs: Any) -> RemoteKernel:
            return await real_start(self, **{**kwargs, "spyder": True})

        monkeypatch.setattr(HostKernels, "start", spyder_start)
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.kernel is not None and pane.state == "idle", timeout=30)
        assert pane.kernel is not None and pane.kernel.kind == kind
        if kind == "spyder":
            # As a spyder kernel rtui did not start is attached (its kind unknown to rtui):
            # the pane asks its kernel_info, which says it is one.
            pane.kernel.kind = "ipykernel"
        await _run(pilot, pane, "import numpy as np, pandas as pd; x = 42")
        await _run(pilot, pane, "arr = np.arange(12.0).reshape(3, 4); "
                                "df = pd.DataFrame({'alpha': range(50), 'beta': ['q'] * 50})")

        await pilot.press("f12")  # shown beside the console (wide), the rows in focus
        variables = pane.query_one(VariablesPane)
        assert variables.shown and isinstance(app.focused, VariablesTable)
        await until(lambda: variables.names() == ["arr", "df", "x"])  # no np, pd
        namespace = variables.namespace
        assert namespace is not None and namespace.via == kind
        table = variables.query_one(VariablesTable)
        arr = [str(c) for c in table.get_row_at(0)]
        assert arr[0] == "arr" and arr[2] == "(3, 4)" and "float64" in arr[1] + arr[3]
        df = [str(c) for c in table.get_row_at(1)]
        assert df[1] == "DataFrame" and df[2] == "(50, 2)"
        assert pane.query_one(ConsoleView).region.width > 0
        assert variables.region.x > 0 and variables.region.width < pane.region.width

        # After each cell: the rows follow at no extra round trip (the cell's own request
        # carries the probe, or spyder pushes its view); after a failed cell, at one.
        # Counted once the pane's own showing is over (on spyder, its comm's set-up calls
        # may still be going out when the rows first appear).
        await until(lambda: not any(w.is_running for w in app.workers if w.node is variables))
        sent = _count_requests(pane)
        await _run(pilot, pane, "y = [1, 2, 3]")
        await until(lambda: "y" in variables.names())
        assert sent == ["cell"]
        sent.clear()
        await _run(pilot, pane, "z = 'zed'; 1/0")
        await until(lambda: "z" in variables.names())
        assert "ZeroDivisionError" in output(pane)
        # ipykernel evaluates no expression after an error: one silent request; spyder
        # pushes its view after a failed cell too.
        assert sent == (["cell", "vars"] if kind == "ipykernel" else ["cell"]), sent

        # Enter on a DataFrame: a table of its first rows, with its shape; Esc back.
        await pilot.press("f12")  # the editor had the focus: to the rows
        assert isinstance(app.focused, VariablesTable)
        await pilot.press("home", "down", "enter")
        await until(lambda: isinstance(app.screen, ValueScreen))
        screen = app.screen
        assert isinstance(screen, ValueScreen)
        assert "df · DataFrame · shape (50, 2)" in str(screen.query_one("#value-title").render())
        body = screen.body_text().splitlines()
        assert body[0].split() == ["0", "0", "q"] and len(body) == 50
        await pilot.press("escape")
        await until(lambda: isinstance(app.focused, VariablesTable))
        await pilot.press("up", "enter")  # the array
        await until(lambda: isinstance(app.screen, ValueScreen))
        assert app.screen.body_text().splitlines()[1].split() == ["1", "4", "5", "6", "7"]
        await pilot.press("escape")

        # A filter (a name part), then cleared.
        await until(lambda: isinstance(app.focused, VariablesTable))
        await pilot.press("slash", "a", "r")
        await until(lambda: variables.names() == ["arr"])
        await pilot.press("escape")
        await until(lambda: variables.names() == ["arr", "df", "x", "y", "z"])

        # delete, confirmed: gone from the rows and from the kernel.
        assert table.cursor_row == 0  # on arr, the filter's one row
        await pilot.press("down", "down")  # x
        await pilot.press("delete")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: variables.names() == ["arr", "df", "y", "z"])
        await _run(pilot, pane, "print('x' in dir())")
        await until(lambda: output(pane).rstrip().endswith("False"))

        # A restart: the pane shows the new, empty namespace at once, then the next cell's.
        await pilot.press("f9")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "Kernel restarted" in output(pane), timeout=30)
        await until(lambda: variables.names() == [] and namespace.via == kind)
        await _run(pilot, pane, "r = 1")
        await until(lambda: variables.names() == ["r"])

        # At 80 columns the pane takes the tab (and the focus from the editor it hides);
        # Escape goes back to the console, f12 shows the pane again, f12 hides it.
        await pilot.resize_terminal(80, 24)
        await until(lambda: pane.has_class("-variables-full"))
        await until(lambda: isinstance(app.focused, VariablesTable))
        await pilot.pause()
        assert not pane.query_one(ConsoleView).display
        assert variables.region.width == pane.region.width
        await pilot.press("escape")
        await until(lambda: not variables.shown and isinstance(app.focused, CodeInput))
        await pilot.pause()
        assert pane.query_one(ConsoleView).region.width == pane.region.width
        await pilot.press("f12")
        await until(lambda: variables.shown and isinstance(app.focused, VariablesTable))
        await pilot.pause()
        assert variables.region.width == pane.region.width
        await pilot.press("f12")
        await until(lambda: not variables.shown and isinstance(app.focused, CodeInput))
        # Hidden: cells carry nothing for it.
        sent.clear()
        await _run(pilot, pane, "w = 1")
        assert sent == ["cell"] and "w" not in variables.names()
