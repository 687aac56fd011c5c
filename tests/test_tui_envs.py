"""The Environments tab, driven with the pilot against a real sshd as a person would: `v`
lists the host's environments; `n` and the form create one (streamed, the table after it);
its packages, an install, an export, `%pip` in a console of it, a remove; Escape during a
create leaves nothing on the host; an environment rtui did not make needs a second yes.

One create that runs to the end for the module (ipykernel's dependencies are many), with uv
on the host (the test run's own, linked as ``~/.local/bin/uv``) on a server of the module's
own: the link and the environments never meet other tests' hosts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Label, Log, Select, TabbedContent

from rtui.core.config.store import HostStore
from rtui.core.envs import EnvSpec
from rtui.core.kernels.records import Environment
from rtui.tui.app import RtuiApp
from rtui.tui.screens.env_form import EnvFormScreen, python_choices, tool_choices
from rtui.tui.screens.prompts import ConfirmScreen, TextPromptScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from rtui.tui.widgets.environments import EnvironmentsPane
from tests.harness.sshd import SSHD, start_sshd
from tests.ssh_helpers import host_for, kernel_env, trust
from tests.tui_helpers import output, store_with, until

PY = sys.executable
SIZE = (80, 24)  # every flow here at the size a small terminal has
CREATE = 240.0  # s a create with ipykernel may take on a loaded machine


@pytest.fixture(scope="module")
def uv_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """A server of this module's own whose host has uv."""
    import uv

    server = start_sshd(tmp_path_factory.mktemp("envs_sshd"))
    try:
        bin_dir = server.remote_home / ".local" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "uv").symlink_to(uv.find_uv_bin())
        yield server
    finally:
        server.close()


def envs_dir(server: SSHD) -> Path:
    """Where the agent makes environments on the host (``paths.envs_dir()``)."""
    return server.remote_home / ".local" / "share" / "rtui" / "envs"


def app_for(server: SSHD, tmp_path: Path, home: Path) -> tuple[RtuiApp, HostStore]:
    trust(server, home)
    store = store_with(tmp_path, host_for(server, "lab", python=PY))
    return RtuiApp(store, check_on_start=False), store


async def envs_tab(app: RtuiApp) -> EnvironmentsPane:
    """``v`` on the host list: the tab in view, its first listing in."""
    await until(lambda: bool(app.query(EnvironmentsPane)), 60)
    pane = app.query_one(EnvironmentsPane)
    await until(lambda: bool(pane.listed), 60)
    return pane


