"""Self-tests for the real-sshd harness (tests/harness): each test runs against OpenSSH."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import asyncssh
import pytest

from tests.harness.sshd import (
    SSHD,
    descendant_pids,
    free_port,
    pid_alive,
    sshd_available,
    start_sshd,
)


async def _run(conn: asyncssh.SSHClientConnection, command: str) -> str:
    result = await conn.run(command, check=True, timeout=5)
    assert isinstance(result.stdout, str)
    return result.stdout


def test_sshd_is_installed() -> None:
    # Fail loudly rather than skip: the integration suite needs openssh-server.
    assert sshd_available()


async def test_connect_and_run(sshd: SSHD) -> None:
    async with asyncssh.connect(**sshd.connect_kwargs()) as conn:
        out = await _run(conn, "echo hello; echo $HOME")
    hello, home = out.splitlines()
    assert hello == "hello"
    assert Path(home) == sshd.remote_home
    assert sshd.remote_home.is_dir()


async def test_proxy_jump(sshd: SSHD, jump_sshd: SSHD) -> None:
    assert jump_sshd.port != sshd.port
    async with (
        asyncssh.connect(**jump_sshd.connect_kwargs()) as jump,
        asyncssh.connect(**sshd.connect_kwargs(), tunnel=jump) as target,
    ):
        assert await _run(target, "echo via-jump") == "via-jump\n"
    # jump_sshd also authorises sshd's client key (one IdentityFile for both hops).
    kwargs = jump_sshd.connect_kwargs() | {"client_keys": [str(sshd.client_key)]}
    async with asyncssh.connect(**kwargs) as jump:
        assert await _run(jump, "echo ok") == "ok\n"


async def test_changed_host_key_is_rejected(fresh_sshd: SSHD) -> None:
    old_known_hosts = fresh_sshd.known_hosts.read_text()
    old_pub = fresh_sshd.host_key_pub.read_text()
    port = fresh_sshd.port

    fresh_sshd.restart(new_host_key=True)

    assert fresh_sshd.port == port
    assert fresh_sshd.host_key_pub.read_text() != old_pub
    assert fresh_sshd.known_hosts.read_text() == old_known_hosts  # not rewritten
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with asyncssh.connect(**fresh_sshd.connect_kwargs()):
            pass

    fresh_sshd.write_known_hosts()  # trust the new key -> works again
    async with asyncssh.connect(**fresh_sshd.connect_kwargs()) as conn:
        assert await _run(conn, "echo again") == "again\n"


async def test_stop_leaves_no_process(fresh_sshd: SSHD) -> None:
    assert fresh_sshd.proc is not None
    pid = fresh_sshd.proc.pid
    assert pid_alive(pid)
    conn = await asyncssh.connect(**fresh_sshd.connect_kwargs())
    try:
        process = await conn.create_process("sleep 60")
        await asyncio.sleep(0.1)  # let the session's shell start
        session_pids = descendant_pids(pid)
        assert session_pids  # per-connection sshd processes + the sleep

        fresh_sshd.stop()

        assert fresh_sshd.proc is None
        assert not pid_alive(pid)
        assert not fresh_sshd.pid_file.exists()
        assert [p for p in session_pids if pid_alive(p)] == []
        await asyncio.wait_for(process.wait_closed(), 2)  # the client sees the drop
        await asyncio.wait_for(conn.wait_closed(), 2)
    finally:
        conn.close()
    with pytest.raises(OSError):
        await asyncssh.connect(**fresh_sshd.connect_kwargs(), connect_timeout=1)
    fresh_sshd.stop()  # idempotent


async def test_restart_keeps_port_and_key(fresh_sshd: SSHD) -> None:
    port, pid = fresh_sshd.port, fresh_sshd.pid
    fresh_sshd.restart()
    assert fresh_sshd.port == port
    assert fresh_sshd.pid != pid
    assert pid is not None and not pid_alive(pid)
    async with asyncssh.connect(**fresh_sshd.connect_kwargs()) as conn:
        assert await _run(conn, "echo back") == "back\n"


async def test_pause_and_resume(fresh_sshd: SSHD) -> None:
    async with asyncssh.connect(**fresh_sshd.connect_kwargs()) as established:
        fresh_sshd.pause()
        try:
            # TCP connects (kernel backlog) but the stopped sshd never sends its banner.
            with pytest.raises((asyncio.TimeoutError, asyncssh.Error, OSError)):
                await asyncssh.connect(**fresh_sshd.connect_kwargs(), connect_timeout=0.3)
            # Established connections are served by other processes and keep working.
            assert await _run(established, "echo still-here") == "still-here\n"
        finally:
            fresh_sshd.resume()
    async with asyncssh.connect(**fresh_sshd.connect_kwargs()) as conn:
        assert await _run(conn, "echo resumed") == "resumed\n"


async def test_stop_while_paused(fresh_sshd: SSHD) -> None:
    pid = fresh_sshd.pid
    assert pid is not None
    fresh_sshd.pause()
    fresh_sshd.stop()
    assert not pid_alive(pid)


async def test_sessions_get_a_short_private_runtime_dir_removed_on_close(
    custom_workdir: Path,
) -> None:
    """Not the machine's /tmp/rtui-<uid>: rtui's sockets of earlier runs are never seen."""
    server = start_sshd(custom_workdir)
    try:
        runtime = server.runtime_dir
        assert runtime is not None and runtime.parent == Path("/tmp") and len(str(runtime)) < 20
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
        assert runtime.stat().st_uid == os.getuid()
        async with asyncssh.connect(**server.connect_kwargs()) as conn:
            assert await _run(conn, 'echo "$XDG_RUNTIME_DIR"') == f"{runtime}\n"
    finally:
        server.close()
    assert not runtime.exists()


@pytest.fixture
def custom_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("custom_sshd")


async def test_extra_config_wins_and_merges(custom_workdir: Path) -> None:
    server = start_sshd(
        custom_workdir,
        extra_config=(
            "PasswordAuthentication yes\n"
            "SetEnv RTUI_TEST=one\n"
            "Match User nobody-at-all\n"
            "    PermitTTY no\n"
        ),
    )
    try:
        config = server.config_path.read_text()
        assert config.index("PasswordAuthentication yes") < config.index(
            "PasswordAuthentication no"
        )
        assert config.rstrip().endswith("PermitTTY no")  # Match block moved to the end
        async with asyncssh.connect(**server.connect_kwargs()) as conn:
            out = await _run(conn, 'echo "$RTUI_TEST $HOME"')
        assert out == f"one {server.remote_home}\n"
    finally:
        server.stop()


async def test_unauthorised_key_is_refused(sshd: SSHD, custom_workdir: Path) -> None:
    server = start_sshd(custom_workdir, authorized_keys=[sshd.client_key])  # not its own key
    try:
        kwargs = server.connect_kwargs()
        with pytest.raises(asyncssh.PermissionDenied):
            async with asyncssh.connect(**kwargs):
                pass
        other_key = kwargs | {"client_keys": [str(sshd.client_key)]}
        async with asyncssh.connect(**other_key) as conn:
            assert await _run(conn, "echo in") == "in\n"
    finally:
        server.stop()


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
