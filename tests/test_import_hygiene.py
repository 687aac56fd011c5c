"""The core must stay UI-free, and the CLI must not pay for Textual."""

from __future__ import annotations

import subprocess
import sys


def loaded_modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_does_not_import_textual() -> None:
    mods = loaded_modules_after(
        "import rtui.core, rtui.core.config.store, rtui.core.config.importer, "
        "rtui.core.config.sshconfig, rtui.core.locations"
    )
    assert not {m for m in mods if m == "textual" or m.startswith("textual.")}


def test_cli_commands_do_not_import_textual() -> None:
    mods = loaded_modules_after("from rtui.cli.main import build_parser; build_parser()")
    assert "textual" not in mods


def test_hosts_commands_do_not_load_ssh_or_kernel_libraries() -> None:
    """`rtui hosts ...` is run often from shells and scripts: it stays quick to start."""
    mods = loaded_modules_after("import rtui.cli.main")
    assert not {"asyncssh", "jupyter_client", "zmq"} & mods


def test_host_list_does_not_load_ssh_kernel_or_console_code() -> None:
    """The TUI's first frame is the host list: what only a connection or a console needs is
    imported later (asyncssh and jupyter_client off the event loop)."""
    mods = loaded_modules_after("import rtui.tui.app")
    assert not {"asyncssh", "jupyter_client", "zmq", "rtui.tui.widgets.console",
                "rtui.tui.widgets.code_input", "rtui.core.config.importer"} & mods
