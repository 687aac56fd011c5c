"""Jupyter Server and JupyterHub hosts in the TUI, driven with Textual's pilot by keys: the host
form's kind selector and fields, the host list, the tabs a server has not, and a console on
the real jupyter_server fixture (the token asked, the kernelspec, interrupt, restart, k)."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from textual.widgets import Checkbox, Input, Label

from rtui.core.config.model import Host
from rtui.core.jupyter.settings import JupyterSettings
from rtui.core.ssh.prompts import SecretPrompt
from rtui.tui.app import RtuiApp
from rtui.tui.screens.host_form import HostFormScreen
from rtui.tui.screens.token_prompt import TokenPromptScreen
from tests.tui_helpers import rows, screen_lines, store_with, until


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
