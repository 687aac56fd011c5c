"""The debugger's side of the console: which prompts are pdb's, pdb's commands completed and
explained locally, names taken from what the debugger printed; and the setup code that makes
a Spyder kernel's debugger ask on stdin (a real spyder kernel)."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from rtui.core.console.debugger import (
    COMMANDS,
    DEBUGGER_SETUP_CODE,
    command_help,
    complete_command,
    is_debugger_prompt,
    names_in,
)


def test_debugger_prompts_told_from_input() -> None:
    for prompt in ("ipdb> ", "(Pdb) ", "((Pdb)) ", "(Pdb++) ", "\x1b[32mipdb> \x1b[0m"):
        assert is_debugger_prompt(prompt), prompt
    for prompt in ("who? ", "pdb", "Password: ", "", "ipdb"):
        assert not is_debugger_prompt(prompt), prompt


def test_commands_complete_in_the_first_word() -> None:
    assert complete_command("cont", 4) == (["cont", "continue", "context"], 0, 4)
    assert complete_command("unt", 3) == (["unt", "until"], 0, 3)
    matches, start, end = complete_command("", 0)
    assert matches == list(COMMANDS) and (start, end) == (0, 0)
    for command in ("n", "s", "c", "r", "u", "d", "w", "l", "ll", "b", "tbreak", "cl", "p",
                    "pp", "a", "q", "j", "unt", "ret", "display", "h"):
        assert command in complete_command(command, len(command))[0] or any(
            c.startswith(command) for c in COMMANDS), command
    # The word under the cursor is replaced whole (offsets as a complete_reply's).
    assert complete_command("contx", 2) == ([c for c in COMMANDS if c.startswith("co")], 0, 5)


def test_names_complete_in_expressions_from_what_was_printed() -> None:
    printed = ["> /tmp/x.py(4)f()", "      3     breakpoint()", "----> 4     total += 2",
               "      5     return total_sum if not None else other"]
    names = names_in(printed)
    assert {"total", "total_sum", "other", "breakpoint", "f"} <= names
    assert "return" not in names and "None" not in names  # keywords are not names
    assert complete_command("p tot", 5, names) == (["total", "total_sum"], 2, 5)
    assert complete_command("pp oth", 6, names) == (["other"], 3, 6)
    assert complete_command("!tot", 4, names) == (["total", "total_sum"], 1, 4)
    assert complete_command("p obj.oth", 9, names) == (["other"], 6, 9)
    assert complete_command("b tot", 5, names) == ([], 2, 5)  # a breakpoint's file:line
    assert complete_command("p ", 2, names) == ([], 2, 2)


def test_help_is_pdbs_own() -> None:
    assert "next line" in (command_help("n", 1) or "")
    assert "next line" in (command_help("h next", 6) or "")
    assert "IPython" in (command_help("pinfo", 5) or "")
    assert command_help("print(1)", 3) is None
    assert command_help("", 0) is None


def test_a_spyder_kernels_debugger_asks_on_stdin_with_its_comm_open(tmp_path: Path) -> None:
    """Once a client opened Spyder's comm (the variables pane does), spyder-kernels' pdb asks
    that comm, not stdin; and breakpoint() called debugpy's hook, which does nothing. After
    the console's setup code, breakpoint() stops and pdb asks on stdin."""
    pytest.importorskip("spyder_kernels")
    spec = tmp_path / "kernels" / "spyder"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "spyder_kernels.console", "-f", "{connection_file}"],
        "display_name": "spyder", "language": "python"}))
    home = tmp_path / "spyder-home"
    home.mkdir()
    km = KernelManager(kernel_name="spyder",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]),
                       connection_file=str(tmp_path / "connection.json"), ip="127.0.0.1")
    km.start_kernel(env={**os.environ, "HOME": str(home), "IPYTHONDIR": str(home / "ipy"),
                         "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive(DEBUGGER_SETUP_CODE, silent=True, store_history=False,
                               allow_stdin=False, timeout=30)
        kc.shell_channel.send(kc.session.msg("comm_open", {
            "comm_id": uuid.uuid4().hex, "target_name": "spyder_api", "data": {}}))
        prompts: list[str] = []

        def answer(msg: dict[str, Any]) -> None:
            prompts.append(msg["content"]["prompt"])
            kc.input("c")

        reply = kc.execute_interactive("def f():\n    breakpoint()\n    return 2\nf()",
                                       allow_stdin=True, stdin_hook=answer,
                                       output_hook=lambda _msg: None, timeout=30)
        assert prompts == ["ipdb> "] and is_debugger_prompt(prompts[0])
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
