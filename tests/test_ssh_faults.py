"""Dead links, down hosts and concurrency: keepalive, reconnect, and `rtui check`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from rtui.core.config.model import Config, Host, Settings
from rtui.core.errors import NoGreetingError
from rtui.core.ssh.check import HostStatus
from rtui.core.ssh.connection import ConnState
from rtui.core.workspace import Workspace
from tests import reliability
from tests.conftest import run_rtui
from tests.harness.relay import BlackHole, TCPRelay
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust

C = ConnState


async def test_keepalive_notices_a_dead_link_then_reconnects(
    sshd: SSHD, isolated_home: Path
) -> None:
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        (isolated_home / ".ssh").mkdir()
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(sshd.host_key_pub) + "\n")
        settings = Settings(keepalive_interval=0.5, keepalive_count_max=2,  # dead after 1 s
                            connect_timeout=1.0, reconnect_max_delay=0.5)
        conn, events = connection(host_for(sshd, port=relay.port), settings=settings)
        await conn.connect()

        relay.freeze()  # the link goes silent: no FIN, no RST, nothing
        frozen_at = time.monotonic()
        lost = await events.until(lambda e: e.state is C.LOST, timeout=10)
        noticed = time.monotonic() - frozen_at
        assert 0.8 <= noticed <= 2.0, noticed
        assert "keepalive" in (lost.reason or "")

        relay.thaw()
        back = await events.until(
            lambda e: e.state is C.CONNECTED and e.generation == 2, timeout=15)
        assert back.previous is C.RECONNECTING
        assert (await conn.run("echo alive", timeout=5)).stdout == "alive\n"
        await conn.close()


async def test_ssh_configs_server_alive_options_set_the_keepalive(
    sshd: SSHD, isolated_home: Path
) -> None:
    """ServerAliveInterval/CountMax of the host's ssh config win over the app's setting
    (here 30 s x 3): the dead link is noticed after 1 s x (1 + 1), as asyncssh counts."""
    async with TCPRelay("127.0.0.1", sshd.port) as relay:
        (isolated_home / ".ssh").mkdir()
        (isolated_home / ".ssh" / "known_hosts").write_text(
            relay.known_hosts_line(sshd.host_key_pub) + "\n")
        config = isolated_home / ".ssh" / "config"
        config.write_text("Host t\n  ServerAliveInterval 1\n  ServerAliveCountMax 1\n")
        settings = Settings(keepalive_interval=30, keepalive_count_max=3)
        conn, events = connection(host_for(sshd, port=relay.port), settings=settings,
                                  ssh_config=config, auto_reconnect=False)
        assert (conn.route.target.keepalive_interval,
                conn.route.target.keepalive_count_max) == (1, 1)
        await conn.connect()
        relay.freeze()
        frozen_at = time.monotonic()
        lost = await events.until(lambda e: e.state is C.LOST, timeout=10)
        noticed = time.monotonic() - frozen_at
        assert 1.5 <= noticed <= 4.0, noticed
        assert "keepalive" in (lost.reason or "")
        await conn.close()


async def test_ssh_configs_connect_timeout_wins_over_the_apps(isolated_home: Path) -> None:
    hole = await BlackHole().start()
    try:
        config = isolated_home / ".ssh" / "config"
        config.parent.mkdir()
        config.write_text(f"Host down\n  HostName 127.0.0.1\n  Port {hole.port}\n"
                          "  ConnectTimeout 1\n")
        conn, _ = connection(Host("down"), settings=Settings(connect_timeout=30),
                             ssh_config=config, auto_reconnect=False)
        started = time.monotonic()
        with pytest.raises(NoGreetingError, match="no SSH greeting within 1 s"):
            await conn.connect()
        assert time.monotonic() - started < 5
    finally:
        await hole.close()


def checks_of(hosts: list[Host], settings: Settings) -> Workspace:
    """A workspace of these hosts that only checks them, as `rtui check` does."""
    return Workspace(None, config=Config(settings=settings, hosts=tuple(hosts)),
                     settings=settings, auto_reconnect=False, prefetch=False)


async def test_checks_run_concurrently_and_down_hosts_do_not_hold_up_the_others(
    sshd: SSHD, jump_sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    trust(jump_sshd, isolated_home)
    holes = [await BlackHole().start() for _ in range(3)]
    try:
        timeout = 1.0
        hosts = [host_for(sshd, "a"), host_for(jump_sshd, "b")]
        hosts += [Host(f"down{i}", hostname="127.0.0.1", port=h.port) for i, h in enumerate(holes)]
        workspace = checks_of(hosts, Settings(connect_timeout=timeout))
        started = time.monotonic()
        results = {s.name: s for s in await workspace.check(
            [h.name for h in hosts], prompter=None, timeout=timeout)}
        wall = time.monotonic() - started
        # Three handshakes time out at once: about one timeout in all, not three.
        assert wall < timeout * 1.8, wall
        for name in ("a", "b"):
            assert results[name].ok and results[name].rtt_ms is not None
        for i, hole in enumerate(holes):
            down = results[f"down{i}"]
            assert not down.ok and down.failed_step == "ssh"
            assert down.error == (f"127.0.0.1:{hole.port} accepted the connection but sent "
                                  "no SSH greeting within 1 s (not an SSH server, or one too "
                                  "busy to answer)")
        await workspace.close()
    finally:
        for hole in holes:
            await hole.close()


async def test_hosts_that_never_answer_hold_no_check_slot(
    sshd: SSHD, isolated_home: Path
) -> None:
    """With one check at a time and three silent hosts listed first, the good host is still
    checked at once, on the one TCP connection its tcp step opened."""
    trust(sshd, isolated_home)
    holes = [await BlackHole().start() for _ in range(3)]
    try:
        timeout = 1.5
        hosts = [Host(f"down{i}", hostname="127.0.0.1", port=h.port) for i, h in enumerate(holes)]
        hosts.append(host_for(sshd, "good"))
        workspace = checks_of(hosts, Settings(connect_timeout=timeout, check_concurrency=1))
        before = sshd.log_text().count("Connection from 127.0.0.1")
        started = time.monotonic()
        done_at: dict[str, float] = {}
        statuses: list[HostStatus] = []

        def arrived(status: HostStatus) -> None:
            done_at[status.name] = time.monotonic() - started
            statuses.append(status)

        await workspace.check([h.name for h in hosts], prompter=None, timeout=timeout,
                              on_status=arrived)
        for status in statuses:
            if status.name == "good":
                assert status.ok, status.error
                assert status.tcp_ms is not None and status.ssh_ms is not None
            else:
                assert status.failed_step == "ssh" and status.error_kind == "no-greeting"
        assert done_at["good"] < timeout, done_at
        assert max(done_at.values()) < timeout * 1.6, done_at
        assert sshd.log_text().count("Connection from 127.0.0.1") - before == 1
        await workspace.close()
    finally:
        for hole in holes:
            await hole.close()


@pytest.mark.reliability
async def test_rtui_check_cli_three_hosts_one_down(
    sshd: SSHD, jump_sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    trust(jump_sshd, isolated_home)
    hole = await BlackHole().start()
    try:
        for name, server in (("lab", sshd), ("gpu", jump_sshd)):
            assert run_rtui("hosts", "add", name, "--hostname", "127.0.0.1", "--port",
                            str(server.port), "--user", server.user,
                            "--identity", str(server.client_key)).returncode == 0
        assert run_rtui("hosts", "add", "down", "--hostname", "127.0.0.1",
                        "--port", str(hole.port)).returncode == 0
        started = time.monotonic()
        result = run_rtui("check", "--json", "--timeout", "2")
        wall = time.monotonic() - started
    finally:
        await hole.close()
    assert result.returncode == 1, result.stderr
    statuses = {s["name"]: s for s in map(json.loads, result.stdout.splitlines())}
    assert set(statuses) == {"lab", "gpu", "down"}
    for name in ("lab", "gpu"):
        s = statuses[name]
        assert s["ok"] and s["error"] is None
        assert s["os"] == "Linux" and s["arch"]
        assert s["tcp_ms"] >= 0 and s["ssh_ms"] > 0 and s["rtt_ms"] > 0
        assert any(p["path"].endswith("python3") for p in s["pythons"])
        assert s["kernels"] >= 0
    assert statuses["down"]["error"] == (
        f"127.0.0.1:{hole.port} accepted the connection but sent no SSH greeting within 2 s "
        "(not an SSH server, or one too busy to answer)")
    assert wall < 2 * 2, wall  # the slowest timeout plus start-up, not the sum

    text = run_rtui("check", "lab")
    assert text.returncode == 0
    assert text.stdout.startswith("lab: ok | tcp ")
    reliability.record("faults", "a server that accepts and never speaks (rtui check of it "
                       "and two good hosts, --timeout 2)", tried=1,
                       seen=statuses["down"]["error"].replace(str(hole.port), "PORT"),
                       lost=sum(not statuses[n]["ok"] for n in ("lab", "gpu")), recover_s=wall)


def test_rtui_check_without_tty_refuses_unknown_keys_unless_accept_new(sshd: SSHD) -> None:
    add = ("hosts", "add", "lab", "--hostname", "127.0.0.1", "--port", str(sshd.port),
           "--user", sshd.user, "--identity", str(sshd.client_key))
    assert run_rtui(*add).returncode == 0
    result = run_rtui("check", "lab")
    assert result.returncode == 1
    assert "unknown host key for [127.0.0.1]:" in result.stdout
    assert run_rtui("hosts", "edit", "lab", "--host-key-policy", "accept-new").returncode == 0
    assert run_rtui("check", "lab").returncode == 0
    assert run_rtui("hosts", "edit", "lab", "--clear", "host-key-policy").returncode == 0
    assert run_rtui("check", "lab").returncode == 0  # remembered in rtui's known_hosts


def test_check_of_an_unknown_host_name_is_an_error() -> None:
    result = run_rtui("check", "nope")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("rtui: no host named 'nope'")


async def test_rtui_check_timeout_wins_over_the_ssh_configs_connect_timeout(
    isolated_home: Path,
) -> None:
    """`--timeout` given on the command line is the bound, not ConnectTimeout 30 from
    ~/.ssh/config (which otherwise wins over the connect_timeout setting)."""
    hole = await BlackHole().start()
    try:
        config = isolated_home / ".ssh" / "config"
        config.parent.mkdir(exist_ok=True)
        config.write_text(f"Host down\n  HostName 127.0.0.1\n  Port {hole.port}\n"
                          "  ConnectTimeout 30\n")
        assert run_rtui("hosts", "import").returncode == 0  # "down", from the ssh config
        started = time.monotonic()
        result = await asyncio.to_thread(run_rtui, "check", "down", "--timeout", "1")
        took = time.monotonic() - started
        assert result.returncode == 1
        assert "no SSH greeting within 1 s" in result.stdout, result.stdout + result.stderr
        assert took < 20, took  # not ConnectTimeout's 30 s
    finally:
        await hole.close()
