"""OpenSSH as the oracle: for each config and name, every hop rtui would connect through has the
hostname, port, user and identity files that ``ssh -G -F CFG NAME`` prints, and the jump
chain is the one its ProxyJump names.

``ssh -G`` prints identity files with %-tokens unexpanded (ssh expands them when it loads
them) and expands ``~`` and ``%d`` with the passwd entry's home, not ``$HOME``; the
comparison expands them with ssh's own values and writes both homes as ``~``. Relative
Includes would go to that passwd home's ``.ssh``, so the configs here include by full path.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shutil
import socket
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from rtui.core.config.model import Config, Host, parse_jump
from rtui.core.ssh.route import Endpoint, resolve_route

SSH = shutil.which("ssh") or "/usr/bin/ssh"
PW_HOME = pwd.getpwuid(os.getuid()).pw_dir


@dataclass(frozen=True)
class Hop:
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]  # () when ssh would use its default files


def ssh_g(config: Path, home: Path, name: str, *, user: str | None = None,
          port: int | None = None) -> dict[str, list[str]]:
    """What ``ssh -G`` prints, keyword to values (in order; identityfile may repeat)."""
    command = [SSH, "-G", "-F", str(config)]
    if user:
        command += ["-l", user]
    if port:
        command += ["-p", str(port)]
    result = subprocess.run([*command, name], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "HOME": str(home)}, stdin=subprocess.DEVNULL,
                            check=False)
    assert result.returncode == 0, result.stderr
    printed: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        keyword, _, value = line.partition(" ")
        printed.setdefault(keyword, []).append(value)
    return printed


def home_as_tilde(path: str, *homes: str) -> str:
    for home in homes:
        if path == home or path.startswith(home + "/"):
            return "~" + path[len(home):]
    return path


def ssh_hop(config: Path, home: Path, name: str, defaults: tuple[str, ...], *,
            user: str | None = None, port: int | None = None) -> tuple[Hop, list[str]]:
    """One hop as ssh would open it, and the ProxyJump hops before it."""
    printed = ssh_g(config, home, name, user=user, port=port)
    hostname, port_text, login = printed["hostname"][0], printed["port"][0], printed["user"][0]
    jump = printed.get("proxyjump", ["none"])[0]
    local = socket.gethostname()
    tokens = {"%": "%", "d": PW_HOME, "h": hostname, "p": port_text, "r": login,
              "u": getpass.getuser(), "n": name, "l": local, "L": local.split(".")[0],
              "i": str(os.getuid()), "j": "" if jump == "none" else jump,
              "k": printed.get("hostkeyalias", [hostname])[0]}
    files = tuple(home_as_tilde(re.sub(r"%(.)", lambda m: tokens[m.group(1)], f), PW_HOME)
                  for f in printed.get("identityfile", []))
    jumps = [] if jump == "none" else jump.split(",")
    hop = Hop(hostname, int(port_text), login, () if files == defaults else files)
    return hop, jumps


def ssh_chain(config: Path, home: Path, name: str, defaults: tuple[str, ...], *,
              user: str | None = None, port: int | None = None) -> list[Hop]:
    """Every hop, first jump first, each jump host resolved by ssh as well.

    For ``ProxyJump a,b`` ssh runs ``ssh -J a -W HOST:PORT b``: ``a`` is reached through its
    own ProxyJump, ``b`` with ``-J a`` on the command line, which overrides its own.
    """
    hop, jumps = ssh_hop(config, home, name, defaults, user=user, port=port)
    chain: list[Hop] = []
    for i, spec in enumerate(jumps):
        jump = parse_jump(spec)
        if i == 0:
            chain += ssh_chain(config, home, jump.host, defaults, user=jump.user, port=jump.port)
        else:
            chain.append(ssh_hop(config, home, jump.host, defaults, user=jump.user,
                                 port=jump.port)[0])
    return [*chain, hop]


def rtui_chain(config: Path, home: Path, host: Host) -> list[Hop]:
    route = resolve_route(host, Config(hosts=(host,)), config)

    def hop(endpoint: Endpoint) -> Hop:
        files = tuple(home_as_tilde(f, str(home)) for f in endpoint.identity_files)
        return Hop(endpoint.hostname, endpoint.port, endpoint.user, files)

    return [hop(e) for e in route.hops]


@pytest.fixture
def defaults(isolated_home: Path) -> tuple[str, ...]:
    """The identity files ssh uses when the config names none."""
    empty = isolated_home / "empty_config"
    empty.write_text("")
    printed = ssh_g(empty, isolated_home, "x")
    return tuple(home_as_tilde(f, PW_HOME) for f in printed["identityfile"])


def write_config(home: Path, text: str, includes: dict[str, str] | None = None) -> Path:
    ssh = home / ".ssh"
    for name, body in (includes or {}).items():
        (ssh / name).parent.mkdir(parents=True, exist_ok=True)
        (ssh / name).write_text(body)
    ssh.mkdir(exist_ok=True)
    path = ssh / "config"
    path.write_text(textwrap.dedent(text).lstrip("\n").replace("{SSH}", str(ssh)))
    return path


INCLUDES_WILDCARDS_NEGATION = """
    Include {SSH}/conf.d/*
    Host web db bastion *.lab
    Host *.lab !gpu9.lab
      User labuser
      ProxyJump bastion
    Host bastion
      HostName gw.example.org
      Port 2200
    Host web
      HostName %h.example.org
    Host *
      User fallback
      IdentityFile ~/.ssh/id_%h
    """

MATCH_BLOCKS = """
    Host lab
      HostName lab.example.org
    Match host lab.example.org
      Port 2022
    Match originalhost lab user root,{USER}
      IdentityFile ~/.ssh/id_match_user
    Match exec "test %n = db"
      User execuser
    Host db
      HostName db.example.org
    Match !host *.example.org
      Port 2999
    Match final originalhost db
      Port 2023
    Match all
      User everyone
    """

TOKENS = """
    Host tok
      HostName %h.internal
      User deploy
      Port 2200
      IdentityFile %d/keys/%u-%r@%h:%p_%n_100%%
      IdentityFile ~/.ssh/id_%r
      IdentityFile ~/.ssh/%l_%L_%i_%k_%j
    Host jumped
      ProxyJump gw
      HostKeyAlias alias.example
      IdentityFile ~/.ssh/%j_%k
    Host Upper
      HostName Upper.Example.ORG
    Host none
      User none
    Host Other.*
      IdentityFile ~/.ssh/%k_%h
    Host *
      IdentityFile ~/.ssh/id_%h
    """

PROXY_JUMPS = """
    Host target
      HostName 10.1.0.5
      ProxyJump gw1,alice@gw2:2222
    Host gw1
      HostName gw1.example.org
      ProxyJump gw0
    Host gw0
      HostName gw0.example.org
      User zero
    Host gw2
      HostName gw2.example.org
      Port 22
    Host direct
      ProxyJump none
    Host fallback
      HostName fb.example.org
      ProxyJump none
    Host *
      ProxyJump fallback
    """

COMMAS_AND_QUOTES = """
    Host one,two "three four"
      User commas
    Host one  # a comment
      Port 2001
    Host *
      User star
      IdentityFile "~/.ssh/my key"
      IdentityFile ~/.ssh/second
    """

CASES = [
    (COMMAS_AND_QUOTES, ["one", "two", "three", "four"]),
    (INCLUDES_WILDCARDS_NEGATION, ["web", "db", "bastion", "gpu1.lab", "gpu9.lab", "inc"]),
    (MATCH_BLOCKS, ["lab", "db", "other", "elsewhere.example.org"]),
    (TOKENS, ["tok", "plain", "jumped", "Upper", "none", "Other.Example"]),
    (PROXY_JUMPS, ["target", "direct", "other"]),
]


@pytest.mark.parametrize(("text", "names"), CASES,
                         ids=["commas-quotes", "include-wildcards-negation", "match", "tokens",
                              "proxyjump"])
def test_routes_equal_what_ssh_g_prints(
    isolated_home: Path, defaults: tuple[str, ...], text: str, names: list[str]
) -> None:
    config = write_config(isolated_home, text.replace("{USER}", getpass.getuser()), {
        "conf.d/10-inc": "Host inc\n  HostName inc.example.org\n  IdentityFile ~/.ssh/inc_%h\n",
        "conf.d/00-gpu": "Host gpu*\n  Port 2201\n  User gpuuser\n",
    })
    for name in names:
        expected = ssh_chain(config, isolated_home, name, defaults)
        assert rtui_chain(config, isolated_home, Host(name)) == expected, name


def test_rtui_fields_are_what_ssh_gets_on_its_command_line(
    isolated_home: Path, defaults: tuple[str, ...]
) -> None:
    """rtui's user and port win, as ``ssh -l USER -p PORT``: Match user and %r see them."""
    config = write_config(isolated_home, """
        Host lab
          HostName lab.example.org
          User alice
          IdentityFile ~/.ssh/id_%r_%p
        Match user carol
          ProxyJump gw
        Host gw
          HostName gw.example.org
        """)
    expected = ssh_chain(config, isolated_home, "lab", defaults, user="carol", port=2222)
    assert rtui_chain(config, isolated_home, Host("lab", user="carol", port=2222)) == expected
    assert len(expected) == 2
