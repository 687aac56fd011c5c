"""HostConnection against a real OpenSSH sshd: auth, host keys, jump chains, reconnect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtui.core.config.model import Host, Settings
from rtui.core.errors import AuthenticationError, HostKeyChangedError, HostKeyUnknownError
from rtui.core.locations import data_dir
from rtui.core.ssh.connection import ConnState
from rtui.core.ssh.prompts import HostKeyDecision, HostKeyPrompt
from tests.harness.sshd import SSHD
from tests.ssh_helpers import ScriptedPerson, connection, host_for, states, trust

C = ConnState


async def test_key_auth_runs_a_command_and_reports_states(
    sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    conn, events = connection(host_for(sshd))
    await conn.connect()
    result = await conn.run("echo hello; echo $HOME", timeout=10)
    assert result.stdout == f"hello\n{sshd.remote_home}\n"
    assert await conn.connect() is conn.conn  # shared, not reopened
    await conn.close()
    assert states(events) == [C.CONNECTING, C.CONNECTED, C.DISCONNECTED]
    assert events[1].generation == 1


async def test_aes_gcm_is_negotiated_with_openssh(sshd: SSHD, isolated_home: Path) -> None:
    """AES-GCM first (asyncssh's ChaCha20 costs ~5x the CPU per packet); sshd agrees."""
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd))
    ssh = await conn.connect()
    assert ssh.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    assert ssh.get_extra_info("recv_cipher") == "aes128-gcm@openssh.com"
    assert (await conn.run("echo ok", timeout=10)).stdout == "ok\n"
    await conn.close()


