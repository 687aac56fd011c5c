"""More TUI flows with the pilot: attach to a running kernel, several consoles as tabs, the
environment picker, getpass masked, 2FA prompts, 16-colour mode."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Label, OptionList, TabbedContent

from rtui.core.config.model import Host
from rtui.core.kernels.service import HostKernels
from rtui.tui.app import RtuiApp
from rtui.tui.screens.prompts import ChoiceScreen, KbdIntScreen
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.kbdint import KbdIntServer
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, remote_kernel_env, trust
from tests.tui_helpers import output, status_of, store_with, until

PY = sys.executable








async def test_attach_with_k_and_two_consoles_as_tabs(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    host = host_for(sshd, "lab", python=PY)
    # A kernel already running on the host, with state in it.
    conn, _ = connection(host)
    service = HostKernels(conn, python=PY)
    running = await service.start(python=PY)
    [_ async for _ in running.session.execute("answer = 42")]
    await service.detach(running)
    app = RtuiApp(store_with(tmp_path, host), check_on_start=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("k")
            await until(lambda: _choice_shown(app))
            options = app.screen.query_one(OptionList)
            ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
            index = ids.index(running.connection_file)
            await pilot.press(*["down"] * index, "enter")
            await until(lambda: len(app.query(ConsolePane)) == 1)
            first = app.query_one(ConsolePane)
            await until(lambda: isinstance(app.focused, CodeInput))
            await pilot.press(*"answer", "enter")
            try:
                await until(lambda: "Out[" in output(first) and "42" in output(first), 8)
            except AssertionError:
                raise AssertionError(output(first)) from None

            await pilot.press("f3", "enter")  # back to hosts, a second console
            await until(lambda: len(app.query(ConsolePane)) == 2)
            tabs = app.query_one(TabbedContent)
            assert tabs.tab_count == 3
            await until(lambda: tabs.active == "console-2")
            second_tab = tabs.active
            await pilot.press("f6")
            await until(lambda: tabs.active != second_tab)
            await pilot.press("f6")
            await pilot.pause()
            await pilot.press("f6")
            await until(lambda: tabs.active == second_tab)
            second = next(p for p in app.query(ConsolePane) if p is not first)
            await until(lambda: isinstance(app.focused, CodeInput))
            await pilot.press(*"'answer' in dir()", "enter")
            await until(lambda: "False" in output(second))  # its own, fresh kernel

            # Closing the attached console leaves its kernel running.
            await pilot.press("f3")
            tabs.active = first.parent.id  # type: ignore[union-attr]
            await pilot.pause()
            first.query_one(CodeInput).focus()
            await pilot.press("f4")
            await until(lambda: _choice_shown(app))
            await pilot.press("enter")  # leave it running
            await until(lambda: len(app.query(ConsolePane)) == 1)
            alive = {r.id for r in await service.list() if r.alive}
            assert running.id in alive
    finally:
        await service.shutdown_by_id(running.id)
        await service.close()
        await conn.close()


@pytest.fixture
def second_venv(sshd: SSHD) -> Iterator[Path]:
    """A second environment that can run kernels on the shared sshd's host, removed
    afterwards so other tests see one environment."""
    with remote_kernel_env(sshd, ".venvs", "sci") as python:
        yield python.parent.parent


def _choice_shown(app: RtuiApp) -> bool:
    """A choice dialog is up with its options mounted (the screen is current a moment
    before its children are: querying then found no OptionList under load)."""
    return isinstance(app.screen, ChoiceScreen) and bool(app.screen.query(OptionList))


def _prefix_in(pane: ConsolePane) -> str:
    return output(pane).rsplit("PREFIX=", 1)[-1].split()[0]


async def test_environment_picker_and_masked_getpass(
    sshd: SSHD, second_venv: Path, tmp_path: Path, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    venv = second_venv
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=PY)),
                  check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: _choice_shown(app))
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        chosen = next(i for i, label in enumerate(labels) if "sci" in label)
        await pilot.press(*["down"] * chosen, "enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        await pilot.press(*"import sys; print(sys.prefix)", "enter")
        await until(lambda: str(venv) in output(pane))
        await pilot.press(*"import getpass; s = getpass.getpass('secret: ')", "enter")
        # Asked in the console's own masked field (no dialog since the debugger work).
        await until(lambda: bool(pane.query("#secret")))
        secret = pane.query_one("#secret", Input)
        await until(lambda: app.focused is secret)
        assert secret.password
        await pilot.press(*"hunter2", "enter")
        await pilot.press(*"print(len(s))", "enter")
        await until(lambda: "\n7" in output(pane))
        assert "hunter2" not in output(pane)
        await pane.shutdown_kernel()


async def test_enter_goes_straight_to_a_known_python_and_p_picks(
    sshd: SSHD, second_venv: Path, tmp_path: Path, isolated_home: Path
) -> None:
    """Two envs can run kernels. Enter skips the picker when the check found ipykernel in the
    host's configured Python; p always asks; the env picked there is what Enter uses next."""
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python=PY)))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: status_of(app, "lab") == "ok")
        panes: list[ConsolePane] = []

        async def console_opened(asked: bool) -> ConsolePane:
            if asked:
                await until(lambda: _choice_shown(app))
                options = app.screen.query_one(OptionList)
                labels = [str(options.get_option_at_index(i).prompt)
                          for i in range(options.option_count)]
                assert len(labels) >= 2
                chosen = next(i for i, label in enumerate(labels) if "sci" in label)
                await pilot.press(*["down"] * chosen, "enter")
            await until(lambda: len(app.query(ConsolePane)) == len(panes) + 1)
            assert not isinstance(app.screen, ChoiceScreen)
            pane = app.query(ConsolePane).last()
            panes.append(pane)
            await until(lambda: isinstance(app.focused, CodeInput))
            await pilot.press(*"import sys; print('PREFIX=' + sys.prefix)", "enter")
            await until(lambda: "PREFIX=/" in output(pane))
            await pilot.press("f3")
            await until(lambda: not isinstance(app.focused, CodeInput))
            return pane

        await pilot.press("enter")
        first = await console_opened(asked=False)  # Enter: the configured Python, no dialog
        assert _prefix_in(first) == sys.prefix
        await pilot.press("p")  # p: the picker, whatever is known
        second = await console_opened(asked=True)
        assert _prefix_in(second) == str(second_venv)
        await pilot.press("enter")  # Enter again: the env picked with p, without asking
        third = await console_opened(asked=False)
        assert _prefix_in(third) == str(second_venv)
        for pane in panes:
            await pane.shutdown_kernel()


