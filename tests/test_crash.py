"""A bug in rtui is said in one line, never a traceback, and shows no secret (issue 21): the
CLI's and the TUI's crash (rtui.core.crash). The traceback, without variables, is in the log."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rtui.cli import hosts as hosts_cmd
from rtui.cli import main as cli_main
from rtui.core.crash import EXIT_INTERNAL
from rtui.core.logs import log_path, log_to, setup_logging
from rtui.tui.app import RtuiApp
from tests import reliability
from tests.tui_helpers import store_with

SECRET = "hunter2-0123456789abcdef"


@pytest.fixture(autouse=True)
def _logging_here() -> None:
    """The log in this test's HOME (the handler is made once per process, at the first)."""
    setup_logging()
    log_to(log_path())


def _boom(args: argparse.Namespace) -> int:
    password = SECRET  # a local a traceback with variables would show
    raise ValueError(f"cannot use {password[:0]}this value")


@pytest.mark.reliability
def test_a_cli_crash_is_one_line_naming_the_log_and_no_secret(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(hosts_cmd, "_list", _boom)  # `rtui hosts list` meets a bug
    code = cli_main.main(["hosts", "list"])
    out, err = capsys.readouterr()
    assert code == EXIT_INTERNAL
    [line] = err.splitlines()
    assert line.startswith("rtui: internal error: ValueError at ")
    assert "(a bug in rtui); its traceback is in ~/.local/state/rtui/rtui.log" in line
    assert SECRET not in err + out and "Traceback" not in err
    logged = log_path().read_text()
    assert "Traceback (most recent call last)" in logged and "ValueError" in logged
    assert SECRET not in logged  # no variables in it
    assert oct(log_path().stat().st_mode & 0o777) == "0o600"
    reliability.record("security", "a crash (a bug): what the terminal and the log show",
                       tried=2, leaked=0,
                       seen="one line: 'rtui: internal error: ValueError at rtui/...: please "
                            "report it'; the log has the traceback without variables")


async def test_a_tui_crash_is_one_line_after_the_screen_not_textuals_locals(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = RtuiApp(store_with(tmp_path), check_on_start=False)

    def boom() -> None:
        password = SECRET  # Textual's own crash screen would print it (show_locals)
        raise RuntimeError("a bug" + password[:0])

    with pytest.raises(RuntimeError):
        async with app.run_test(size=(80, 24)) as pilot:
            app.call_later(boom)
            await pilot.pause(0.5)
    out, err = capsys.readouterr()
    printed = [line for line in (out + err).splitlines() if line.strip()]
    assert printed and printed[0].startswith("rtui: internal error: RuntimeError at "), printed
    assert SECRET not in out + err and "Traceback" not in out + err
    assert "Traceback" in log_path().read_text()