def names(pane: EnvironmentsPane) -> list[str]:
    table = pane.query_one("#envs-table", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def packages_shown(pane: EnvironmentsPane) -> dict[str, str]:
    table = pane.query_one("#packages-table", DataTable)
    return {str(table.get_row_at(i)[0]).lower(): str(table.get_row_at(i)[1])
            for i in range(table.row_count)}


def progress_lines(pane: EnvironmentsPane) -> list[str]:
    return list(pane.query_one("#progress-lines", Log).lines)


async def cursor_to(pilot: object, pane: EnvironmentsPane, name: str) -> None:
    """The table's cursor down to ``name``, by keys."""
    await pilot.press("home")  # type: ignore[attr-defined]
    for _ in range(len(pane.listed)):
        current = pane.current
        if current is not None and current.name == name:
            return
        await pilot.press("down")  # type: ignore[attr-defined]
    raise AssertionError(f"{name} not in {names(pane)}")


async def test_create_change_export_pip_and_remove(
    uv_sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    app, store = app_for(uv_sshd, tmp_path, isolated_home)
    started = last = time.monotonic()

    def step(what: str) -> None:  # what each step cost, shown with -s
        nonlocal last
        now = time.monotonic()
        print(f"{what}: {now - last:.1f} s")
        last = now

    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        pane = await envs_tab(app)
        step("v: listed")
        assert app.query_one(TabbedContent).active.startswith("envs-")
        assert PY in [env.python for env in pane.listed]  # the configured one, listed
        assert pane.uv, "the host's uv is known"
        title = str(pane.query_one("#envs-title").render())
        assert "uv" in title and "no uv" not in title, title

        # n: the form; the name typed, tab to the packages, ctrl+o creates.
        await pilot.press("n")
        await until(lambda: isinstance(app.screen, EnvFormScreen))
        await pilot.press(*"tuienv")
        form = app.screen
        form.query_one("#env-packages", Input).focus()
        await pilot.press(*"six", "ctrl+o")
        await until(lambda: not isinstance(app.screen, EnvFormScreen))
        await until(lambda: pane.busy and bool(progress_lines(pane)), 60)  # streamed
        await until(lambda: not pane.busy, CREATE)
        await until(lambda: "tuienv" in names(pane), 30)  # listed again after it
        created = next(env for env in pane.listed if env.name == "tuienv")
        assert created.managed and created.ipykernel and created.tool == "uv"
        assert (envs_dir(uv_sshd) / "tuienv" / ".rtui-env.json").is_file()
        step("n: created")

        # Enter: its packages in the panel.
        await cursor_to(pilot, pane, "tuienv")
        await pilot.press("enter")
        await until(lambda: "six" in packages_shown(pane) and "ipykernel" in packages_shown(pane))
        step("enter: packages")

        # i: one more package, named in the prompt; the panel shows it after.
        await pilot.press("i")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"iniconfig", "enter")
        await until(lambda: "iniconfig" in packages_shown(pane) and not pane.busy, CREATE)
        step("i: installed")

        # x: exported to a local file.
        target = tmp_path / "exported.txt"
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, TextPromptScreen | ConfirmScreen)
                    or app.screen.__class__.__name__ == "ChoiceScreen")
        if app.screen.__class__.__name__ == "ChoiceScreen":  # uv made it: the format asked
            await pilot.press("enter")  # requirements.txt
            await until(lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one(Input).value = str(target)  # over the name offered
        await pilot.press("enter")
        await until(lambda: target.exists())
        exported = target.read_text()
        assert "six==" in exported and "iniconfig==" in exported, exported
        step("x: exported")

        # c: a console in it; %pip there lists the tab again (the new package shown).
        await pilot.press("c")
        await until(lambda: bool(app.query(ConsolePane)), 60)
        console = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput) and console.kernel is not None,
                    60)
        assert console.kernel is not None and console.kernel.python == created.python
        assert "pluggy" not in packages_shown(pane)
        await pilot.press(*"%pip install pluggy", "enter")
        await until(lambda: "pluggy" in packages_shown(pane), CREATE)  # nobody pressed r
        await until(lambda: console.state == "idle")
        assert "pluggy" in output(console).lower()
        step("%pip in a console")
        await console.shutdown_kernel()
        tab = console.parent
        assert tab is not None and tab.id
        await app.query_one(TabbedContent).remove_pane(tab.id)
        env_tab = pane.parent
        assert env_tab is not None and env_tab.id
        app.query_one(TabbedContent).active = env_tab.id
        await until(lambda: app.focused is pane.table)

        # D: the environment's Python becomes the host's in hosts.toml.
        await cursor_to(pilot, pane, "tuienv")
        await pilot.press("D")
        await until(lambda: (lab := store.load().get("lab")) is not None
                    and lab.python == created.python)

        # d: removed after a yes (rtui made it: one question).
        await cursor_to(pilot, pane, "tuienv")
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "tuienv" not in names(pane) and not pane.busy, 60)
        assert not (envs_dir(uv_sshd) / "tuienv").exists()
        step("d: removed")
    print(f"the whole flow: {time.monotonic() - started:.1f} s")


