"""Shared fixtures: every test runs with its own HOME, XDG dirs and no ssh-agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.fixtures import (  # noqa: F401 (fixtures)
    fresh_sshd,
    jump_sshd,
    kbdint_server,
    password_account,
    password_sshd,
    ssh_agent,
    sshd,
    sshd_factory,
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway HOME so no test reads or writes the developer's ~/.ssh or ~/.config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "RTUI_CONFIG", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    """Where rtui's hosts file lands by default under the isolated HOME."""
    return isolated_home / ".config" / "rtui" / "hosts.toml"


def run_rtui(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``rtui`` entry point in a subprocess, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "rtui", *args],
        capture_output=True, text=True, timeout=timeout, input=input,
        env={**os.environ, **(env or {})},
    )