async def test_host_named_like_an_ssh_alias_takes_its_settings(
    sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    ssh_config = isolated_home / ".ssh" / "config"
    ssh_config.write_text(
        f"Host lab\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User nobody-here\n"
        f"  IdentityFile {sshd.client_key}\n"
    )
    # rtui's own user wins over the ssh config's; the rest comes from the alias.
    conn, _ = connection(Host("lab", user=sshd.user), ssh_config=ssh_config)
    assert conn.route.target.port == sshd.port
    await conn.connect()
    assert (await conn.run("echo ok", timeout=10)).stdout == "ok\n"
    await conn.close()


async def test_unknown_host_key_refused(sshd: SSHD) -> None:
    person = ScriptedPerson(host_key=HostKeyDecision.REFUSE)
    conn, events = connection(host_for(sshd), person=person)
    with pytest.raises(HostKeyUnknownError) as info:
        await conn.connect()
    prompt = person.asked[0]
    assert isinstance(prompt, HostKeyPrompt)
    assert prompt.host == f"[127.0.0.1]:{sshd.port}"
    assert prompt.key_type == "ssh-ed25519"
    assert prompt.fingerprint.startswith("SHA256:")
    assert prompt.fingerprint in str(info.value)
    assert states(events)[-1] is C.FAILED
    assert not (data_dir() / "known_hosts").exists()


async def test_unknown_host_key_accepted_and_remembered(sshd: SSHD) -> None:
    person = ScriptedPerson(host_key=HostKeyDecision.ACCEPT_REMEMBER)
    conn, _ = connection(host_for(sshd), person=person)
    await conn.connect()
    await conn.close()
    recorded = (data_dir() / "known_hosts").read_text()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert (data_dir() / "known_hosts").stat().st_mode & 0o777 == 0o600
    # Next time: no question.
    again = ScriptedPerson()
    conn, _ = connection(host_for(sshd), person=again)
    await conn.connect()
    await conn.close()
    assert again.asked == []


async def test_accept_once_is_not_written(sshd: SSHD) -> None:
    person = ScriptedPerson(host_key=HostKeyDecision.ACCEPT_ONCE)
    conn, _ = connection(host_for(sshd), person=person)
    await conn.connect()
    await conn.close()
    assert not (data_dir() / "known_hosts").exists()


async def test_no_person_refuses_unless_policy_accept_new(sshd: SSHD) -> None:
    conn, _ = connection(host_for(sshd))  # no prompter: like a run without a TTY
    with pytest.raises(HostKeyUnknownError, match="not accepted"):
        await conn.connect()
    conn, _ = connection(host_for(sshd, host_key_policy="accept-new"))
    await conn.connect()
    await conn.close()
    assert f"[127.0.0.1]:{sshd.port}" in (data_dir() / "known_hosts").read_text()


async def test_strict_policy_refuses_without_asking(sshd: SSHD) -> None:
    person = ScriptedPerson(host_key=HostKeyDecision.ACCEPT_REMEMBER)
    conn, _ = connection(host_for(sshd, host_key_policy="strict"), person=person)
    with pytest.raises(HostKeyUnknownError, match="strict"):
        await conn.connect()
    assert person.asked == []


async def test_changed_host_key_is_refused_loudly(fresh_sshd: SSHD, isolated_home: Path) -> None:
    trust(fresh_sshd, isolated_home)
    conn, _ = connection(host_for(fresh_sshd))
    await conn.connect()
    old = conn.conn.get_server_host_key()
    assert old is not None
    await conn.close()
    fresh_sshd.restart(new_host_key=True)
    person = ScriptedPerson(host_key=HostKeyDecision.ACCEPT_REMEMBER)
    conn, events = connection(host_for(fresh_sshd), person=person)
    with pytest.raises(HostKeyChangedError) as info:
        await conn.connect()
    message = str(info.value)
    new_fp = re.search(r"now presents ssh-ed25519 (SHA256:\S+),", message)
    assert new_fp and new_fp.group(1) != old.get_fingerprint("sha256")
    assert old.get_fingerprint("sha256") in message
    assert "~/.ssh/known_hosts line 1" in message
    assert "HOST KEY CHANGED" in message
    assert person.asked == []  # never offered as a question
    assert states(events)[-1] is C.FAILED


async def test_two_hop_proxyjump_chain(
    sshd_factory: object, jump_sshd: SSHD, sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    trust(jump_sshd, isolated_home)
    jump = host_for(jump_sshd, "bastion")
    target = host_for(sshd, "inner", jump=("bastion",))
    conn, _ = connection(jump, target)
    assert [h.label for h in conn.route.hops] == ["bastion", "inner"]
    await conn.connect()
    # The target sees the connection arrive from the jump host's sshd, not from us directly.
    out = (await conn.run("echo $SSH_CONNECTION", timeout=10)).stdout
    client_port = int(str(out).split()[1])
    jump_conn = conn._conns[0]
    assert jump_conn.get_extra_info("peername")[1] == jump_sshd.port
    assert client_port != conn._conns[1].get_extra_info("sockname")  # tunnelled
    await conn.close()


async def test_each_hop_is_host_key_checked(
    jump_sshd: SSHD, sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)  # the target is known, the jump host is not
    jump = host_for(jump_sshd, "bastion")
    target = host_for(sshd, "inner", jump=("bastion",))
    conn, _ = connection(jump, target)
    with pytest.raises(HostKeyUnknownError, match=r"^jump host bastion: unknown host key"):
        await conn.connect()


async def test_wrong_key_is_an_authentication_error(sshd: SSHD, isolated_home: Path,
                                                    tmp_path: Path) -> None:
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, identity_files=(str(tmp_path / "missing"),)))
    with pytest.raises(AuthenticationError) as info:
        await conn.connect()
    assert str(info.value).startswith(f"authentication failed for {sshd.user}@127.0.0.1 (tried:")
    assert "identity file" in str(info.value) and "does not exist" in str(info.value)


async def test_reconnects_after_sshd_restarts(fresh_sshd: SSHD, isolated_home: Path) -> None:
    trust(fresh_sshd, isolated_home)
    conn, events = connection(host_for(fresh_sshd), settings=Settings(reconnect_max_delay=1.0))
    await conn.connect()
    fresh_sshd.restart()
    back = await events.until(
        lambda e: e.state is C.FAILED or (e.state is C.CONNECTED and e.generation == 2),
        timeout=20,
    )
    assert back.state is C.CONNECTED
    assert (await conn.run("echo back", timeout=10)).stdout == "back\n"
    seen = states(events)
    assert seen[:2] == [C.CONNECTING, C.CONNECTED]
    assert C.LOST in seen and C.RECONNECTING in seen and seen[-1] is C.CONNECTED
    assert events[-1].generation == 2  # consumers re-establish their forwards on this
    await conn.close()


async def test_manual_reconnect(sshd: SSHD, isolated_home: Path) -> None:
    trust(sshd, isolated_home)
    conn, events = connection(host_for(sshd))
    first = await conn.connect()
    second = await conn.reconnect()
    assert first is not second
    assert conn.generation == 2
    assert (await conn.run("echo ok", timeout=10)).stdout == "ok\n"
    await conn.close()
    assert C.LOST not in states(events)  # a manual reconnect is not a loss
