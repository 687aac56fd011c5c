"""The hosts screen, driven with Textual's pilot as a person would, against the real sshd."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.widgets import DataTable, Input, Label, Select, Static

from rtui.core.config.model import Host
from rtui.core.config.store import HostStore
from rtui.core.kernels.reloading import Reloading
from rtui.tui.app import RtuiApp
from rtui.tui.screens.help import HelpScreen
from rtui.tui.screens.prompts import HostKeyScreen, MessageScreen, TextPromptScreen
from tests.harness.accounts import Account
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import rows, status_of, store_with, until


async def test_list_filter_and_help(tmp_path: Path) -> None:
    store = store_with(tmp_path, Host("lab", hostname="lab.example.org", tags=("gpu",)),
                       Host("web", hostname="web.example.org"))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert [r[0] for r in rows(app)] == ["lab", "web"]
        screen = app.export_screenshot()
        assert "lab.example.org" in screen and "web.example.org" in screen  # really painted
        await pilot.press("slash", "g", "p", "u")
        assert [r[0] for r in rows(app)] == ["lab"]
        await pilot.press("enter")  # back to the table
        assert isinstance(app.focused, DataTable)
        await pilot.press("slash", "w")
        assert [r[0] for r in rows(app)] == ["web"]
        await pilot.press("escape")  # the filter cleared, back to the table
        assert [r[0] for r in rows(app)] == ["lab", "web"]
        assert isinstance(app.focused, DataTable)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        help_rows = app.screen.query_one(DataTable).row_count
        assert help_rows > 10
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_add_with_inline_validation_then_edit_and_delete(tmp_path: Path) -> None:
    store = store_with(tmp_path, Host("bastion", hostname="gw.example.org"))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 36)) as pilot:
        await pilot.press("a")
        await pilot.press(*"lab", "enter", *"lab.example.org", "enter", *"99999")
        error = app.screen.query_one("#e-port", Label)
        assert "must be 1-65535, got 99999" in str(error.render())  # the CLI's words
        await pilot.press("ctrl+o")  # refused: the form stays open
        assert app.screen.query_one("#f-port", Input)
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press(*"2222", "enter", *"alice", "enter", "enter", *"bastion")
        await pilot.press("ctrl+o")
        await until(lambda: "lab" in [r[0] for r in rows(app)])
        saved = tomllib.loads((tmp_path / "hosts.toml").read_text())["hosts"]
        assert saved[1] == {"name": "lab", "hostname": "lab.example.org", "port": 2222,
                            "user": "alice", "jump": ["bastion"]}

        # Deleting the jump host is refused with the reason; deleting lab works.
        app.query_one("#hosts", DataTable).move_cursor(row=0)
        await pilot.press("d", "y")
        await pilot.pause()
        await until(lambda: any("jump host of lab" in str(n.message)
                                for n in app._notifications))
        app.query_one("#hosts", DataTable).move_cursor(row=1)
        await pilot.press("e")
        note = app.screen.query_one("#f-note", Input)
        note.value = "A100s"
        # Module reloading: a mode picked, modules left alone (checked as typed).
        assert app.screen.query_one("#f-autoreload", Select).is_blank()  # the default, 2
        app.screen.query_one("#f-autoreload", Select).value = "off"
        app.screen.query_one("#f-autoreload_exclude", Input).value = "torch, my-pkg"
        await pilot.pause()
        error = app.screen.query_one("#e-autoreload_exclude", Label)
        assert "'my-pkg' is not a module name without dots" in str(error.render())
        app.screen.query_one("#f-autoreload_exclude", Input).value = "torch, numpy"
        await pilot.press("ctrl+o")
        await until(lambda: store.load().require("lab").note == "A100s")
        saved_lab = store.load().require("lab")
        assert (saved_lab.autoreload, saved_lab.autoreload_exclude) == ("off", ("torch", "numpy"))
        await pilot.press("e")  # shown as saved, so a save of another field keeps it
        assert app.screen.query_one("#f-autoreload", Select).value == "off"
        assert app.screen.query_one("#f-autoreload_exclude", Input).value == "torch, numpy"
        await pilot.press("escape")
        app.query_one("#hosts", DataTable).move_cursor(row=1)
        await pilot.press("d", "y")
        await until(lambda: [r[0] for r in rows(app)] == ["bastion"])
        assert store.load().get("lab") is None


async def test_editing_a_host_keeps_or_renews_its_kernel_service(tmp_path: Path) -> None:
    """A new python keeps the host's connection and kernel service (which then prefers it);
    a new port means another connection, and a service on it, not one on the closed one."""
    lab = Host("lab", hostname="127.0.0.1", port=2201, user="ada")
    app = RtuiApp(store_with(tmp_path, lab), check_on_start=False)
    async with app.run_test(size=(100, 30)):
        first = await app.workspace.kernels("lab")
        connection = first.connection
        assert first.reloading == Reloading("2")
        await app.save_host("lab", Host("lab", hostname="127.0.0.1", port=2201, user="ada",
                                        python="~/envs/ml", tags=("gpu",), autoreload="off"))
        assert await app.workspace.kernels("lab") is first and first.connection is connection
        assert first.python == "~/envs/ml"
        assert first.reloading == Reloading("off")  # for the kernels it starts next
        await app.save_host("lab", Host("lab", hostname="127.0.0.1", port=2202, user="ada"))
        renewed = await app.workspace.kernels("lab")
        assert renewed is not first
        assert renewed.connection is app.workspace.connection("lab") is not connection


async def test_import_from_ssh_config(tmp_path: Path, isolated_home: Path) -> None:
    ssh = isolated_home / ".ssh"
    ssh.mkdir()
    (ssh / "config").write_text("Host one\n  HostName 10.0.0.1\nHost two\n  User bob\n")
    app = RtuiApp(store_with(tmp_path), check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await until(lambda: [r[0] for r in rows(app)] == ["one", "two"])


async def test_broken_config_is_a_message_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text("[[hosts]]\nname = \n")
    app = RtuiApp(HostStore(path), check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        problem = app.query_one("#problem", Static)
        assert "line 2" in str(problem.render())
        await pilot.press("ctrl+q")
    assert path.read_text() == "[[hosts]]\nname = \n"


async def test_checks_on_start_never_prompt_then_accept_key_on_demand(
    sshd: SSHD, tmp_path: Path
) -> None:
    store = store_with(tmp_path, host_for(sshd, "lab"),
                       Host("down", hostname="127.0.0.1", port=1))
    app = RtuiApp(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(lambda: status_of(app, "lab") == "host key unknown")
        await until(lambda: status_of(app, "down") == "unreachable")
        assert not isinstance(app.screen, HostKeyScreen)  # no dialog storm at start
        app.query_one("#hosts", DataTable).move_cursor(row=0)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, HostKeyScreen))
        assert "SHA256:" in str(app.screen.query(Static)[1].render())
        await pilot.press("y")
        await until(lambda: status_of(app, "lab") == "ok")
        row = next(r for r in rows(app) if r[0] == "lab")
        assert row[2].endswith("ms")  # latency
        assert row[4] == "0" or row[4].isdigit()  # kernels running
        details = str(app.query_one("#details-text", Static).render())
        assert "Linux" in details


async def test_password_prompt_and_changed_key(
    password_sshd: SSHD, password_account: Account, fresh_sshd: SSHD, tmp_path: Path,
    isolated_home: Path,
) -> None:
    trust(password_sshd, isolated_home)
    trust(fresh_sshd, isolated_home)
    fresh_sshd.restart(new_host_key=True)
    store = store_with(
        tmp_path,
        Host("pw", hostname="127.0.0.1", port=password_sshd.port, user=password_account.name),
        host_for(fresh_sshd, "moved"),
    )
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        field = app.screen.query_one(Input)
        assert field.password  # masked
        await pilot.press(*password_account.password, "enter")
        await until(lambda: status_of(app, "pw") == "ok")

        app.query_one("#hosts", DataTable).move_cursor(row=1)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, MessageScreen))
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "HOST KEY CHANGED" in text and "known_hosts line" in text
        await pilot.press("enter")
        assert status_of(app, "moved") == "HOST KEY CHANGED"


async def test_the_start_up_check_asks_nobody_and_c_asks_the_person(
    password_sshd: SSHD, password_account: Account, tmp_path: Path, isolated_home: Path,
) -> None:
    """The start-up check's login names no prompter (no dialog storm): the password host
    fails there; c makes an attempt of its own, which asks the person."""
    trust(password_sshd, isolated_home)
    store = store_with(tmp_path, Host("pw", hostname="127.0.0.1", port=password_sshd.port,
                                      user=password_account.name))
    app = RtuiApp(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: status_of(app, "pw") == "auth failed")
        assert not isinstance(app.screen, TextPromptScreen)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*password_account.password, "enter")
        await until(lambda: status_of(app, "pw") == "ok")


async def test_command_palette_reaches_host_actions(tmp_path: Path) -> None:
    from rtui.tui.screens.host_form import HostFormScreen

    app = RtuiApp(store_with(tmp_path, Host("lab", hostname="lab.example.org")),
                  check_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"edit lab")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, HostFormScreen))
        assert app.screen.query_one("#f-name", Input).value == "lab"


def test_readme_key_table_is_generated_from_the_bindings() -> None:
    from rtui.tui.keys import key_rows, markdown_table

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("<!-- keys:start -->") + len("<!-- keys:start -->")
    end = readme.index("<!-- keys:end -->")
    assert readme[start:end].strip() == markdown_table().strip(), (
        "README key table is stale: paste the output of `python -m rtui.tui.keys`")
    ids = [row.id for row in key_rows()]
    for expected in ("app.quit", "hosts.console", "console.interrupt", "code.run"):
        assert expected in ids
