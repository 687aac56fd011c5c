"""Every way in: agent, passphrase-protected key, password, keyboard-interactive (2FA)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from rtui.core.config.model import Host
from rtui.core.errors import AuthenticationError
from rtui.core.ssh.prompts import HostKeyDecision, KbdIntPrompt, NoPrompter, SecretPrompt
from tests.harness.accounts import Account
from tests.harness.agent import SSHAgent, make_key
from tests.harness.kbdint import KbdIntServer
from tests.harness.sshd import SSHD
from tests.ssh_helpers import ScriptedPerson, connection, host_for, trust


async def test_agent_auth(
    ssh_agent: SSHAgent, sshd_factory: Callable[..., SSHD], isolated_home: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = make_key(tmp_path / "agent_key")
    server = sshd_factory(authorized_keys=[key])  # only the agent's key gets in
    trust(server, isolated_home)
    ssh_agent.add(key)
    host = host_for(server, identity_files=())

    conn, _ = connection(host)  # SSH_AUTH_SOCK unset: no agent, no key
    with pytest.raises(AuthenticationError, match="authentication failed"):
        await conn.connect()

    # As in a nested session with agent forwarding: only SSH_AUTH_SOCK points at the agent.
    monkeypatch.setenv("SSH_AUTH_SOCK", str(ssh_agent.socket))
    conn, _ = connection(host)
    await conn.connect()
    assert (await conn.run("echo via-agent", timeout=10)).stdout == "via-agent\n"
    await conn.close()


async def test_passphrase_protected_key(
    sshd_factory: Callable[..., SSHD], isolated_home: Path, tmp_path: Path
) -> None:
    key = make_key(tmp_path / "locked_key", passphrase="correct horse")
    server = sshd_factory(authorized_keys=[key])
    trust(server, isolated_home)
    host = host_for(server, identity_files=(str(key),))

    person = ScriptedPerson(secrets={"passphrase": "correct horse"})
    conn, _ = connection(host, person=person)
    await conn.connect()
    assert person.asked == [SecretPrompt("passphrase", str(key), f"Passphrase for {key}: ")]
    await conn.reconnect()  # kept in memory for the connection's life: not asked again
    assert len(person.asked) == 1
    await conn.close()

    wrong = ScriptedPerson(secrets={"passphrase": "wrong"})
    conn, _ = connection(host, person=wrong)
    with pytest.raises(AuthenticationError) as info:
        await conn.connect()
    assert f"wrong passphrase for {key}" in str(info.value)
    assert len(wrong.asked) == 1  # no retry loop


async def test_password_auth(
    password_sshd: SSHD, password_account: Account, isolated_home: Path
) -> None:
    trust(password_sshd, isolated_home)
    host = Host("pw", hostname="127.0.0.1", port=password_sshd.port, user=password_account.name)

    person = ScriptedPerson(secrets={"password": password_account.password})
    conn, _ = connection(host, person=person)
    await conn.connect()
    assert (await conn.run("id -un", timeout=10)).stdout == f"{password_account.name}\n"
    assert [(a.kind, a.target) for a in person.asked] == [  # type: ignore[attr-defined]
        ("password", f"{password_account.name}@127.0.0.1:{password_sshd.port}")
    ]
    await conn.close()

    wrong = ScriptedPerson(secrets={"password": "not-it"})
    conn, _ = connection(host, person=wrong)
    with pytest.raises(AuthenticationError) as info:
        await conn.connect()
    message = str(info.value)
    assert message.startswith(f"authentication failed for {password_account.name}@127.0.0.1")
    assert "password" in message.split("(tried: ")[1]
    assert len(wrong.asked) == 1  # asked once, then a clear error: no loop

    cancelled = ScriptedPerson(secrets={})
    conn, _ = connection(host, person=cancelled)
    with pytest.raises(AuthenticationError, match="cancelled at the prompt"):
        await conn.connect()


async def test_a_person_who_comes_while_an_unattended_login_runs_is_asked(
    password_sshd: SSHD, password_account: Account, isolated_home: Path
) -> None:
    """The start-up check logs in asking nobody; a console opened meanwhile on that host
    connects with its own prompter, and the password question of the attempt already under
    way goes to the person (it was refused, and the console failed with it)."""
    trust(password_sshd, isolated_home)
    host = Host("pw", hostname="127.0.0.1", port=password_sshd.port, user=password_account.name)
    conn, _ = connection(host, person=NoPrompter())
    attempt = asyncio.ensure_future(conn.connect())
    await asyncio.sleep(0)  # the attempt is under way, nowhere near its password yet
    person = ScriptedPerson(secrets={"password": password_account.password})
    console = asyncio.ensure_future(conn.connect(prompter=person))  # type: ignore[arg-type]
    await attempt
    assert await console is await attempt  # the console shares the attempt's connection
    assert (await conn.run("id -un", timeout=10)).stdout == f"{password_account.name}\n"
    assert [a.kind for a in person.asked] == ["password"]  # type: ignore[attr-defined]
    await conn.close()


async def test_an_attempt_that_could_not_ask_is_retried_with_the_callers_prompter(
    password_sshd: SSHD, password_account: Account, isolated_home: Path
) -> None:
    """The unattended login failed (it asked nobody); a person's connect then makes its own
    attempt, which asks them. Later attempts that name nobody ask whom the last successful
    one asked (the secrets typed are forgotten on close, so the question comes again)."""
    trust(password_sshd, isolated_home)
    host = Host("pw", hostname="127.0.0.1", port=password_sshd.port, user=password_account.name)
    conn, _ = connection(host, person=NoPrompter())
    with pytest.raises(AuthenticationError, match="cancelled at the prompt"):
        await conn.connect()
    person = ScriptedPerson(secrets={"password": password_account.password})
    await conn.connect(prompter=person)  # type: ignore[arg-type]
    assert [a.kind for a in person.asked] == ["password"]  # type: ignore[attr-defined]
    await conn.close()
    await conn.connect()
    assert [a.kind for a in person.asked] == ["password", "password"]  # type: ignore[attr-defined]
    assert (await conn.run("id -un", timeout=10)).stdout == f"{password_account.name}\n"
    await conn.close()


async def test_an_unattended_login_that_succeeded_leaves_later_questions_to_a_person(
    sshd: SSHD, isolated_home: Path
) -> None:
    """The start-up check logs in asking nobody (a key, no question); a later attempt that
    names nobody (the agent, a forward, a reconnect) must still reach the person, not the
    check's NoPrompter: here the host key is no longer known when it comes."""
    trust(sshd, isolated_home)
    person = ScriptedPerson(host_key=HostKeyDecision.ACCEPT_ONCE)
    conn, _ = connection(host_for(sshd), person=person)
    await conn.connect(prompter=NoPrompter())
    assert person.asked == []
    await conn.close()
    (isolated_home / ".ssh" / "known_hosts").write_text("")
    await conn.connect()
    assert [type(a).__name__ for a in person.asked] == ["HostKeyPrompt"]
    await conn.close()


