"""The console when its host goes away: it keeps retrying and its status line says which
attempt and when the next; a host back with another key is shown in full, in a dialog; a
stopped kernel is "not answering", not dead; f9 starts a dead kernel again. Real sshd, a
relay to make the host vanish, a real kernel."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from rtui.core.config.model import Settings
from rtui.core.config.store import HostStore
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ConfirmScreen, MessageScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests import reliability
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, pid_alive
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, until


def status_line(pane: ConsolePane) -> str:
    return str(pane.query_one("#status", Static).render())


def kept_lost(before: list[str], after: list[str]) -> int:
    """Lines a console showed before a fault that it no longer shows in place after."""
    return sum(a != b for a, b in zip(before, after, strict=False)) + max(
        0, len(before) - len(after))


async def open_console(app: RtuiApp, pilot: Pilot[None]) -> ConsolePane:
    await pilot.press("enter")
    await until(lambda: bool(app.query(ConsolePane)))
    pane = app.query_one(ConsolePane)
    await until(lambda: isinstance(app.focused, CodeInput))
    await pilot.press(*"x = 1", "enter")
    await until(lambda: pane.execution_count == 1, timeout=60)
    return pane


@pytest.mark.reliability
async def test_console_keeps_retrying_a_lost_host_and_says_so(
    sshd: SSHD, tmp_path: Path, isolated_home: Path,
) -> None:
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        (isolated_home / ".ssh").mkdir(exist_ok=True)
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(sshd.host_key_pub) + "\n")
        store = HostStore(tmp_path / "hosts.toml")
        store.update(lambda c: c.with_host(
            host_for(sshd, "lab", port=relay.port, python=sys.executable)))
        app = RtuiApp(store, check_on_start=False)
        async with app.run_test(size=(120, 30)) as pilot:
            pane = await open_console(app, pilot)
            pane.kernels.connection.settings = Settings(reconnect_max_delay=4.0)
            relay.refuse_new = True
            before = output(pane).splitlines()
            relay.cut()
            # attempts 1-3 wait 0, ~1 and ~2 s; the 4th waits 2-4 s, counted down
            await until(lambda: "(attempt 4, next in" in status_line(pane), timeout=20)
            line = status_line(pane)
            assert line.startswith("lab · python") and "Connection lost" in output(pane)
            first = int(line.split("(attempt 4, next in ")[1].split("s)")[0])
            assert 2 <= first <= 4, line
            await until(lambda: f"reconnecting to lab (attempt 4, next in {first - 1}s)"
                        in status_line(pane), timeout=3)
            relay.refuse_new = False  # the host is back: the same kernel, its variables
            back = time.monotonic()
            await until(lambda: "Reconnected" in output(pane), timeout=20)
            await pilot.press(*"print(x + 1)", "enter")
            await until(lambda: "\n2" in output(pane).split("Reconnected")[-1])
            recover_s = time.monotonic() - back
            assert "reconnecting" not in status_line(pane)
            # a heartbeat silenced by the link is not the kernel's death
            assert "has not answered its heartbeat" not in output(pane)
            lost = kept_lost(before, output(pane).splitlines())
            assert lost == 0
            await pane.shutdown_kernel()
    reliability.record("faults", "the host unreachable (link cut, new connections refused) "
                       "for 4 attempts, the console open", tried=1,
                       seen=f"status line '{line}', then 'Reconnected'", lost=lost,
                       recover_s=recover_s)


async def test_console_shows_a_host_key_changed_on_reconnect_in_full(
    fresh_sshd: SSHD, tmp_path: Path, isolated_home: Path,
) -> None:
    trust(fresh_sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(fresh_sshd, "lab", python=sys.executable)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_console(app, pilot)
        await pilot.press("f3", "enter")  # a second console on the same host
        await until(lambda: len(app.query(ConsolePane)) == 2)
        await until(lambda: all(p.kernel is not None for p in app.query(ConsolePane)),
                    timeout=60)
        assert pane.kernel is not None
        listed = {r.id: r.pid for r in await pane.kernels.list()}
        pids = [listed[p.kernel.id] for p in app.query(ConsolePane) if p.kernel]
        try:
            fresh_sshd.restart(new_host_key=True)
            await until(lambda: isinstance(app.screen, MessageScreen), timeout=30)
            await until(lambda: all(p.state == "disconnected" for p in app.query(ConsolePane)))
            shown = [s for s in app.screen_stack if isinstance(s, MessageScreen)]
            assert len(shown) == 1  # one dialog for the host, not one per console
            screen = app.screen
            assert isinstance(screen, MessageScreen) and screen.title_text == "Host key changed"
            text = screen.message
            assert text.startswith(f"HOST KEY CHANGED for [127.0.0.1]:{fresh_sshd.port}: "
                                   "refusing to connect. It now presents ssh-ed25519 SHA256:")
            assert "but the key on record is ssh-ed25519" in text
            assert pane.state == "disconnected"
            assert "Disconnected: HOST KEY CHANGED" in output(pane)
        finally:
            for pid in pids:
                if pid:
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.reliability
async def test_f9_starts_a_dead_kernel_again(
    sshd: SSHD, tmp_path: Path, isolated_home: Path,
) -> None:
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await open_console(app, pilot)
        assert pane.kernel is not None
        kid = pane.kernel.id
        pid = next(r.pid for r in await pane.kernels.list() if r.id == kid)
        assert pid
        # Stopped, it answers no heartbeat but runs: "not answering", not dead (the host
        # is asked), and back when it answers again.
        os.kill(pid, signal.SIGSTOP)
        try:
            await until(lambda: pane.state == "not answering", timeout=10)
            assert "not answering" in status_line(pane)
            await until(lambda: "asking the host" in output(pane), timeout=5)
            await asyncio.sleep(1.5)  # the host's answer: it runs
            assert pane.state == "not answering", output(pane)
        finally:
            os.kill(pid, signal.SIGCONT)
        await until(lambda: "answers its heartbeat again" in output(pane), timeout=10)
        assert pane.state == "idle" and "not running" not in output(pane)
        # Killed under a running cell: the cell's worker fails, and the person is told (a
        # console's worker failure reaches the app's one handler of failures).
        await pilot.press(*"import time; time.sleep(30)", "enter")
        await until(lambda: pane.state == "busy")
        before = output(pane).splitlines()  # what the console showed when its kernel died
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        await until(lambda: not pid_alive(pid), timeout=10)
        await until(lambda: any(n.title == "Kernel died" for n in app._notifications))
        told = next(n for n in app._notifications if n.title == "Kernel died")
        assert told.severity == "error" and "was killed by signal 9" in told.message, told.message
        await pilot.press("f9")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "Kernel restarted" in output(pane), timeout=60)
        await pilot.press(*"print('x' in dir(), 6*7)", "enter")
        await until(lambda: "False 42" in output(pane).split("Kernel restarted")[-1])
        recover_s = time.monotonic() - killed
        assert pane.kernel.id == kid and pane.state == "idle"
        lost = kept_lost(before, output(pane).splitlines())
        assert lost == 0  # the console kept what it showed
        await pane.shutdown_kernel()
        said = told.message.split(";")[0].replace(kid, "ID")
        reliability.record("faults", "the kernel killed (SIGKILL) under a running cell, then "
                           "f9 in the console", tried=1, seen=f"'{told.title}: {said}', then "
                           "f9: 'Kernel restarted'", lost=lost, recover_s=recover_s)
