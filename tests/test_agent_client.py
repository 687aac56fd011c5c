"""The agent's client over a real sshd: requests written before the agent has greeted (a far
host answers the first one a round trip sooner) are answered whether the agent was cached on
the host or had to be uploaded first."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rtui.core.remote.client import READ_ONLY_OPS, AgentClient, AgentError, AgentLostError
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust


async def test_requests_written_before_the_upload_are_answered(
    sshd_factory: Callable[..., SSHD], tmp_path: Path, isolated_home: Path
) -> None:
    """No agent cached on the host: the two requests go out at once, before the boot has
    asked for the agent's bytes; it keeps them, caches the agent, and both are answered.
    The next start finds the cached agent and answers at once too."""
    cache = tmp_path / "remote-cache"
    server = sshd_factory(extra_config=f"SetEnv XDG_CACHE_HOME={cache}\n")
    trust(server, isolated_home)
    for start in ("uploaded", "cached"):
        conn, _ = connection(host_for(server, python=sys.executable))
        agent = AgentClient(conn, python=sys.executable)
        try:
            hello, listed = await asyncio.wait_for(
                asyncio.gather(agent.request("hello"), agent.request("list")), 60)
        finally:
            await agent.close()
            await conn.close()
        assert hello["python"] == sys.executable, start
        assert hello["home"] == str(server.remote_home), start
        assert isinstance(listed["kernels"], list), start
        assert agent.hello["python"] == sys.executable, start  # the greeting, kept
        assert len(list((cache / "rtui").glob("agent-*.pyz"))) == 1, start


async def test_a_refused_start_fails_the_requests_written_meanwhile(
    sshd: SSHD, tmp_path: Path, isolated_home: Path
) -> None:
    """A python that does not exist: the request already written fails with the start's
    reason (named), not with a lost channel or a timeout."""
    trust(sshd, isolated_home)
    missing = str(tmp_path / "no-such-python")
    conn, _ = connection(host_for(sshd, python=missing))
    agent = AgentClient(conn, python=missing)
    try:
        with pytest.raises(AgentError) as refused:
            await asyncio.wait_for(agent.request("hello"), 60)
    finally:
        await agent.close()
        await conn.close()
    said = str(refused.value)
    assert refused.value.type == "no_python", said
    assert "no Python found" in said and missing in said, said


@pytest.mark.parametrize(("op", "told", "asked"), [
    ("list", False, 2),  # read-only: asked again of a new agent, and answered
    ("fs_remove", False, 1),  # a change: said, never repeated behind the person's back
    ("fs_list", True, 1),  # rows already shown: asking again would show them twice
])
async def test_a_request_the_agent_was_lost_under_is_asked_again_only_when_read_only(
        monkeypatch: pytest.MonkeyPatch, op: str, told: bool, asked: int) -> None:
    agent = AgentClient(connection=None)  # type: ignore[arg-type]  # never reached
    calls: list[str] = []

    async def once(op: str, args: object, pending: object, timeout: float,
                   idle_timeout: bool) -> str:
        calls.append(op)
        if len(calls) == 1:
            pending.told = told  # type: ignore[attr-defined]
            raise AgentLostError("lost the rtui agent on lab: the agent exited")
        return "answer"

    monkeypatch.setattr(agent, "_request_once", once)
    if asked == 2:
        assert await agent.request(op) == "answer"
    else:
        with pytest.raises(AgentLostError, match="the agent exited"):
            await agent.request(op)
    assert calls == [op] * asked
    assert op in READ_ONLY_OPS or asked == 1


def test_the_read_only_ops_are_the_agents() -> None:
    from rtui.agent.__main__ import OPS

    assert set(OPS) >= READ_ONLY_OPS
