"""Debugging through the console, against the real sshd and a real kernel, pressing the keys
a person would: breakpoint() stepped with n, p, c in the console's own editor (the prompt as
its title and in the status line, each line echoed), pdb's own history and local completion,
%debug after an exception, a password typed masked, and %pip's output as it comes.

One kernel for all of it (the suite is at its time limit)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import zipfile
from pathlib import Path

from textual import events
from textual.widgets import Input, Static

from rtui.core.config.store import HostStore
from rtui.tui.app import RtuiApp
from rtui.tui.widgets.code_input import CodeInput
from rtui.tui.widgets.console import ConsolePane
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust
from tests.tui_helpers import output, screen_lines, until


def wheel_bytes() -> bytes:
    """A tiny pure-Python wheel (made here: nothing to build, nothing fetched)."""
    files = {
        "rtuiprobe.py": "VALUE = 1\n",
        "rtuiprobe-1.0.dist-info/METADATA":
            "Metadata-Version: 2.1\nName: rtuiprobe\nVersion: 1.0\n",
        "rtuiprobe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: rtui-tests\n"
                                         "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "rtuiprobe-1.0.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in {**files, "rtuiprobe-1.0.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    return buffer.getvalue()


async def held_wheel_server(
        gate: asyncio.Event) -> tuple[asyncio.Server, str]:
    """A loopback HTTP server that sends the wheel once ``gate`` is set: pip's first lines
    come while the cell is still running, whatever the machine's speed."""
    data = wheel_bytes()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            await gate.wait()
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(data) + data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/rtuiprobe-1.0-py3-none-any.whl"


def paste(editor: CodeInput, text: str) -> None:
    """What the terminal sends for a paste (bracketed paste) into the focused editor."""
    assert editor.has_focus
    editor.app.post_message(events.Paste(text))


async def test_debugger_in_the_console(sshd: SSHD, tmp_path: Path, isolated_home: Path) -> None:
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=sys.executable)))
    app = RtuiApp(store, check_on_start=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await until(lambda: bool(app.query(ConsolePane)))
        pane = app.query_one(ConsolePane)
        editor = pane.query_one(CodeInput)
        status = pane.query_one("#status", Static)
        await until(lambda: pane.kernel is not None and isinstance(app.focused, CodeInput))

        def asks(prompt: str) -> bool:
            question = pane.questions.asking
            return question is not None and question.prompt == prompt

        # A function with a breakpoint, pasted (long lines are pasted here, not typed: the
        # suite is at its time limit).
        paste(editor, "def f():\n    total = 40\n    breakpoint()\n    total += 2\n"
                      "    return total\n")
        await pilot.press("enter")
        await until(lambda: pane.execution_count == 1)

        await pilot.press(*"f()", "enter")
        await until(lambda: asks("ipdb> "))
        # The prompt is the editor's title and in the status line; Enter answers pdb.
        assert pane.questions.debugging and editor.line_mode
        assert editor.border_title == "ipdb> "
        await until(lambda: "ipdb> n next, s step, c continue, q quit" in str(status.render()))
        assert "----> 3     breakpoint()" not in output(pane)  # stopped after it
        await until(lambda: "----> 4     total += 2" in output(pane))

        await pilot.press("n", "enter")
        await until(lambda: "ipdb> n" in output(pane) and "----> 5     return total"
                    in output(pane) and asks("ipdb> "))
        # p's argument completes from what the debugger printed (the kernel is busy in pdb).
        await pilot.press(*"p tot", "tab")
        await until(lambda: editor.text == "p total")
        await pilot.press("enter")
        await until(lambda: "ipdb> p total\n42" in output(pane) and asks("ipdb> "))

        # Up recalls pdb's lines, newest first, not the cells (f() is not among them).
        await pilot.press("up")
        assert editor.text == "p total"
        await pilot.press("up")
        assert editor.text == "n"
        await pilot.press("up")
        assert editor.text == "n"
        await pilot.press("down", "down")
        assert editor.text == ""

        # Commands complete locally: "cont" offers cont, continue (and ipdb's context), "i"
        # narrows to continue.
        await pilot.press(*"cont", "tab")
        await until(lambda: editor.popup_items == ["cont", "continue", "context"])
        await pilot.press("i", "enter")
        await until(lambda: editor.text == "continue")
        await pilot.press("enter")
        await until(lambda: "Out[2]: 42" in output(pane))
        # The debugger is over: Enter runs cells again, with the cell history.
        await until(lambda: not pane.questions.active and not editor.line_mode)
        assert editor.border_title is None and "ipdb>" not in str(status.render())
        await pilot.press("up")
        assert editor.text == "f()"
        await pilot.press("down")

        # %debug after an exception: the post-mortem debugger, quit with q.
        await pilot.press(*"int('x')", "enter")
        await until(lambda: "ValueError" in output(pane))
        await pilot.press(*"%debug", "enter")
        await until(lambda: asks("ipdb> "))
        await pilot.press("q", "enter")
        await until(lambda: "ipdb> q" in output(pane) and not pane.questions.active)

        # input() asks in the editor too, with no history of its own.
        await pilot.press(*"name = input('who? ')", "enter")
        await until(lambda: asks("who? "))
        assert editor.border_title == "who? " and editor.line_mode
        await pilot.press(*"ada", "enter")
        await until(lambda: not editor.line_mode)
        await pilot.press(*"print('hello', name)", "enter")
        await until(lambda: "hello ada" in output(pane))
        assert "who? ada" in output(pane)

        # A password is typed in a masked field and never shown, not even its length.
        paste(editor, "import getpass; s = getpass.getpass('Secret: '); len(s)")
        await pilot.press("enter")
        await until(lambda: bool(pane.query("#secret")))
        secret = pane.query_one("#secret", Input)
        assert secret.password and app.focused is secret and not editor.display
        await pilot.press(*"hunter2")
        assert not any("hunter2" in line for line in screen_lines(app))
        await pilot.press("enter")
        await until(lambda: "Out[" in output(pane).split("Secret: ")[-1])
        assert "Out[7]: 7" in output(pane)
        assert "hunter2" not in output(pane) and "•" not in output(pane)
        assert output(pane).splitlines().count("Secret: ") == 1
        await until(lambda: editor.display and app.focused is editor)

        # Asked while another tab is shown: a notification says so and the keys stay where
        # they are; back in the console, the editor answers.
        paste(editor, "import time; time.sleep(0.5); input('later? ')")
        await pilot.press("enter", "f3")
        await until(lambda: any("asks: later?" in str(n.message) for n in app._notifications))
        assert asks("later? ") and not isinstance(app.focused, CodeInput)
        await pilot.press("f6")
        await until(lambda: app.focused is editor)
        await pilot.press("o", "k", "enter")
        await until(lambda: "Out[8]: 'ok'" in output(pane))

        # %pip install streams: pip's first lines show while the cell still runs.
        gate, target = asyncio.Event(), tmp_path / "target"
        server, url = await held_wheel_server(gate)
        try:
            paste(editor, f"%pip install --no-index --no-deps --target {target} {url}")
            await pilot.press("enter")
            await until(lambda: "Collecting rtuiprobe==1.0" in output(pane),
                        timeout=30)
            assert pane.state == "busy"  # the cell still runs: the line came as pip wrote it
            gate.set()
            await until(lambda: "Successfully installed rtuiprobe-1.0" in output(pane),
                        timeout=30)
        finally:
            gate.set()
            server.close()
        await until(lambda: pane.state == "idle")
        assert (target / "rtuiprobe.py").exists()
        await pane.shutdown_kernel()
