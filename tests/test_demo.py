"""``rtui demo``: the embedded SSH server, the TUI on it, and nothing left behind afterwards."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable

from rtui.cli.demo import demo_app, select_host
from rtui.core.config.model import Host
from rtui.core.config.store import HostStore
from rtui.demo import DemoServer, demo_processes
from rtui.tui.screens.prompts import ChoiceScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.conftest import run_rtui
from tests.harness.sshd import pid_alive


async def until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def kernel_pids(home: Path) -> list[int]:
    """The pids in rtui's kernel records in the demo HOME."""
    records = (json.loads(p.read_text()) for p in
               (home / ".local/share/rtui/kernels").glob("*.json"))
    return [r["pid"] for r in records if isinstance(r.get("pid"), int)]


def assert_nothing_left(root: Path, isolated_home: Path) -> None:
    assert not demo_processes(root), "a process of the demo is still running"
    assert not root.exists(), "the demo's temp dir was not removed"
    assert not (isolated_home / ".local/share/rtui/known_hosts").exists()
    # Nothing in HOME or the XDG dirs (all under it here): no history of what was typed
    # (it was kept in the demo's temp dir), no known_hosts, no state.
    written = [str(p.relative_to(isolated_home)) for p in isolated_home.rglob("*")
               if not p.is_dir()]
    assert written == [], written


async def test_demo_tui_console_then_everything_gone(tmp_path: Path, isolated_home: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(Host("other", hostname="127.0.0.1", port=1)))
    hosts_file = store.path.read_text()
    server = DemoServer()
    await server.start()
    root, home = server.root, server.home
    try:
        app = demo_app(store, server)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: (s := app.workspace.statuses.get("demo")) is not None and s.ok)
            await until(lambda: str(app.query_one("#hosts", DataTable).get_cell(
                "demo", "status")) == "ok")  # and the host list shows it
            assert await select_host(app, "demo")  # "other" is listed first
            await pilot.press("enter")
            await until(lambda: bool(app.query(ConsolePane))
                        or isinstance(app.screen, ChoiceScreen))
            if isinstance(app.screen, ChoiceScreen):  # more than one Python with ipykernel
                await pilot.press("enter")
                await until(lambda: bool(app.query(ConsolePane)))
            console = app.query_one(ConsolePane)
            await until(lambda: isinstance(app.focused, CodeInput))
            await pilot.press(*"print('hi')", "enter")
            await until(lambda: "hi" in console.model.plain_lines())
            assert console.history_path.is_relative_to(root)  # the demo's temp dir

            # The demo's home has a small project for the Files tab, read over the demo's
            # own SFTP server and agent (the same code paths as a real host's).
            files = await app.workspace.files("demo")
            names = [e.name async for batch in files.list("demo-project") for e in batch]
            assert sorted(names) == ["README.md", "analysis.py", "data"]
            head = await files.read_range("demo-project/data/measurements.csv", 0, 31)
            assert head.startswith(b"time,temperature_c,humidity_pct")
            chart = await files.read_range("demo-project/data/day.png", 0, 8)
            assert chart == b"\x89PNG\r\n\x1a\n"  # a chart of that data, for the preview

            pids = kernel_pids(home)
            assert pids and all(pid_alive(p) for p in pids)
            await pilot.press("ctrl+q")
            await until(lambda: isinstance(app.screen, ChoiceScreen))
            chooser = app.screen
            assert isinstance(chooser, ChoiceScreen) and chooser.options[0][0] == "leave"
            await pilot.press("enter")  # leave the kernel running: close() must stop it
        assert all(pid_alive(p) for p in pids), "the kernel should have been left running"
    finally:
        await server.close()
    assert server.survivors == []
    assert not any(pid_alive(p) for p in pids)
    assert_nothing_left(root, isolated_home)
    assert store.path.read_text() == hosts_file
    assert "demo" not in hosts_file


def test_demo_no_tui_runs_a_kernel(isolated_home: Path, config_file: Path) -> None:
    result = run_rtui("demo", "--no-tui", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello from the demo kernel" in result.stdout
    assert "demo: ok |" in result.stdout
    assert "(sockets via streamlocal)" in result.stdout  # a private route, as on a real host
    assert "Warning" not in result.stderr, result.stderr  # stderr: rtui's own words only
    match = re.search(r"remote home (\S+)/home", result.stdout)
    assert match, result.stdout
    assert_nothing_left(Path(match.group(1)), isolated_home)
    assert not config_file.exists()
