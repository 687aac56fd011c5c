"""What a newcomer sees at 80x24: the primary action in the footer, whole action names in help,
and every dialog (the host form, prompts, progress, help) showing the keys that answer it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from rtui.core.config.model import Host
from rtui.core.ssh.prompts import HostKeyPrompt, KbdIntPrompt
from rtui.tui.actions import ACTIONS, PRIMARY
from rtui.tui.app import RtuiApp
from rtui.tui.keys import key_rows
from rtui.tui.screens.help import KEY_WIDTH, HelpScreen, wrap_keys
from rtui.tui.screens.host_form import HostFormScreen
from rtui.tui.screens.progress import ProgressScreen
from rtui.tui.screens.prompts import (
    ChoiceScreen,
    ConfirmScreen,
    HostKeyScreen,
    KbdIntScreen,
    MessageScreen,
    TextPromptScreen,
)
from rtui.tui.widgets.footer import KeyFooter
from tests.tui_helpers import screen_lines, store_with, until

SIZE = (80, 24)


def _app(tmp_path: Path) -> RtuiApp:
    store = store_with(tmp_path, Host("lab", hostname="lab.example.org"),
                       Host("web", hostname="web.example.org"))
    return RtuiApp(store, check_on_start=False)


async def test_the_footer_shows_console_first_then_help_and_quit(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        footer = app.query_one(KeyFooter)
        await until(lambda: bool(list(footer.query(FooterKey))))
        await pilot.pause()
        keys = [(key.key, key.description) for key in footer.query(FooterKey)]
        assert keys[0] == ("enter", "Console") == (PRIMARY.keys, PRIMARY.title)
        bottom = screen_lines(app)[-1]
        assert bottom.lstrip().startswith("⏎ Console"), bottom
        for shown in ("f1 Help", "^q Quit", "a Add", "p Console in env…"):
            assert shown in bottom, f"{shown!r} not in the footer at 80 columns: {bottom!r}"
        assert "f3 Hosts" not in bottom  # the hosts are in view: no key to go to them


async def test_every_table_action_is_a_key_of_the_host_list(tmp_path: Path) -> None:
    """The bindings come from the action table: each action's key does what its row says."""
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        active = {b.binding.id: b.binding for b in app.screen.active_bindings.values()}
        for action in ACTIONS:
            binding = active[action.binding_id]
            assert (binding.key, binding.description) == (action.keys, action.title)
        await pilot.press("a")  # a list action: the form, empty
        await until(lambda: isinstance(app.screen, HostFormScreen))
        assert isinstance(app.screen, HostFormScreen) and app.screen.original is None
        await pilot.press("escape")
        await pilot.press("down", "e")  # a host action, on the selected host
        await until(lambda: isinstance(app.screen, HostFormScreen))
        assert isinstance(app.screen, HostFormScreen) and app.screen.original is not None
        assert app.screen.original.name == "web"


