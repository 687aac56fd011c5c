"""Pure parts of the SSH core: backoff, keepalive maths, deadlines, known_hosts, routes."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import random
from pathlib import Path

import asyncssh
import pytest

from rtui.core.config.model import Config, Host, Settings
from rtui.core.errors import ConfigError
from rtui.core.ssh.connection import backoff_delay, keepalive_options
from rtui.core.ssh.deadline import PausableDeadline
from rtui.core.ssh.hostkeys import KnownHosts, host_entry_name
from rtui.core.ssh.route import resolve_route


def test_backoff_starts_immediately_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 60, rng) for n in range(1, 12)]
    assert delays[0] == 0
    for n, delay in enumerate(delays[1:], start=2):
        base = min(60, 2 ** (n - 2))
        assert base / 2 <= delay <= base  # jittered within [base/2, base]
    assert max(delays) <= 60
    assert delays[-1] >= 30


@pytest.mark.parametrize(
    ("interval", "count", "dead_after"), [(5.0, 3, 15.0), (1.0, 1, 1.0), (0.5, 4, 2.0)]
)
def test_keepalive_notices_a_dead_peer_after_interval_times_count(
    interval: float, count: int, dead_after: float
) -> None:
    every, count_max = keepalive_options(
        Settings(keepalive_interval=interval, keepalive_count_max=count))
    # asyncssh closes after count_max + 1 unanswered intervals.
    assert every * (count_max + 1) == pytest.approx(dead_after)


async def test_deadline_does_not_count_time_spent_on_a_person() -> None:
    deadline = PausableDeadline(0.3)

    async def slow_login() -> str:
        async with deadline.paused():
            await asyncio.sleep(0.5)  # a person typing a password
        await asyncio.sleep(0.1)
        return "in"

    assert await deadline.run(slow_login()) == "in"

    with pytest.raises(TimeoutError):
        await PausableDeadline(0.2).run(asyncio.sleep(5))


def make_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519").convert_to_public()


def line(names: str, key: asyncssh.SSHKey, marker: str = "") -> str:
    text = f"{names} {key.export_public_key().decode().strip()}"
    return f"{marker} {text}" if marker else text


def hashed(name: str) -> str:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_known_hosts_matching(tmp_path: Path) -> None:
    k1, k2, k3, k4, ca, bad = (make_key() for _ in range(6))
    user = tmp_path / "known_hosts"
    user.write_text("\n".join([
        "# comment",
        line("plain.example.org,10.0.0.1", k1),
        line("[alt.example.org]:2222", k2),
        line(hashed("[hashed.example.org]:2200"), k3),
        line("*.lab.example.org,!secret.lab.example.org", k4),
        line("*.lab.example.org", ca, "@cert-authority"),
        line("plain.example.org", bad, "@revoked"),
        "garbage line",
    ]) + "\n")
    known = KnownHosts([user], tmp_path / "own")
    assert [k.key for k in known.lookup("plain.example.org", 22) if not k.marker] == [k1]
    assert [k.line for k in known.lookup("plain.example.org", 22)] == [2, 7]
    assert known.lookup("plain.example.org", 2222) == []  # port matters
    assert [k.key for k in known.lookup("alt.example.org", 2222)] == [k2]
    assert [k.key for k in known.lookup("hashed.example.org", 2200)] == [k3]
    assert [k.key for k in known.lookup("gpu.lab.example.org", 22) if not k.marker] == [k4]
    assert not [k for k in known.lookup("secret.lab.example.org", 22) if not k.marker]
    trusted, _cas, revoked = known.trusted("plain.example.org", 22)
    assert (trusted, revoked) == ([k1], [bad])
    assert known.trusted("x.lab.example.org", 22)[1] == [ca]


def test_remember_writes_only_rtuis_own_file_0600(tmp_path: Path) -> None:
    user = tmp_path / "known_hosts"
    user.write_text("")
    own = tmp_path / "rtui" / "known_hosts"
    key = make_key()
    KnownHosts([user], own).remember("127.0.0.1", 2222, key)
    assert user.read_text() == ""
    assert own.stat().st_mode & 0o777 == 0o600
    assert own.read_text().startswith("[127.0.0.1]:2222 ssh-ed25519 ")
    assert [k.key for k in KnownHosts([user], own).lookup("127.0.0.1", 2222)] == [key]
    assert host_entry_name("h", 22) == "h"


def test_route_takes_ssh_config_and_rtui_fields_win(tmp_path: Path) -> None:
    ssh_config = tmp_path / "config"
    ssh_config.write_text(
        "Host lab\n  HostName lab.example.org\n  User alice\n  Port 2200\n"
        "  IdentityFile ~/.ssh/id_lab\n  ProxyJump gw\n"
        "Host gw\n  HostName gw.example.org\n  User bob\n"
        "  UserKnownHostsFile ~/.ssh/kh_gw\n"
    )
    config = Config(hosts=(Host("lab", user="carol"),))
    route = resolve_route(config.hosts[0], config, ssh_config)
    gw, lab = route.hops
    assert (lab.hostname, lab.port, lab.user) == ("lab.example.org", 2200, "carol")
    assert lab.identity_files == ("~/.ssh/id_lab",)
    assert (gw.hostname, gw.user, gw.known_hosts_files) == (
        "gw.example.org", "bob", ("~/.ssh/kh_gw",))


def test_route_applies_match_blocks_for_every_hop(tmp_path: Path) -> None:
    """The issue's case: Match host sees the HostName a Host block set (asyncssh resolves 7;
    the old reader never applied a Match block), on the target and on its jump hop."""
    ssh_config = tmp_path / "config"
    ssh_config.write_text(
        "Host lab\n  HostName lab.example.org\n  ProxyJump gw\n"
        "Host gw\n  HostName gw.example.org\n"
        "Match host lab.example.org\n  ServerAliveInterval 7\n  ServerAliveCountMax 2\n"
        "Match host gw.example.org\n  Port 2201\n  IdentitiesOnly yes\n"
        "  IdentityFile ~/.ssh/id_gw\n  ConnectTimeout 4\n"
    )
    config = Config(hosts=(Host("lab"),))
    gw, lab = resolve_route(config.hosts[0], config, ssh_config).hops
    assert (lab.hostname, lab.keepalive_interval, lab.keepalive_count_max) == (
        "lab.example.org", 7, 2)
    assert (lab.identities_only, lab.connect_timeout, lab.port) == (False, None, 22)
    assert (gw.hostname, gw.port, gw.identities_only, gw.connect_timeout) == (
        "gw.example.org", 2201, True, 4)
    assert gw.identity_files == ("~/.ssh/id_gw",)
    assert keepalive_options(Settings(), lab) == (7, 2)
    assert keepalive_options(Settings(), gw) == keepalive_options(Settings())


@pytest.mark.parametrize(
    ("strict", "own", "policy"),
    [("yes", None, "strict"), ("accept-new", None, "accept-new"), ("no", None, "accept-new"),
     ("off", None, "accept-new"), ("ask", None, "ask"), (None, None, "ask"),
     ("yes", "accept-new", "accept-new"), ("no", "strict", "strict")],
)
def test_strict_host_key_checking_is_the_policy_unless_the_host_sets_one(
    tmp_path: Path, strict: str | None, own: str | None, policy: str
) -> None:
    ssh_config = tmp_path / "config"
    ssh_config.write_text(f"Host *\n  StrictHostKeyChecking {strict}\n" if strict else "")
    host = Host("lab", host_key_policy=own)
    config = Config(hosts=(host, Host("other")))
    assert resolve_route(host, config, ssh_config).target.host_key_policy == policy


@pytest.mark.parametrize(
    ("strict", "default", "policy"),
    [("no", "strict", "strict"), ("accept-new", "strict", "strict"),
     ("yes", "accept-new", "strict"), ("no", "accept-new", "accept-new"),
     ("ask", "accept-new", "ask"), (None, "strict", "strict"), ("no", "ask", "accept-new")],
)
def test_the_ssh_config_never_loosens_a_stricter_rtui_default(
    tmp_path: Path, strict: str | None, default: str, policy: str
) -> None:
    """A `Host *  StrictHostKeyChecking no` written for ssh does not undo rtui's
    `[settings] host_key_policy = "strict"`; it may tighten rtui's default always."""
    ssh_config = tmp_path / "config"
    ssh_config.write_text(f"Host *\n  StrictHostKeyChecking {strict}\n" if strict else "")
    host = Host("lab")
    config = Config(settings=Settings(host_key_policy=default), hosts=(host,))
    assert resolve_route(host, config, ssh_config).target.host_key_policy == policy


