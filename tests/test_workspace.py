"""The Workspace both faces drive: hosts (the file's and the injected), reload, events, checks,
the environment decision and the kernel count, against the real sshd."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rtui.core import locations
from rtui.core.config.model import Host
from rtui.core.config.store import HostStore
from rtui.core.errors import RtuiError
from rtui.core.kernels.choice import Run
from rtui.core.ssh.prompts import NoPrompter
from rtui.core.ssh.route import Endpoint, Route
from rtui.core.workspace import (
    Checking,
    ConfigReloaded,
    InjectedHost,
    KernelCount,
    StatusChanged,
    Workspace,
    WorkspaceEvent,
)
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust

PY = sys.executable


def injected(tmp_path: Path, name: str = "demo") -> InjectedHost:
    host = Host(name, hostname="127.0.0.1", port=2299, note="this run only")
    hop = Endpoint(label=name, hostname="127.0.0.1", port=2299, user="ada",
                   known_hosts_files=(), agent_path="none", host_key_policy="strict")
    return InjectedHost(host, Route((hop,)), tmp_path / "known_hosts", tmp_path / "state")


async def test_reload_keeps_injected_hosts_and_reports_a_broken_file(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(Host("lab", hostname="lab.example.org")))
    demo = injected(tmp_path / "demo")
    workspace = Workspace(store, injected=[demo])
    events: list[WorkspaceEvent] = []
    workspace.subscribe(events.append)

    await workspace.reload()
    assert [h.name for h in workspace.config.hosts] == ["lab", "demo"]
    assert events == [ConfigReloaded(workspace.config, "")]
    assert workspace.is_injected("demo") and not workspace.is_injected("lab")
    assert workspace.history_path("demo") == tmp_path / "demo" / "state" / "history/demo.jsonl"
    assert workspace.history_path("lab") == locations.state_dir() / "history" / "lab.jsonl"
    # Reached by its fixed route and trusted through its own file, not the ssh config.
    connection = workspace.connection("demo")
    assert connection.route == demo.route and connection.own_known_hosts == demo.known_hosts

    await workspace.save_host(None, Host("gpu", hostname="gpu.example.org"))
    assert [h.name for h in workspace.config.hosts] == ["lab", "gpu", "demo"]
    assert "demo" not in store.path.read_text()  # never written to the file
    await workspace.delete_host("lab")
    assert [h.name for h in workspace.config.hosts] == ["gpu", "demo"]

    store.path.write_text("[[hosts]\nname = 'x'\n")
    await workspace.reload()
    assert [h.name for h in workspace.config.hosts] == ["demo"]  # the injected one stays
    assert workspace.problem and events[-1] == ConfigReloaded(workspace.config,
                                                              workspace.problem)
    assert workspace.connection("demo") is connection  # still reached the same way
    await workspace.close()


async def test_a_file_host_of_the_same_name_is_reached_as_usual(tmp_path: Path) -> None:
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(Host("demo", hostname="127.0.0.1", port=2300)))
    workspace = Workspace(store, injected=[injected(tmp_path)])
    await workspace.reload()
    assert workspace.config.require("demo").port == 2300
    assert not workspace.is_injected("demo")
    assert workspace.connection("demo").route.target.port == 2300
    await workspace.close()


async def test_without_a_file_nothing_is_written(tmp_path: Path) -> None:
    workspace = Workspace(None, injected=[injected(tmp_path)])
    await workspace.reload()
    assert [h.name for h in workspace.config.hosts] == ["demo"]
    with pytest.raises(RtuiError, match="no hosts file"):
        await workspace.remember_python("demo", PY)


async def test_check_decide_start_and_count(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """A check reports checking then the status; the configured Python it found runs
    without asking; a kernel started is counted between checks."""
    trust(sshd, isolated_home)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(host_for(sshd, "lab", python=PY)))
    workspace = Workspace(store, prefetch=False)
    events: list[WorkspaceEvent] = []
    workspace.subscribe(events.append)
    await workspace.reload()
    try:
        shown: list[str] = []
        statuses = await workspace.check(["lab", "nope"], prompter=NoPrompter(),
                                         on_status=lambda s: shown.append(s.name))
        assert [s.name for s in statuses] == ["lab"] and statuses[0].ok  # unknown: skipped
        assert shown == ["lab"]
        assert events[1:] == [Checking(("lab",)), StatusChanged(statuses[0])]
        assert workspace.statuses["lab"] is statuses[0] and not workspace.checking

        decision = await workspace.environment_decision("lab")
        assert isinstance(decision, Run) and workspace.ready_python("lab") == decision.python
        kernels = await workspace.kernels("lab")
        kernel = await kernels.start(python=decision.python)
        try:
            await workspace.count_kernels("lab")
            assert events[-1] == KernelCount("lab", statuses[0].kernels + 1)
            assert workspace.statuses["lab"].kernels == statuses[0].kernels + 1
        finally:
            await kernels.shutdown(kernel)
    finally:
        await workspace.close()


async def test_a_python_chosen_in_this_run_is_forgotten_when_the_host_goes_or_moves(
    tmp_path: Path,
) -> None:
    """A choice belongs to the machine it was made on: a host deleted and added again, or
    edited to reach another machine, is asked again, not sent to the old machine's Python."""
    workspace = Workspace(HostStore(tmp_path / "hosts.toml"))
    await workspace.save_host(None, Host("lab", hostname="old.example.org"))
    await workspace.kernels("lab")  # its connection and kernel service made, not connected
    workspace.chose("lab", "/home/u/venv-on-old/bin/python")
    assert workspace.ready_python("lab") == "/home/u/venv-on-old/bin/python"
    await workspace.edit_host("lab", lambda h: Host("lab", hostname="new.example.org"))
    assert workspace.ready_python("lab") is None  # reached another way: asked again
    workspace.chose("lab", "/home/u/venv-on-new/bin/python")
    await workspace.save_host("lab", Host("lab", hostname="new.example.org", note="same box"))
    assert workspace.ready_python("lab") == "/home/u/venv-on-new/bin/python"  # same machine
    await workspace.delete_host("lab")
    await workspace.save_host(None, Host("lab", hostname="new.example.org"))
    assert workspace.ready_python("lab") is None  # gone in between
    await workspace.close()
