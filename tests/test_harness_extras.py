"""Self-tests for the extra harness pieces: fault-injecting relay, black hole, password
account, ssh-agent and the keyboard-interactive (2FA) server.  Everything is real: OpenSSH
sshd / ssh-agent / ssh-keygen and asyncssh over loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh
import pytest

from tests.harness.accounts import Account, ensure_password_account, shadow_entry
from tests.harness.agent import SSHAgent, make_key
from tests.harness.kbdint import KbdIntAnswerer, KbdIntServer
from tests.harness.relay import BlackHole, TCPRelay
from tests.harness.sshd import SSHD, pid_alive

# Until tests/conftest.py imports the new fixtures by name, make them visible here
# (assignments, not imports, so ruff does not see the test parameters as redefinitions).

pytestmark = pytest.mark.timeout(30)

STEP = 5.0  # seconds any single operation that should succeed may take


async def _run(conn: asyncssh.SSHClientConnection, command: str) -> str:
    result = await asyncio.wait_for(conn.run(command, check=True), STEP)
    assert isinstance(result.stdout, str)
    return result.stdout


def _relay_kwargs(server: SSHD, relay: TCPRelay, tmp_path: Path) -> dict[str, object]:
    known_hosts = tmp_path / "relay_known_hosts"
    known_hosts.write_text(relay.known_hosts_line(server.host_key_pub) + "\n")
    return server.connect_kwargs() | {"port": relay.port, "known_hosts": str(known_hosts)}


# ------------------------------------------------------------------------ relay


async def test_relay_forwards_freezes_and_cuts(sshd: SSHD, tmp_path: Path) -> None:
    async with TCPRelay(sshd.host, sshd.port) as relay:
        kwargs = _relay_kwargs(sshd, relay, tmp_path)
        conn = await asyncio.wait_for(asyncssh.connect(**kwargs), STEP)
        try:
            assert await _run(conn, "echo through-relay") == "through-relay\n"
            assert relay.active == 1
            assert relay.bytes_forwarded > 0

            relay.freeze()
            assert relay.frozen
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(conn.run("true"), 1.0)
            assert not conn.is_closed()  # nothing was closed: the link just went silent
            assert relay.active == 1

            relay.thaw()  # held bytes arrive, the connection carries on
            assert await _run(conn, "echo thawed") == "thawed\n"

            relay.cut()
            await asyncio.wait_for(conn.wait_closed(), STEP)
            assert relay.active == 0
            with pytest.raises((asyncssh.Error, OSError)):
                await asyncio.wait_for(conn.run("true"), STEP)
        finally:
            conn.close()

        # The relay itself keeps accepting after cut().
        async with asyncssh.connect(**kwargs) as again:
            assert await _run(again, "echo again") == "again\n"


async def test_relay_freeze_lets_client_keepalive_notice(sshd: SSHD, tmp_path: Path) -> None:
    async with TCPRelay(sshd.host, sshd.port) as relay:
        kwargs = _relay_kwargs(sshd, relay, tmp_path) | {
            "keepalive_interval": 0.3,
            "keepalive_count_max": 2,
        }
        async with asyncssh.connect(**kwargs) as conn:
            relay.freeze()
            started = time.monotonic()
            await asyncio.wait_for(conn.wait_closed(), STEP)
            assert time.monotonic() - started < 2.0
        relay.thaw()


async def test_relay_close_while_frozen(sshd: SSHD, tmp_path: Path) -> None:
    relay = await TCPRelay(sshd.host, sshd.port).start()
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(**_relay_kwargs(sshd, relay, tmp_path)), STEP
        )
        relay.freeze()
        pending = asyncio.create_task(conn.run("true"))
        await asyncio.sleep(0.2)
    finally:
        await asyncio.wait_for(relay.close(), STEP)  # must not wait for a thaw
    await asyncio.wait_for(conn.wait_closed(), STEP)
    with pytest.raises((asyncssh.Error, OSError)):
        await asyncio.wait_for(pending, STEP)
    assert relay.active == 0


async def test_relay_refuse_new_and_delay(sshd: SSHD, tmp_path: Path) -> None:
    async with TCPRelay(sshd.host, sshd.port) as relay:
        kwargs = _relay_kwargs(sshd, relay, tmp_path)
        relay.refuse_new = True
        with pytest.raises((asyncssh.Error, OSError)):
            await asyncio.wait_for(asyncssh.connect(**kwargs), STEP)
        assert relay.accepted == 1
        assert relay.active == 0

        relay.refuse_new = False
        async with asyncssh.connect(**kwargs) as conn:
            started = time.monotonic()
            await _run(conn, "true")
            fast = time.monotonic() - started
            relay.delay = 0.1
            started = time.monotonic()
            await _run(conn, "true")
            slow = time.monotonic() - started
        # A command needs several round trips (channel open, exec, exit status, close).
        assert slow >= 0.2 > fast


@asynccontextmanager
async def _echo_server() -> AsyncIterator[int]:
    """A TCP echo server on loopback; yields its port."""
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def test_relay_delay_is_pipelined_and_ordered() -> None:
    """Ten messages sent 20 ms apart through 100 ms each way come back in order, each about
    one round trip (200 ms) after it was sent: not one after another (2 s)."""
    async with _echo_server() as port, TCPRelay("127.0.0.1", port) as relay:
        relay.delay = 0.1
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        sent: list[float] = []
        started = time.monotonic()
        for n in range(10):
            writer.write(b"%d\n" % n)
            sent.append(time.monotonic())
            await asyncio.sleep(0.02)
        received = []
        for _ in range(10):
            line = await asyncio.wait_for(reader.readline(), STEP)
            received.append((int(line), time.monotonic()))
        assert [n for n, _ in received] == list(range(10))
        for (n, at) in received:
            assert 0.19 <= at - sent[n] < 0.45, (n, at - sent[n])
        assert time.monotonic() - started < 1.0
        writer.close()


async def test_relay_bandwidth_paces_bulk_transfers() -> None:
    """400 kB through a 2 MB/s link (each way) takes at least 0.2 s; unlimited, much less."""
    async with _echo_server() as port, TCPRelay("127.0.0.1", port) as relay:
        payload = bytes(400_000)
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        started = time.monotonic()
        writer.write(payload)
        await asyncio.wait_for(reader.readexactly(len(payload)), STEP)
        fast = time.monotonic() - started
        relay.bandwidth = 2_000_000
        started = time.monotonic()
        writer.write(payload)
        await asyncio.wait_for(reader.readexactly(len(payload)), STEP)
        slow = time.monotonic() - started
        assert slow >= 0.2 > fast, (slow, fast)
        writer.close()


async def test_relay_freeze_holds_delayed_chunks() -> None:
    """A chunk in flight when the link freezes arrives only after the thaw."""
    async with _echo_server() as port, TCPRelay("127.0.0.1", port) as relay:
        relay.delay = 0.05
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(b"held\n")
        await asyncio.sleep(0.01)
        relay.freeze()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readline(), 0.4)
        relay.thaw()
        assert await asyncio.wait_for(reader.readline(), STEP) == b"held\n"
        writer.close()


async def test_relay_target_down_resets_client() -> None:
    async with BlackHole() as hole:
        port = hole.port
    async with TCPRelay("127.0.0.1", port) as relay:  # nothing listens there any more
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        try:
            data = await asyncio.wait_for(reader.read(100), STEP)
        except ConnectionResetError:
            data = b""
        assert data == b""
        writer.close()


# ------------------------------------------------------------------- black hole


@pytest.mark.parametrize("accept", [True, False], ids=["accepting", "backlog"])
async def test_black_hole_times_out_ssh_login(accept: bool, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    async with BlackHole(accept=accept) as hole:
        started = time.monotonic()
        # login_timeout covers the whole handshake: asyncssh raises ConnectionLost for it
        # (connect_timeout=1 would raise a plain TimeoutError instead).
        with pytest.raises(asyncssh.ConnectionLost, match="Login timeout") as caught:
            await asyncio.wait_for(
                asyncssh.connect(
                    "127.0.0.1",
                    hole.port,
                    username="nobody",
                    known_hosts=str(known_hosts),
                    config=None,
                    agent_path=None,
                    client_keys=None,
                    login_timeout=1,
                ),
                STEP,
            )
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 1.5, (elapsed, caught.value)
        if accept:
            await asyncio.sleep(0)
            assert hole.connections == 1


# ------------------------------------------------------------ password account


def test_password_account_is_unlocked(password_account: Account) -> None:
    shadow = shadow_entry(password_account.name)
    assert shadow is not None
    assert shadow[1].startswith("$") and not shadow[1].startswith("!")
    assert shadow[2] not in ("", "0")  # 0 would force a password change at login
    assert password_account.home.is_dir()
    assert password_account.home.stat().st_uid == password_account.uid
    assert ensure_password_account() == password_account  # idempotent


async def test_password_login(password_sshd: SSHD, password_account: Account) -> None:
    base = password_sshd.connect_kwargs() | {
        "username": password_account.name,
        "client_keys": None,  # no public key auth: only the password can work
    }
    methods = await asyncio.wait_for(
        asyncssh.get_server_auth_methods(
            password_sshd.host, password_sshd.port, password_account.name, config=None
        ),
        STEP,
    )
    assert "password" in methods and "keyboard-interactive" not in methods

    async with asyncssh.connect(**base, password=password_account.password) as conn:
        out = await _run(conn, "id -un; echo $HOME; touch $HOME/.rtui-touch && echo w")
    assert out.split() == [password_account.name, str(password_account.home), "w"]

    with pytest.raises(asyncssh.PermissionDenied):
        await asyncio.wait_for(asyncssh.connect(**base, password="wrong-password"), STEP)


# ----------------------------------------------------------------------- agent


async def test_agent_login(
    ssh_agent: SSHAgent, sshd_factory: Callable[..., SSHD], tmp_path: Path
) -> None:
    key = make_key(tmp_path / "keys" / "id_agent")
    assert key.is_file() and (tmp_path / "keys" / "id_agent.pub").is_file()
    server = sshd_factory(authorized_keys=[key])
    assert ssh_agent.list_keys() == []
    ssh_agent.add(key)
    assert len(ssh_agent.list_keys()) == 1

    kwargs = ssh_agent.connect_kwargs(server)
    assert kwargs["agent_path"] == str(ssh_agent.socket) and kwargs["client_keys"] == []
    async with asyncssh.connect(**kwargs) as conn:
        assert await _run(conn, "echo via-agent") == "via-agent\n"
    assert "Accepted publickey" in server.log_text()

    # Without the agent the same kwargs have no key left ...
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncio.wait_for(asyncssh.connect(**kwargs | {"agent_path": None}), STEP)
    # ... and client_keys=None switches public key auth off, agent included.
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncio.wait_for(asyncssh.connect(**kwargs | {"client_keys": None}), STEP)


async def test_agent_passphrase_key_and_stop(
    sshd_factory: Callable[..., SSHD], tmp_path: Path
) -> None:
    key = make_key(tmp_path / "id_ecdsa_pp", passphrase="s3cret phrase", kind="ecdsa")
    server = sshd_factory(authorized_keys=[key])
    agent = SSHAgent().start()  # own short temp dir
    try:
        assert agent.pid is not None and pid_alive(agent.pid)
        with pytest.raises(RuntimeError):
            agent.add(key, passphrase="wrong")
        agent.add(key, passphrase="s3cret phrase")
        async with asyncssh.connect(**agent.connect_kwargs(server)) as conn:
            assert await _run(conn, "echo pp") == "pp\n"
    finally:
        pid = agent.pid
        agent.stop()
    assert pid is not None and not pid_alive(pid)
    assert not agent.socket.exists()


async def test_empty_client_keys_loads_home_keys(
    isolated_home: Path, sshd_factory: Callable[..., SSHD]
) -> None:
    """The pitfall behind SSHAgent.connect_kwargs(): client_keys=[] reads ~/.ssh/id_*."""
    key = make_key(isolated_home / ".ssh" / "id_ed25519")
    server = sshd_factory(authorized_keys=[key])
    kwargs = server.connect_kwargs() | {"client_keys": [], "agent_path": None}
    async with asyncssh.connect(**kwargs) as conn:  # logs in with the key from HOME
        assert await _run(conn, "echo home-key") == "home-key\n"
    agent = SSHAgent()
    with pytest.raises(RuntimeError, match="client_keys"):
        agent.connect_kwargs(server)  # refuses: HOME has a default key


# ---------------------------------------------------------- keyboard-interactive


def _answerer(code: str = "123456") -> KbdIntAnswerer:
    return KbdIntAnswerer({"Password: ": "pw", "Verification code: ": code})


async def test_kbdint_server_two_challenges(kbdint_server: KbdIntServer) -> None:
    methods = await asyncio.wait_for(
        asyncssh.get_server_auth_methods(
            kbdint_server.host, kbdint_server.port, kbdint_server.username, config=None
        ),
        STEP,
    )
    assert methods == ["keyboard-interactive"]
    assert kbdint_server.known_hosts.read_text().startswith(f"[127.0.0.1]:{kbdint_server.port} ")
    assert kbdint_server.fingerprint.startswith("SHA256:")

    client = _answerer()
    async with asyncssh.connect(
        **kbdint_server.connect_kwargs(), client_factory=lambda: client
    ) as conn:
        assert await _run(conn, "echo ok") == "ok\n"
        result = await asyncio.wait_for(conn.run("echo err >&2; exit 3"), STEP)
        assert (result.exit_status, result.stderr) == (3, "err\n")
    assert [prompts for _name, _instr, prompts in client.challenges] == [
        [("Password: ", False)],
        [("Verification code: ", True)],
    ]
    assert client.challenges[0][1] == kbdint_server.instructions
    assert (kbdint_server.attempts, kbdint_server.failures, kbdint_server.logins) == (2, 0, 1)
    assert kbdint_server.commands == ["echo ok", "echo err >&2; exit 3"]


async def test_kbdint_server_rejects(kbdint_server: KbdIntServer) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncio.wait_for(
            asyncssh.connect(
                **kbdint_server.connect_kwargs(), client_factory=lambda: _answerer("000000")
            ),
            STEP,
        )
    # asyncssh re-answers a failed challenge; the server hangs up after max_auth_tries.
    assert kbdint_server.failures == kbdint_server.max_auth_tries == 3
    assert kbdint_server.logins == 0

    # password= alone answers a single "Password" prompt, never the verification code.
    kwargs = kbdint_server.connect_kwargs() | {"password": "pw"}
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncio.wait_for(asyncssh.connect(**kwargs), STEP)

    # Wrong user: rejected although both answers are right.
    kwargs = kbdint_server.connect_kwargs() | {"username": "somebody-else"}
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncio.wait_for(asyncssh.connect(**kwargs, client_factory=_answerer), STEP)
    assert kbdint_server.logins == 0
