"""stderr carries rtui's own messages only: no Python warning from any command or the TUI.

With the newest cryptography, importing asyncssh alone prints ten lines of
``CryptographyDeprecationWarning``; a JSON consumer of ``rtui kernels --json 2>&1`` broke on
them. Every command runs here against the real sshd, as a user's shell runs it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rtui.core.logs import log_path
from tests.conftest import run_rtui
from tests.harness.sshd import SSHD
from tests.harness.tmux import TmuxSession
from tests.ssh_helpers import trust

PY = sys.executable


def _no_warning(result: object, what: str) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Warning" not in stderr and "warnings.warn" not in stderr, f"{what}:\n{stderr}"
    return stderr


def test_every_cli_command_keeps_warnings_off_stderr(sshd: SSHD, isolated_home: Path) -> None:
    assert "PYTHONWARNINGS" not in os.environ  # the point is what a plain run shows
    trust(sshd, isolated_home)
    ssh_config = isolated_home / ".ssh" / "config"
    ssh_config.write_text(f"Host imported\n  HostName 127.0.0.1\n  Port {sshd.port}\n")
    commands: list[tuple[str, ...]] = [
        ("--version",),
        ("hosts", "add", "lab", "--hostname", "127.0.0.1", "--port", str(sshd.port),
         "--user", sshd.user, "--identity", str(sshd.client_key), "--python", PY),
        ("hosts", "edit", "lab", "--note", "loopback"),
        ("hosts", "list"),
        ("hosts", "list", "--json"),
        ("hosts", "show", "lab", "--json"),
        ("hosts", "import"),
        ("check", "lab"),
        ("check", "lab", "--json"),
        ("envs", "lab", "--json"),
        ("kernels", "lab", "--json"),
        ("run", "lab", "-c", "print(6*7)"),
    ]
    for args in commands:
        result = run_rtui(*args)
        assert result.returncode == 0, f"rtui {' '.join(args)}: {result.stderr}"
        _no_warning(result, f"rtui {' '.join(args)}")

    started = run_rtui("kernel", "start", "lab")
    assert started.returncode == 0, started.stderr
    _no_warning(started, "rtui kernel start")
    kid = started.stdout.split()[2]
    listed = run_rtui("kernels", "lab", "--json")
    _no_warning(listed, "rtui kernels --json")
    assert any(k["id"] == kid for k in json.loads(listed.stdout))  # stdout is pure JSON
    for args in (("run", "lab", "-k", kid, "-c", "1"), ("kernel", "interrupt", "lab", kid),
                 ("kernel", "restart", "lab", kid), ("kernel", "stop", "lab", kid),
                 ("hosts", "remove", "imported"), ("hosts", "remove", "lab")):
        result = run_rtui(*args)
        assert result.returncode == 0, f"rtui {' '.join(args)}: {result.stderr}"
        _no_warning(result, f"rtui {' '.join(args)}")

    # Errors are one line of rtui's own, still without a warning in front of them.
    failed = run_rtui("check", "nope")
    assert failed.returncode == 1
    assert _no_warning(failed, "rtui check nope").startswith("rtui: ")
    # Nothing worth keeping was logged either, so no log file was made.
    assert not log_path().exists()


def test_warnings_are_kept_in_the_log_when_debugging(isolated_home: Path) -> None:
    # A command that loads the SSH libraries (whose import warns) before it fails: an
    # unknown host fails before loading anything, so an unreachable one is used.
    added = run_rtui("hosts", "add", "gone", "--hostname", "127.0.0.1", "--port", "1")
    assert added.returncode == 0, added.stderr
    result = run_rtui("kernels", "gone", env={"RTUI_DEBUG": "1"})
    assert result.returncode == 1
    _no_warning(result, "rtui kernels gone")
    log = log_path()
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.timeout(90)
def test_the_tui_leaves_no_warning_on_the_terminal(sshd: SSHD, isolated_home: Path) -> None:
    """The TUI paints on stderr (Textual's way), so what matters is the terminal a person
    sees: while it runs and once it has quit, with a host checked (asyncssh loaded)."""
    trust(sshd, isolated_home)
    assert run_rtui("hosts", "add", "lab", "--hostname", "127.0.0.1", "--port", str(sshd.port),
                    "--user", sshd.user, "--identity", str(sshd.client_key)).returncode == 0
    env = {k: os.environ[k] for k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                      "XDG_STATE_HOME", "XDG_CACHE_HOME", "PATH")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    term = TmuxSession(f"{shlex.quote(sys.executable)} -m rtui", env=env, width=100, height=30)
    try:
        term.wait_for(" ok ", timeout=45)  # the start-up check logged in: asyncssh is loaded
        assert "Warning" not in term.screen()
        term.press("C-q")
        screen = term.wait_for("[exit ", timeout=20)
    finally:
        term.close()
    assert "[exit 0]" in screen
    assert [line for line in screen.splitlines() if line.strip()] == ["[exit 0]"], screen


def test_the_demo_keeps_its_log_with_itself(isolated_home: Path, tmp_path: Path) -> None:
    """`rtui demo` leaves no file behind: its log goes to its temporary directory, and none is
    kept once that is gone; a log that cannot be written never reaches the terminal."""
    demo_log = tmp_path / "demo" / "state" / "rtui.log"
    code = f"""if True:
        import logging, shutil
        from pathlib import Path
        from rtui.core.logs import log_to, setup_logging
        setup_logging()
        log_to(Path({str(demo_log)!r}))
        logging.getLogger("rtui.test").error("during the demo")
        log_to(None)
        print(Path({str(demo_log)!r}).read_text())
        shutil.rmtree({str(tmp_path / "demo")!r})
        logging.getLogger("rtui.test").error("after it")
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "ERROR rtui.test: during the demo" in result.stdout
    assert not (tmp_path / "demo").exists() and not log_path().exists()


def test_a_log_that_cannot_be_written_is_dropped_quietly(isolated_home: Path,
                                                         tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    code = f"""if True:
        import logging
        from pathlib import Path
        from rtui.core.logs import setup_logging
        setup_logging(Path({str(blocked / "rtui.log")!r}))  # a file where a dir should be
        logging.getLogger("rtui.test").error("nowhere to go")
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr
