"""What saves round trips on a far link, over a real sshd: the connection is usable before
its PTY session is there (which still comes, for TCP_NODELAY)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust

WAIT = 30.0  # seconds for what comes in the background


async def _until(predicate: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), WAIT)
    except TimeoutError:
        raise AssertionError(f"{what} did not come within {WAIT:g} s") from None


async def test_the_pty_session_comes_after_the_connection_is_handed_out(
    sshd: SSHD, isolated_home: Path
) -> None:
    """connect() returns without waiting for the PTY session's three exchanges; the session
    (what makes sshd set TCP_NODELAY) is held on the connection shortly after."""
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd))
    try:
        ssh = await asyncio.wait_for(conn.connect(), WAIT)
        await _until(lambda: ssh.get_extra_info("rtui_pty") is not None, "the PTY session")
        result = await asyncio.wait_for(ssh.run("echo usable", check=True), WAIT)
        assert result.stdout == "usable\n"
    finally:
        await conn.close()