async def test_help_shows_every_action_whole_at_80_columns(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await until(lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one(DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no side scroll
        rows = key_rows()
        assert table.row_count == len(rows)
        for index, row in enumerate(rows):
            table.move_cursor(row=index)  # scrolled into view, as a person pages down
            await pilot.pause()
            lines = screen_lines(app)
            first, *more = wrap_keys(row.keys)
            at = next((n for n, line in enumerate(lines)
                       if f" {first} " in f"{line} " and f" {row.description} " in f"{line} "),
                      None)
            assert at is not None, f"help row cut: {row.section} | {row.keys} | {row.description}"
            for offset, rest in enumerate(more, 1):  # a long key list goes on the next line
                assert rest in lines[at + offset]
        assert "escape / f1 / q close help" in "\n".join(screen_lines(app))


async def test_the_host_form_fits_and_shows_its_keys(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, HostFormScreen))
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "ctrl+o save" in text and "escape cancel" in text and "enter next field" in text
        for label in ("Name", "Hostname", "Port", "User", "Identity files", "Jump hosts",
                      "Python", "Tags", "Note", "Not reloaded", "Host key policy",
                      "Module reload"):
            assert f" {label} " in text, f"{label} is not in view at 80x24"
        assert "Tags" in text and "Add a host" in text
        form = app.screen.query_one("#form")
        assert form.region.height < SIZE[1]  # the form no longer fills the screen


def _dialogs() -> list[tuple[Screen[Any], list[str]]]:
    """Each dialog, and what it must show besides its bindings' keys."""
    return [
        (TextPromptScreen("Password", "Password for ada@lab:", password=True), ["enter"]),
        (KbdIntScreen(KbdIntPrompt("ada@lab", "", "", (("Code:", False),))), ["enter"]),
        (HostKeyScreen(HostKeyPrompt("[lab]:2222", "ssh-ed25519", "SHA256:abc")), []),
        (ConfirmScreen("Delete host", "Delete host 'lab'?"), []),
        (MessageScreen("Host key changed", "The key of lab changed."), []),
        (ChoiceScreen("Python environment on lab", [("/usr/bin/python3", "system 3.11")],
                      remember="as lab's python in hosts.toml"), ["enter"]),
        (ProgressScreen("Setting up a kernel environment on lab"), ["no key needed"]),
        (HelpScreen(), ["ctrl+p"]),
        (HostFormScreen(_never_saved), ["enter"]),
    ]


async def _never_saved(old_name: str | None, host: Host) -> None:
    raise AssertionError("nothing is saved here")


async def test_every_dialog_shows_its_keys(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        for dialog, more in _dialogs():
            await app.push_screen(dialog)
            await pilot.pause()
            box = dialog.children[0].region  # the dialog's box, not the screen behind it
            assert box.bottom <= SIZE[1] and box.right <= SIZE[0]
            text = "\n".join(line[box.x:box.right]
                             for line in screen_lines(app)[box.y:box.bottom]).lower()
            keys = [key.strip() for binding in dialog.BINDINGS if isinstance(binding, Binding)
                    and binding.show and dialog.check_action(binding.action, ()) is not False
                    for key in binding.key.split(",")]
            for key in [*keys, *more]:
                shown = re.search(rf"(?<![\w+]){re.escape(key)}(?![\w+])", text)
                assert shown, f"{type(dialog).__name__} does not show {key!r}:\n{text}"
            if isinstance(dialog, HostKeyScreen):  # "[host]:port" is text, not markup
                assert "[lab]:2222 can't be established" in text
            app.pop_screen()
            await pilot.pause()


def test_help_wraps_long_key_lists_within_the_key_column() -> None:
    for row in key_rows():
        lines = wrap_keys(row.keys)
        assert all(len(line) <= KEY_WIDTH for line in lines), lines
        assert " ".join(lines) == row.keys  # every key, in order, nothing lost
    assert wrap_keys("ctrl+j / alt+enter / ctrl+enter / shift+enter") == [
        "ctrl+j / alt+enter /", "ctrl+enter / shift+enter"]


async def test_dialogs_show_what_servers_kernels_and_hosts_wrote_as_text(tmp_path: Path) -> None:
    """Brackets in a prompt, an option or a question are text, not Rich markup: "[sudo]
    password", an env under "[x]" or a kernel's cwd came out without them."""
    app = _app(tmp_path)
    dialogs = [
        TextPromptScreen("[t] Input", "[sudo] password for ada:", password=True),
        KbdIntScreen(KbdIntPrompt("lab", "[2FA]", "[b]bold?[/b]", (("[code]:", False),))),
        ConfirmScreen("Delete [x]", "Delete host '[lab]'?"),
        ChoiceScreen("Kernels [1]", [("a", "[red]env[/red] /srv/[data]")]),
        MessageScreen("[oops]", "[x] failed"),
    ]
    expected = [("[t] Input", "[sudo] password for ada:"),
                ("[2FA]", "[b]bold?[/b]", "[code]:"),
                ("Delete [x]", "Delete host '[lab]'?"),
                ("Kernels [1]", "[red]env[/red] /srv/[data]"),
                ("[oops]", "[x] failed")]
    async with app.run_test(size=SIZE) as pilot:
        for dialog, texts in zip(dialogs, expected, strict=True):
            app.push_screen(dialog)
            await pilot.pause()
            shown = "\n".join(screen_lines(app))
            for text in texts:
                assert text in shown, f"{text!r} not shown by {type(dialog).__name__}:\n{shown}"
            dialog.dismiss(None)
            await pilot.pause()