def test_later_hops_of_a_proxy_jump_list_skip_their_own_jumps(tmp_path: Path) -> None:
    """``ProxyJump a,b``: ssh reaches b with ``-J a``, which overrides b's own ProxyJump."""
    ssh_config = tmp_path / "config"
    ssh_config.write_text("Host t\n  ProxyJump a,b\nHost a\n  ProxyJump a0\n"
                          "Host b\n  ProxyJump b0\n")
    config = Config(hosts=(Host("t"),))
    route = resolve_route(config.hosts[0], config, ssh_config)
    assert [h.label for h in route.hops] == ["a0", "a", "b", "t"]


def test_route_through_rtui_hosts_and_inline_hops(tmp_path: Path) -> None:
    hosts = (
        Host("edge", hostname="edge.example.org", user="e"),
        Host("bastion", hostname="b.example.org", jump=("edge",)),
        Host("node", hostname="10.0.0.5", jump=("bastion", "dan@inner:2022")),
    )
    config = Config(hosts=hosts)
    route = resolve_route(hosts[2], config, tmp_path / "none")
    assert [h.display for h in route.hops] == [
        "e@edge.example.org", f"{route.hops[1].user}@b.example.org", "dan@inner:2022",
        f"{route.target.user}@10.0.0.5",
    ]