async def test_keyboard_interactive_two_factor(
    kbdint_server: KbdIntServer, isolated_home: Path
) -> None:
    (isolated_home / ".ssh").mkdir(exist_ok=True)
    (isolated_home / ".ssh" / "known_hosts").write_text(kbdint_server.known_hosts.read_text())
    host = Host("otp", hostname="127.0.0.1", port=kbdint_server.port,
                user=kbdint_server.username)

    person = ScriptedPerson(kbdint={"Password: ": "pw", "Verification code: ": "123456"})
    conn, _ = connection(host, person=person)
    await conn.connect()
    assert (await conn.run("echo ok", timeout=10)).stdout == "ok\n"
    await conn.close()
    prompts = [a.prompts for a in person.asked if isinstance(a, KbdIntPrompt)]
    assert prompts == [(("Password: ", False),), (("Verification code: ", True),)]

    wrong = ScriptedPerson(kbdint={"Password: ": "pw", "Verification code: ": "000000"})
    conn, _ = connection(host, person=wrong)
    with pytest.raises(AuthenticationError) as info:
        await conn.connect()
    assert "keyboard-interactive" in str(info.value)
    asked = [a.prompts[0][0] for a in wrong.asked if isinstance(a, KbdIntPrompt)]
    assert asked.count("Verification code: ") == 1  # asked once, no loop


