"""Jupyter Server and JupyterHub hosts in the TUI, driven with Textual's pilot by keys: the host
form's kind selector and fields, the host list, the tabs a server has not, and a console on
the real jupyter_server fixture (the token asked, the kernelspec, interrupt, restart, k)."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Label, Log, OptionList, Static, TabbedContent, TabPane

from rtui.core.config.model import Host
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.ssh.prompts import SecretPrompt
from rtui.tui.app import RtuiApp
from rtui.tui.screens.host_form import HostFormScreen
from rtui.tui.screens.progress import ProgressScreen
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen
from rtui.tui.screens.token_prompt import TokenPromptScreen
from rtui.tui.widgets.console import ConsolePane
from tests.harness.jupyter import JupyterServerInfo
from tests.harness.jupyterhub import HubInfo
from tests.harness.relay import TCPRelay
from tests.tui_helpers import output, rows, screen_lines, status_of, store_with, until


async def _form(app: RtuiApp) -> HostFormScreen:
    await until(lambda: isinstance(app.screen, HostFormScreen))
    assert isinstance(app.screen, HostFormScreen)
    return app.screen


def _saved(tmp_path: Path) -> list[dict[str, object]]:
    hosts: list[dict[str, object]] = tomllib.loads((tmp_path / "hosts.toml").read_text())["hosts"]
    return hosts


async def test_the_form_adds_a_jupyter_server_then_makes_it_a_hub(tmp_path: Path) -> None:
    """Keys only, at 80x24: the kind picked above the name shows that kind's fields; what
    is wrong is said under its field with the file's words; the save writes a jupyter table."""
    store = store_with(tmp_path, Host("login1", hostname="gw.example.org"))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        form = await _form(app)
        await pilot.press("shift+tab", "enter", "down", "enter")  # Kind: Jupyter server
        await until(lambda: form.kind == "jupyter")
        assert not form.query_one("#ssh-rows").display
        assert not form.query_one("#hub-rows").display  # a hub's own rows
        await pilot.press("tab", *"lab", "enter", *"ftp://lab")
        await pilot.pause()
        error = str(form.query_one("#e-jupyter-url", Label).render())
        assert "'ftp://lab' is not an http:// or https:// URL" in error  # the file's words
        await pilot.press("home", "delete", "delete", "delete", *"http", "end", *":8888")
        assert form.query_one("#e-jupyter-url", Label).has_class("-empty")
        await pilot.press("tab", "enter", "down", "enter")  # Through: login1 (the only SSH host)
        await pilot.press("tab", "enter", "down", "enter")  # Token from: environment variable
        token_field = form.query_one("#j-token_value", Input)
        await until(lambda: token_field.display)
        await pilot.press("ctrl+o")  # refused: the variable's name is missing
        assert "type the variable's name" in str(form.query_one("#e-jupyter-token",
                                                                Label).render())
        await pilot.press("tab")
        token_field.value = "LAB_TOKEN"
        screen = "\n".join(screen_lines(app))
        for text in ("Kind", "Jupyter server", "URL", "http://lab:8888", "Through", "login1",
                     "Token from", "environment variable", "LAB_TOKEN", "ctrl+o save"):
            assert text in screen, text  # all of it in view at 80x24
        await pilot.press("ctrl+o")
        await until(lambda: "lab" in [r[0] for r in rows(app)])
        assert _saved(tmp_path)[1] == {"name": "lab", "jupyter": {
            "url": "http://lab:8888/", "via": "login1", "token_env": "LAB_TOKEN"}}
        row = next(r for r in rows(app) if r[0] == "lab")
        assert row[3] == "jupyter" and row[5] == "http://lab:8888/ via login1"

        # Edited into a hub: the server and the start bound shown; the token source kept.
        await pilot.press("down", "e")
        form = await _form(app)
        assert form.kind == "jupyter"
        assert form.query_one("#j-token_value", Input).value == "LAB_TOKEN"
        await pilot.press("shift+tab", "enter", "down", "enter")  # Kind: JupyterHub
        await until(lambda: form.kind == "jupyterhub")
        assert form.query_one("#hub-rows").display
        form.query_one("#j-server", Input).focus()
        await pilot.press(*"rtui", "tab", *"-5")
        assert "must be greater than 0" in str(form.query_one("#e-jupyter-hub", Label).render())
        await pilot.press("backspace", "backspace", *"60")
        await pilot.press("ctrl+o")
        await until(lambda: store.load().require("lab").kind == "jupyterhub")
        assert store.load().require("lab").jupyter == JupyterSettings(
            url="http://lab:8888/", hub=True, server="rtui", via="login1",
            token_env="LAB_TOKEN", start_timeout=60.0)
        assert next(r for r in rows(app) if r[0] == "lab")[3] == "hub"

        # Back to SSH: the SSH fields again, and the Jupyter keys would go with a save.
        await pilot.press("e")
        form = await _form(app)
        await pilot.press("shift+tab", "enter", "up", "up", "enter")
        await until(lambda: form.kind == "ssh")
        assert form.query_one("#ssh-rows").display
        assert not form.query_one("#jupyter-rows").display
        assert form._data() == {"name": "lab"}
        await pilot.press("escape")


