"""The console and the kernel's keeper, pressing the keys a person would (real sshd, agent,
keeper and kernel): `k` shows what the kernel printed while no console showed it, with the
seam marked, and asks what a cell asked meanwhile; a kernel that dies says how, in the
console."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from rtui.core.config.store import HostStore
from rtui.core.kernels import events as ev
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ChoiceScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, until


async def test_k_shows_what_was_printed_meanwhile_and_a_death(
        sshd: SSHD, tmp_path: Path, isolated_home: Path) -> None:
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.kernel is not None, timeout=30)
        kernel, kernels = pane.kernel, pane.kernels
        assert kernel is not None and kernel.keeper is not None  # launched under a keeper
        await pilot.press(*"print('before')", "enter")
        await until(lambda: "before" in output(pane))
        await pilot.press("f4")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("enter")  # leave the kernel running
        await until(lambda: not app.query(ConsolePane))
        try:
            # Another client prints while no console of ours shows the kernel.
            other = await kernels.attach(kernel.id, console=False)
            await other.session.execute("for i in range(3): print('away', i)").reply()
            # ... then a cell of it asks, and it goes away without answering.
            asked = asyncio.Event()

            def on_event(event: ev.KernelEvent) -> None:
                if isinstance(event, ev.InputRequest):
                    asked.set()

            other.session.execute("answer = input('who? ')\nprint('hi', answer)",
                                  on_event=on_event)
            await asyncio.wait_for(asked.wait(), 30)
            await kernels.detach(other)

            await pilot.press("k")
            await until(lambda: isinstance(app.screen, ChoiceScreen))
            screen = app.screen
            assert isinstance(screen, ChoiceScreen)
            index = [value for value, _ in screen.options].index(kernel.connection_file)
            await pilot.press(*["down"] * index, "enter")
            await until(lambda: bool(app.query(ConsolePane)))
            pane = app.query_one(ConsolePane)
            await until(lambda: "away 2" in output(pane))
            text = output(pane)
            assert "before" not in text  # this console saw it already
            seam = re.search(r"── replayed \d+ messages?, [\d:]+\u2013[\d:]+ ──", text)
            assert seam is not None, text
            assert text.index("away 2") < seam.start()  # the seam ends the replayed part
            assert text.count("away 2") == 1
            # The question asked while nobody was attached is asked now.
            # (in the console's editor, the prompt as its title)
            await until(lambda: pane.questions.asking is not None, timeout=30)
            question = pane.questions.asking
            assert question is not None and question.prompt == "who? "
            assert pane.query_one(CodeInput).border_title == "who? "
            await pilot.press(*"ada", "enter")
            await until(lambda: "hi ada" in output(pane), timeout=30)

            await pilot.press(*"import os; os._exit(3)", "enter")
            await until(lambda: "The kernel exited with code 3." in output(pane), timeout=5)
            assert pane.state == "dead"
        finally:
            await kernels.shutdown_by_id(kernel.id)