async def test_r_in_the_picker_saves_the_env_as_the_hosts_python(
    sshd: SSHD, second_venv: Path, tmp_path: Path, isolated_home: Path
) -> None:
    """p, then r on an environment: the console runs there, and hosts.toml now names it as
    the host's python (written through the store: the rest of the host is kept)."""
    trust(sshd, isolated_home)
    store = store_with(tmp_path, Host("lab", hostname="127.0.0.1", port=sshd.port,
                                      user=sshd.user, identity_files=(str(sshd.client_key),),
                                      tags=("gpu",), note="kept"))
    app = RtuiApp(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: status_of(app, "lab") == "ok")
        await pilot.press("p")
        await until(lambda: _choice_shown(app))
        assert "r to choose and save it" in str(app.screen.query_one(".hint", Label).content)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        await pilot.press(*["down"] * next(i for i, t in enumerate(labels) if "sci" in t), "r")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        await pilot.press(*"import sys; print('PREFIX=' + sys.prefix)", "enter")
        await until(lambda: "PREFIX=/" in output(pane))
        assert _prefix_in(pane) == str(second_venv)
        await until(lambda: (store.load().get("lab") or Host("x")).python != "auto")
        saved = store.load().get("lab")
        assert saved is not None and saved.python.startswith(str(second_venv))
        assert saved.tags == ("gpu",) and saved.note == "kept"
        await pane.shutdown_kernel()


async def test_enter_goes_straight_to_a_python_configured_as_its_environment(
    sshd: SSHD, lab_env: Path, tmp_path: Path, isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``python = "~/envs/lab"``: the check finds the interpreter in it, and Enter opens a
    console there without asking and without listing the host's environments first."""
    listed: list[str] = []
    environments = HostKernels.environments

    async def spy(self: HostKernels, *args: object, **kwargs: object) -> object:
        listed.append(self.name)
        return await environments(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(HostKernels, "environments", spy)
    interpreter = lab_env
    trust(sshd, isolated_home)
    app = RtuiApp(store_with(tmp_path, host_for(sshd, "lab", python="~/envs/lab")))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: status_of(app, "lab") == "ok")
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        assert not isinstance(app.screen, ChoiceScreen)
        pane = app.query_one(ConsolePane)
        await until(lambda: isinstance(app.focused, CodeInput))
        await pilot.press(*"import sys; print('EXE=' + sys.executable)", "enter")
        await until(lambda: f"EXE={interpreter}" in output(pane))
        assert listed == []  # known from the check: no environment probe before the kernel
        await pane.shutdown_kernel()


async def test_two_factor_prompts_as_dialogs(
    kbdint_server: KbdIntServer, tmp_path: Path, isolated_home: Path
) -> None:
    (isolated_home / ".ssh").mkdir(exist_ok=True)
    (isolated_home / ".ssh" / "known_hosts").write_text(kbdint_server.known_hosts.read_text())
    host = Host("otp", hostname="127.0.0.1", port=kbdint_server.port,
                user=kbdint_server.username)
    app = RtuiApp(store_with(tmp_path, host), check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, KbdIntScreen))
        assert app.screen.query_one(Input).password  # "Password: " asks for no echo
        await pilot.press("p", "w", "enter")
        await until(lambda: isinstance(app.screen, KbdIntScreen)
                    and not app.screen.query_one(Input).password)  # the code may echo
        await pilot.press(*"123456", "enter")
        await until(lambda: status_of(app, "otp") != "checking…")
        assert kbdint_server.logins >= 1


async def test_ansi_mode_uses_the_terminal_palette(tmp_path: Path) -> None:
    app = RtuiApp(store_with(tmp_path, Host("lab")), check_on_start=False, ansi=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.ansi_color
        await pilot.press("f1")
        await pilot.press("escape")
