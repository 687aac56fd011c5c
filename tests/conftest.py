"""Shared fixtures: every test runs with its own HOME, XDG dirs and no ssh-agent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.core.kernels.service import HostKernels
from tests import benchmark_runs
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
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, remote_kernel_env, trust


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway HOME so no test reads or writes the developer's ~/.ssh or ~/.config, and
    a throwaway XDG_RUNTIME_DIR: rtui's private sockets (the local ends of forwards, and the
    host side's of agents run here) never meet those of other runs in /tmp/rtui-<uid>. It is
    short, under /tmp: a Unix socket's path must stay under 108 bytes."""
    runtime = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
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
    yield home
    shutil.rmtree(runtime, ignore_errors=True)


@pytest_asyncio.fixture
async def kernels(sshd: SSHD, isolated_home: Path) -> AsyncIterator[HostKernels]:  # noqa: F811
    """The kernels service of a host on the session's sshd (its key trusted), whose Python is
    this machine's (it has ipykernel)."""
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    service = HostKernels(conn, python=sys.executable)
    try:
        yield service
    finally:
        await service.close()
        await conn.close()


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    """Where rtui's hosts file lands by default under the isolated HOME."""
    return isolated_home / ".config" / "rtui" / "hosts.toml"


@pytest.fixture
def lab_env(sshd: SSHD) -> Iterator[Path]:  # noqa: F811 (the sshd fixture)
    """``~/envs/lab`` on the shared sshd's host: an environment that can run kernels (what
    people configure as ``python = "~/envs/lab"``), gone after the test; its interpreter."""
    with remote_kernel_env(sshd, "envs", "lab") as python:
        yield python


def run_rtui(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``rtui`` entry point in a subprocess, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "rtui", *args],
        capture_output=True, text=True, timeout=timeout, input=input,
        env={**os.environ, **(env or {})},
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With other tests beside them, the benchmark smoke and screenshot checks go last and
    their runs start now, in the background (tests/benchmark_runs.py says why)."""
    files = (benchmark_runs.SMOKE_FILE, benchmark_runs.SCREENSHOTS_FILE)
    smoke = [item for item in items if item.nodeid.startswith(files)]
    if not smoke or len(smoke) == len(items) or config.option.collectonly:
        return
    items[:] = [item for item in items if item not in smoke] + smoke
    benchmark_runs.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    benchmark_runs.stop()