async def test_escape_during_a_create_leaves_nothing(
    uv_sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    app, _ = app_for(uv_sshd, tmp_path, isolated_home)
    half = envs_dir(uv_sshd) / "halfmade"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        pane = await envs_tab(app)
        await pilot.press("n")
        await until(lambda: isinstance(app.screen, EnvFormScreen))
        await pilot.press(*"halfmade", "ctrl+o")
        # Under way on the host (its directory there, a line streamed), then Escape.
        await until(lambda: pane.busy and half.exists() and bool(progress_lines(pane)), 60)
        await pilot.press("escape")
        await until(lambda: not pane.busy, 30)
        # Said in the panel (the end's message comes a moment after the worker's state).
        await until(lambda: "cancelled" in str(pane.query_one("#progress-title").render()))
        await until(lambda: not half.exists(), 30)  # the agent removed what it began
        await until(lambda: "halfmade" not in names(pane), 30)


async def test_an_environment_rtui_did_not_make_needs_a_second_yes(
    uv_sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """d on a venv rtui did not make: yes, then no keeps it; yes twice removes it."""
    kernel_env(uv_sshd.remote_home / ".venvs" / "theirs")
    prefix = uv_sshd.remote_home / ".venvs" / "theirs"
    app, _ = app_for(uv_sshd, tmp_path, isolated_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        pane = await envs_tab(app)
        await until(lambda: "theirs" in names(pane))
        theirs = next(env for env in pane.listed if env.name == "theirs")
        assert not theirs.managed
        await cursor_to(pilot, pane, "theirs")
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: isinstance(app.screen, ConfirmScreen)
                    and "did not make" in app.screen.question)
        await pilot.press("n")
        await until(lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert prefix.exists() and not pane.busy
        await pilot.press("delete", "y")
        await until(lambda: isinstance(app.screen, ConfirmScreen)
                    and "did not make" in app.screen.question)
        await pilot.press("y")
        await until(lambda: not prefix.exists(), 30)
        await until(lambda: "theirs" not in names(pane), 30)


class _FormApp(App[None]):
    """The form alone, over an empty screen; what it was dismissed with kept."""

    def __init__(self, uv: str | None, envs: list[Environment]) -> None:
        super().__init__()
        self.uv, self.envs = uv, envs
        self.result: object = "open"

    def on_mount(self) -> None:
        def done(result: object) -> None:
            self.result = result

        self.push_screen(EnvFormScreen("lab", self.envs, self.uv, taken={"old"}), done)


async def test_the_form_checks_the_name_reads_the_file_and_offers_uvs_upload(
    tmp_path: Path,
) -> None:
    """A bad or taken name keeps the form open, saying why; a requirements file is read
    here; on a host without uv, uv is offered as an upload; the Python is one of the host's."""
    envs = [Environment(python="/opt/py311/bin/python3", kind="system", name="python3",
                        version="3.11.2", ipykernel=None, spyder_kernels=None),
            Environment(python="/gone/bin/python", kind="venv", name="gone", version=None,
                        ipykernel=None, spyder_kernels=None, error="python gone")]
    requirements = tmp_path / "req.txt"
    requirements.write_text("six\n")
    app = _FormApp(None, envs)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(app.screen, EnvFormScreen))
        form = app.screen
        error = form.query_one("#env-error", Label)
        await pilot.press(*"-bad", "ctrl+o")
        assert "Name" in str(error.render()) and app.result == "open"
        form.query_one("#env-name", Input).value = "old"
        await pilot.press("ctrl+o")
        assert "has an environment named old" in str(error.render())
        form.query_one("#env-name", Input).value = "new"
        pythons = form.query_one("#env-python", Select)
        assert [value for _, value in python_choices(envs)] == ["/opt/py311/bin/python3"]
        pythons.value = "/opt/py311/bin/python3"
        tool = form.query_one("#env-tool", Select)
        assert tool.value == "venv"  # no uv on the host: venv first, uv as an upload
        tool.value = "uv-upload"
        form.query_one("#env-requirements", Input).value = str(tmp_path / "missing.txt")
        await pilot.press("ctrl+o")
        assert "cannot read" in str(error.render()) and app.result == "open"
        form.query_one("#env-requirements", Input).value = str(requirements)
        form.query_one("#env-packages", Input).value = "numpy, xarray==2024.1"
        await pilot.press("ctrl+o")
        await until(lambda: app.result != "open")
    assert app.result == EnvSpec(name="new", python="/opt/py311/bin/python3", tool="uv",
                                 packages=("numpy", "xarray==2024.1"), requirements="six\n",
                                 upload_uv=True)
    assert [value for _, value in tool_choices("/usr/bin/uv")] == ["uv", "venv"]