def test_route_loop_through_ssh_config_is_refused(tmp_path: Path) -> None:
    ssh_config = tmp_path / "config"
    ssh_config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    config = Config(hosts=(Host("a"),))
    with pytest.raises(ConfigError, match="jump chain loops"):
        resolve_route(config.hosts[0], config, ssh_config)




async def test_a_new_python_tag_or_note_keeps_the_hosts_connection(tmp_path: Path) -> None:
    """Only a change in how a host is reached closes its connection (and the consoles on it):
    saving the python picked in a console, or a tag, must not."""
    from rtui.core.ssh.manager import Connections

    host = Host("lab", hostname="10.0.0.1", user="ada")
    connections = Connections(Config(hosts=(host,)), ssh_config=tmp_path / "none")
    first = connections.get("lab")
    kept = Host("lab", hostname="10.0.0.1", user="ada", python="~/envs/ml", tags=("gpu",),
                note="A100")
    await connections.update_config(Config(hosts=(kept,)))
    assert connections.get("lab") is first
    await connections.update_config(Config(hosts=(Host("lab", hostname="10.0.0.1",
                                                       user="ada", port=2222),)))
    assert connections.get("lab") is not first
    # Through a jump host: a change to the jump host's own entry renews the link too.
    bastion = Host("bastion", hostname="10.0.0.9", user="ada")
    gpu = Host("gpu", hostname="10.0.0.2", user="ada", jump=("bastion",))
    await connections.update_config(Config(hosts=(bastion, gpu)))
    routed = connections.get("gpu")
    await connections.update_config(Config(hosts=(bastion, dataclasses.replace(
        gpu, note="kept"))))
    assert connections.get("gpu") is routed
    await connections.update_config(Config(hosts=(dataclasses.replace(bastion, port=2200),
                                                  gpu)))
    assert connections.get("gpu") is not routed
    await connections.close_all()
