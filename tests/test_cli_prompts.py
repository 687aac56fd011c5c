"""The CLI asks a person at a real terminal (tmux): host-key confirmation and a password."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_rtui
from tests.harness.accounts import Account
from tests.harness.sshd import SSHD
from tests.harness.tmux import TmuxSession


@pytest.fixture
def terminal() -> Iterator[list[TmuxSession]]:
    sessions: list[TmuxSession] = []
    yield sessions
    for session in sessions:
        session.close()


def env() -> dict[str, str]:
    keys = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
            "PATH")
    return {k: os.environ[k] for k in keys if k in os.environ}


def test_unknown_host_key_and_password_asked_on_the_terminal(
    password_sshd: SSHD, password_account: Account, terminal: list[TmuxSession],
    isolated_home: Path,
) -> None:
    assert run_rtui("hosts", "add", "pw", "--hostname", "127.0.0.1", "--port",
                    str(password_sshd.port), "--user", password_account.name).returncode == 0
    session = TmuxSession(f"{sys.executable} -m rtui check pw", env=env())
    terminal.append(session)
    screen = session.wait_for("Trust it?")
    assert f"The authenticity of host [127.0.0.1]:{password_sshd.port}" in screen
    assert "ssh-ed25519 key fingerprint is SHA256:" in screen
    session.type("y")
    session.wait_for(f"Password for {password_account.name}@127.0.0.1:{password_sshd.port}:")
    session.type(password_account.password)
    screen = session.wait_for("[exit ")
    assert "pw: ok | tcp" in screen
    assert "[exit 0]" in screen
    assert password_account.password not in screen  # typed without echo
    known = (isolated_home / ".local/share/rtui/known_hosts").read_text()
    assert known.startswith(f"[127.0.0.1]:{password_sshd.port} ssh-ed25519 ")


def test_wrong_password_is_one_clear_error(
    password_sshd: SSHD, password_account: Account, terminal: list[TmuxSession],
) -> None:
    assert run_rtui("hosts", "add", "pw", "--hostname", "127.0.0.1", "--port",
                    str(password_sshd.port), "--user", password_account.name,
                    "--host-key-policy", "accept-new").returncode == 0
    session = TmuxSession(f"{sys.executable} -m rtui check pw", env=env())
    terminal.append(session)
    session.wait_for("Password for ")
    session.type("definitely-wrong")
    screen = session.wait_for("[exit ")
    assert f"authentication failed for {password_account.name}@127.0.0.1" in screen
    assert screen.count("Password for ") == 1  # no retry loop
    assert "[exit 1]" in screen
    assert "Traceback" not in screen