async def test_files_envs_and_jobs_are_not_offered_on_a_jupyter_host(tmp_path: Path) -> None:
    """f, v and j on a server say it in a notification: no error, no connection tried."""
    store = store_with(tmp_path, Host("lab", jupyter=JupyterSettings(url="http://127.0.0.1:9/")))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, what in (("f", "Files are"), ("v", "Environments are"), ("j", "SLURM jobs are")):
            await pilot.press(key)
            await until(lambda what=what: any(  # type: ignore[misc]
                f"{what} not available for a Jupyter server (lab)" in str(n.message)
                for n in app._notifications))
        assert not any(n.severity == "error" for n in app._notifications)
        assert app.workspace._pool is None  # nothing was connected


async def test_the_token_dialog_offers_no_keyring_where_none_works(tmp_path: Path) -> None:
    """No OS keyring (this machine's case): no "save" choice, and the dialog says how a token
    can be kept instead; the typed token is the answer."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        store = store_with(tmp_path, Host("lab", jupyter=JupyterSettings(url="http://127.0.0.1:9/")))
        app = RtuiApp(store, check_on_start=False)
        async with app.run_test(size=(80, 24)) as pilot:
            answer = asyncio.ensure_future(app.prompter.ask_secret(
                SecretPrompt("token", "lab", "Token for http://127.0.0.1:9/")))
            await until(lambda: isinstance(app.screen, TokenPromptScreen)
                        and bool(app.screen.query(Input)))
            assert not app.screen.query(Checkbox)
            hint = str(app.screen.query_one(".hint", Label).render())
            assert "No OS keyring here: set token_env or token_command" in hint
            await pilot.press(*"abc", "enter")
            assert await answer == "abc"
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def memory_keyring() -> Iterator[None]:
    """A keyring that works (in memory) for this test, the process's own put back after."""
    import keyring

    from tests.memory_keyring import MemoryKeyring, clear

    before = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        clear()
        keyring.set_keyring(before)


async def test_a_console_on_a_jupyter_server_asks_the_token_and_runs_code(
    jupyter_server: JupyterServerInfo, tmp_path: Path, memory_keyring: None,
) -> None:
    """Enter on a server with no token source: the password dialog (a wrong token refused
    and asked again once; "save in the keyring" ticked), the server's only kernelspec taken,
    a console over the websocket; its link cut mid-cell (said, reconnected, the seam, no
    output lost); interrupt, restart; c checks it; k lists the kernel; f4 shuts it down."""
    async with TCPRelay("127.0.0.1", jupyter_server.port) as relay:  # a link to cut
        await _console_through(relay, jupyter_server, tmp_path)


async def _console_through(relay: TCPRelay, jupyter_server: JupyterServerInfo,
                           tmp_path: Path) -> None:
    import keyring
    from jupyter_server import __version__ as jupyter_server_version

    url = f"http://127.0.0.1:{relay.port}/"
    store = store_with(tmp_path, Host("lab", jupyter=JupyterSettings(url=url)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, TokenPromptScreen)
                    and bool(app.screen.query(Input)))
        first = app.screen
        assert first.query(Checkbox)  # a keyring works: saving is offered
        await pilot.press(*"wrong", "enter")
        await until(lambda: isinstance(app.screen, TokenPromptScreen) and app.screen is not first
                    and bool(app.screen.query(Input)))
        app.screen.query_one(Input).value = jupyter_server.token
        await pilot.press("tab", "space", "shift+tab", "enter")  # saved in the keyring
        await until(lambda: bool(app.query(ConsolePane)), timeout=30)
        pane = app.query_one(ConsolePane)
        await until(lambda: pane.kernel is not None and pane.state == "idle", timeout=30)
        assert pane.kernel is not None
        kernel_id = pane.kernel.id
        await pilot.press(*"1+1", "enter")
        await until(lambda: "Out[1]: 2" in output(pane))
        assert "websocket" in str(pane.query_one("#status", Static).render())
        await until(lambda: keyring.get_password("rtui", "lab") == jupyter_server.token)
        await until(lambda: store.load().require("lab").jupyter == JupyterSettings(
            url=url, token_keyring=True))

        # The websocket cut while a cell prints: said, made again with the same session,
        # and what the server kept meanwhile replayed after the seam.
        await pilot.press(*"for i in range(6): print('line', i); __import__('time').sleep(0.2)",
                          "enter")
        await until(lambda: "line 1" in output(pane))
        relay.freeze()  # down for a while (a reopen hangs): the cell prints on meanwhile
        relay.cut()
        await until(lambda: "Connection lost" in output(pane))
        assert pane.state == "reconnecting"
        await asyncio.sleep(0.6)
        relay.thaw()
        await until(lambda: "Reconnected" in output(pane), timeout=30)
        await until(lambda: "line 5" in output(pane) and pane.execution_count == 2)
        text = output(pane)
        assert all(text.count(f"line {i}") == 1 for i in range(6)), text  # none lost or twice
        assert "── replayed " in text.split("Connection lost")[1], text  # the seam

        await pilot.press(*"import time; time.sleep(30)", "enter")
        await until(lambda: pane.state == "busy")
        await pilot.press("ctrl+c")
        await until(lambda: "KeyboardInterrupt" in output(pane), timeout=10)
        await pilot.press("f9")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "Kernel restarted" in output(pane), timeout=30)

        await pilot.press("f3", "c")  # the check: reachable, the token taken, the version
        await until(lambda: status_of(app, "lab") == "ok")
        row = next(r for r in rows(app) if r[0] == "lab")
        assert row[3] == f"jupyter {jupyter_server_version}" and row[4] == "1", row
        await pilot.press("k")  # the server's kernels, by id
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        listed = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        assert kernel_id[:20] in listed and "python3" in listed and "rtui" in listed
        await pilot.press("escape")

        tab = pane.parent
        assert isinstance(tab, TabPane) and tab.id
        app.query_one(TabbedContent).active = tab.id
        await pilot.press("f4")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("down", "enter")  # shut the kernel down
        await until(lambda: not app.query(ConsolePane))
        await until(lambda: kernel_id not in jupyter_server.kernel_ids(), timeout=10)


async def test_a_console_on_a_hub_shows_its_server_starting(
    jupyterhub: HubInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """p on a hub whose named server is not running: the hub's progress events in the
    progress screen while it starts, the server's kernelspecs in the kernel picker (not the
    Python one), then the console on a kernel of that server."""
    monkeypatch.setenv("RTUI_TEST_HUB_TOKEN", jupyterhub.token)
    jupyterhub.stop_server("tui")
    settings = JupyterSettings(url=jupyterhub.url, hub=True, server="tui",
                               token_env="RTUI_TEST_HUB_TOKEN")
    store = store_with(tmp_path, Host("hub", jupyter=settings))
    app = RtuiApp(store, check_on_start=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("p")
            await until(lambda: isinstance(app.screen, ProgressScreen)
                        and bool(app.screen.query(Log)), timeout=30)
            progress = app.screen
            assert isinstance(progress, ProgressScreen)
            assert "hub is starting your server" in progress.title_text
            log = progress.query_one(Log)
            await until(lambda: isinstance(app.screen, ChoiceScreen)
                        and bool(app.screen.query(OptionList)), timeout=60)
            assert progress not in app.screen_stack  # closed once the server was up
            picker = app.screen
            assert isinstance(picker, ChoiceScreen) and picker.title_text == "Kernel on hub"
            specs = picker.query_one(OptionList)
            assert "(python3, the default)" in str(specs.get_option_at_index(0).prompt)
            await pilot.press("enter")
            await until(lambda: bool(app.query(ConsolePane)), timeout=60)
            pane = app.query_one(ConsolePane)
            seen = list(log.lines)
            assert seen and "%" in seen[0], seen  # "  0%  Server requested" and the rest
            await until(lambda: pane.kernel is not None and pane.state == "idle", timeout=30)
            await pilot.press(*"1+1", "enter")
            await until(lambda: "Out[1]: 2" in output(pane))
            await pilot.press("f4")
            await until(lambda: isinstance(app.screen, ChoiceScreen))
            await pilot.press("down", "enter")  # shut the kernel down
            await until(lambda: not app.query(ConsolePane))
    finally:
        jupyterhub.stop_server("tui")