def _ssh_login(config: Path, name: str, agent: SSHAgent) -> subprocess.CompletedProcess[str]:
    """OpenSSH's own login with the same config and agent: the oracle for what is offered."""
    return subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", name, "true"],
        env={**os.environ, "SSH_AUTH_SOCK": str(agent.socket)}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=30, check=False,
    )


async def test_identities_only_limits_the_agent_keys_offered(
    ssh_agent: SSHAgent, sshd_factory: Callable[..., SSHD], isolated_home: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``IdentitiesOnly yes``: an agent key the server accepts but that is not the
    IdentityFile is not offered, so the login fails where it succeeds without the option;
    an agent key that is the IdentityFile still is. OpenSSH agrees on all three."""
    agent_key = make_key(tmp_path / "agent_key")
    file_key = make_key(tmp_path / "file_key", passphrase="only in the agent")
    server = sshd_factory(authorized_keys=[agent_key])
    trust(server, isolated_home)
    ssh_agent.add(agent_key)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(ssh_agent.socket))
    config = isolated_home / ".ssh" / "config"
    block = (f"Host lab\n  HostName 127.0.0.1\n  Port {server.port}\n  User {server.user}\n"
             f"  IdentityFile {file_key}\n")

    config.write_text(block)  # without IdentitiesOnly, the agent key gets in
    conn, _ = connection(Host("lab"), ssh_config=config)
    await conn.connect()
    await conn.close()
    assert _ssh_login(config, "lab", ssh_agent).returncode == 0

    config.write_text(block + "Match host 127.0.0.1\n  IdentitiesOnly yes\n")
    person = ScriptedPerson(secrets={})  # the file key's passphrase is not given
    conn, _ = connection(Host("lab"), ssh_config=config, person=person)
    assert conn.route.target.identities_only
    with pytest.raises(AuthenticationError, match="authentication failed"):
        await conn.connect()
    assert _ssh_login(config, "lab", ssh_agent).returncode == 255

    # The IdentityFile's own key in the agent is offered: in without its passphrase.
    server = sshd_factory(authorized_keys=[file_key])
    trust(server, isolated_home)
    ssh_agent.add(file_key, passphrase="only in the agent")
    config.write_text(block.replace(f"Port {conn.route.target.port}", f"Port {server.port}")
                      + "Host *\n  IdentitiesOnly yes\n")
    person = ScriptedPerson(secrets={})
    conn, _ = connection(Host("lab"), ssh_config=config, person=person)
    await conn.connect()
    assert person.asked == []
    await conn.close()
    assert _ssh_login(config, "lab", ssh_agent).returncode == 0


def _fingerprint(key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.split()[1]


async def test_identities_only_logs_in_with_the_file_not_the_agent(
    ssh_agent: SSHAgent, sshd_factory: Callable[..., SSHD], isolated_home: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server accepts both keys; the agent's is tried first unless IdentitiesOnly keeps
    it back, and then the IdentityFile's is the one sshd accepts."""
    agent_key, file_key = make_key(tmp_path / "agent_key"), make_key(tmp_path / "file_key")
    server = sshd_factory(authorized_keys=[agent_key, file_key])
    trust(server, isolated_home)
    ssh_agent.add(agent_key)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(ssh_agent.socket))
    config = isolated_home / ".ssh" / "config"
    block = (f"Host lab\n  HostName 127.0.0.1\n  Port {server.port}\n  User {server.user}\n"
             f"  IdentityFile {file_key}\n")

    def accepted() -> list[str]:
        return [line.split()[-1] for line in server.log_text().splitlines()
                if "Accepted publickey" in line]

    for extra, used in (("", agent_key), ("  IdentitiesOnly yes\n", file_key)):
        config.write_text(block + extra)
        conn, _ = connection(Host("lab"), ssh_config=config)
        await conn.connect()
        await conn.close()
        assert accepted()[-1] == _fingerprint(used)
