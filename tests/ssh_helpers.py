"""Helpers for SSH tests: a scripted person at the prompts, and hosts for harness servers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rtui.core.config.model import Config, Host, Settings
from rtui.core.ssh.connection import ConnState, HostConnection, StateChange
from rtui.core.ssh.prompts import (
    HostKeyDecision,
    HostKeyPrompt,
    KbdIntPrompt,
    SecretPrompt,
)
from rtui.core.ssh.route import resolve_route
from tests.harness.sshd import SSHD


@dataclass
class ScriptedPerson:
    """Answers prompts from a script and records every question it was asked."""

    secrets: dict[str, str | None] = field(default_factory=dict)  # by kind
    kbdint: dict[str, str] = field(default_factory=dict)  # answer by prompt text
    host_key: HostKeyDecision = HostKeyDecision.REFUSE
    asked: list[object] = field(default_factory=list)

    async def ask_secret(self, request: SecretPrompt) -> str | None:
        self.asked.append(request)
        return self.secrets.get(request.kind)

    async def ask_kbdint(self, request: KbdIntPrompt) -> list[str] | None:
        self.asked.append(request)
        answers = [self.kbdint.get(text) for text, _ in request.prompts]
        return None if None in answers else [a for a in answers if a is not None]

    async def confirm_host_key(self, request: HostKeyPrompt) -> HostKeyDecision:
        self.asked.append(request)
        return self.host_key


def trust(server: SSHD, home: Path) -> None:
    """Put the server's key in the (isolated) user's ~/.ssh/known_hosts, as ssh would have."""
    ssh = home / ".ssh"
    ssh.mkdir(exist_ok=True)
    with (ssh / "known_hosts").open("a") as handle:
        handle.write(server.known_hosts.read_text())


def host_for(server: SSHD, name: str = "t", **fields: object) -> Host:
    values: dict[str, object] = {
        "hostname": "127.0.0.1", "port": server.port, "user": server.user,
        "identity_files": (str(server.client_key),),
    }
    values.update(fields)
    return Host(name, **values)  # type: ignore[arg-type]


class EventLog(list[StateChange]):
    """Every state change, with a way to wait for one that matches (transient ones too)."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, change: StateChange) -> None:
        self.append(change)
        self._changed.set()

    async def until(self, predicate: Callable[[StateChange], bool], timeout: float) -> StateChange:
        async def wait() -> StateChange:
            seen = 0
            while True:
                for change in self[seen:]:
                    if predicate(change):
                        return change
                seen = len(self)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)


def connection(
    *hosts: Host, settings: Settings | None = None, person: object | None = None,
    ssh_config: Path | None = None, auto_reconnect: bool = True,
) -> tuple[HostConnection, EventLog]:
    """A HostConnection to the last of ``hosts`` (the others may be its jump hops)."""
    config = Config(settings=settings or Settings(), hosts=hosts)
    target = hosts[-1]
    route = resolve_route(target, config, ssh_config or Path("/nonexistent/ssh_config"))
    conn = HostConnection(
        target.name, route, settings=config.settings, prompter=person,  # type: ignore[arg-type]
        auto_reconnect=auto_reconnect,
    )
    events = EventLog()
    conn.subscribe(events)
    return conn, events


def states(events: list[StateChange]) -> list[ConnState]:
    return [e.state for e in events]


def kernel_env(prefix: Path) -> Path:
    """A venv at ``prefix`` that can run kernels on any machine; its interpreter.

    The test run's own packages reach it through a ``.pth`` file, not
    ``--system-site-packages``: when the tests run in a venv (the README's way), the system
    site is the base Python's, which has no ipykernel on a fresh machine."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True,
                   timeout=120, capture_output=True)
    site = next((prefix / "lib").glob("python3*/site-packages"))
    (site / "rtui-tests.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return prefix / "bin" / "python"


@contextmanager
def remote_kernel_env(server: SSHD, *parts: str) -> Iterator[Path]:
    """A kernel environment under the (shared) sshd's remote home, removed afterwards so
    other tests see the host's environments as they were; its interpreter."""
    prefix = server.remote_home.joinpath(*parts)
    try:
        yield kernel_env(prefix)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
