"""Tests for the OpenSSH client config reader behind ``rtui hosts import``."""

from __future__ import annotations

import getpass
import textwrap
from pathlib import Path

import pytest

from rtui.core.config import sshconfig
from rtui.core.config.sshconfig import SSHConfigHost, read_ssh_config
from rtui.core.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fake home with an empty ``.ssh``: the real one must never be read."""
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    return tmp_path / "home"


@pytest.fixture(autouse=True)
def _local_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin %u/%r's local user so expectations do not depend on who runs the tests."""
    monkeypatch.setattr(sshconfig, "_local_user", lambda: "localme")


def write(home: Path, name: str, text: str) -> Path:
    path = home / ".ssh" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def read(home: Path, text: str) -> dict[str, SSHConfigHost]:
    entries = read_ssh_config(write(home, "config", text), home=home)
    return {e.alias: e for e in entries}


def test_basic_block(home: Path) -> None:
    config = write(
        home,
        "config",
        """
        # my hosts
        Host web
            HostName 10.0.0.5
            Port 2222
            User deploy
            IdentityFile ~/.ssh/id_web
        """,
    )
    assert read_ssh_config(config, home=home) == [
        SSHConfigHost(
            alias="web",
            hostname="10.0.0.5",
            port=2222,
            user="deploy",
            identity_files=("~/.ssh/id_web",),
            proxy_jump=(),
            source=config,
            line=2,
        )
    ]


def test_unset_options_are_none(home: Path) -> None:
    entry = read(home, "Host bare\n")["bare"]
    assert (entry.hostname, entry.port, entry.user) == (None, None, None)
    assert (entry.identity_files, entry.proxy_jump) == ((), ())


def test_key_equals_value_and_case_insensitive_keywords(home: Path) -> None:
    entry = read(
        home,
        """
        host=web
          HOSTNAME=example.com
          port = 2200
          User= bob
          proxyjump =bastion
        """,
    )["web"]
    assert (entry.hostname, entry.port, entry.user) == ("example.com", 2200, "bob")
    assert entry.proxy_jump == ("bastion",)


def test_quoted_values_comments_and_crlf(home: Path) -> None:
    path = home / ".ssh" / "config"
    path.write_bytes(
        b'Host "web"\r\n'
        b'  User "bob"  # trailing comment\r\n'
        b'  IdentityFile "~/.ssh/my key"\r\n'
        b"  HostName web#1.example.com\r\n"
        b"\r\n"
    )
    entry = read_ssh_config(path, home=home)[0]
    assert entry.alias == "web"
    assert entry.user == "bob"
    assert entry.identity_files == ("~/.ssh/my key",)
    assert entry.hostname == "web#1.example.com"  # '#' only starts a comment at a word start


def test_unterminated_quote_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: unterminated \" quote$"):
        read(home, 'Host web\n  User "bob\n')


def test_unknown_keywords_are_ignored(home: Path) -> None:
    entry = read(
        home,
        """
        ServerAliveInterval 30
        Host web
          ForwardAgent yes
          LocalForward 8080 localhost:80
          User bob
        """,
    )["web"]
    assert entry.user == "bob"


def test_wildcard_blocks_give_no_entries_but_their_options_apply(home: Path) -> None:
    hosts = read(
        home,
        """
        Host *.lan
          User lanuser
        Host web
          User webuser
        Host db
          Port 5022
        Host *
          User fallback
          Port 22
        """,
    )
    assert list(hosts) == ["web", "db"]
    assert hosts["web"].user == "webuser"  # set first; the later Host * cannot override
    assert hosts["web"].port == 22
    assert hosts["db"].user == "fallback"  # unset before, so Host * fills it in
    assert hosts["db"].port == 5022


def test_wildcard_block_before_specific_one_wins(home: Path) -> None:
    hosts = read(
        home,
        """
        Host *
          User everyone
        Host web
          User webuser
          Port 2222
        """,
    )
    assert hosts["web"].user == "everyone"
    assert hosts["web"].port == 2222


def test_options_before_first_host_apply_to_all(home: Path) -> None:
    hosts = read(
        home,
        """
        User global
        Host a
          User mine
        Host b
        """,
    )
    assert hosts["a"].user == "global"
    assert hosts["b"].user == "global"


def test_multiple_aliases_on_one_host_line(home: Path) -> None:
    hosts = read(
        home,
        """
        Host alpha beta *.example.com gamma
          User shared
        Host beta
          User later
        """,
    )
    assert list(hosts) == ["alpha", "beta", "gamma"]
    assert {h.user for h in hosts.values()} == {"shared"}
    assert {h.line for h in hosts.values()} == {1}  # first Host line naming the alias


def test_negation(home: Path) -> None:
    hosts = read(
        home,
        """
        Host web bastion
        Host * !bastion
          ProxyJump bastion
        Host !web
          User never
        """,
    )
    assert hosts["web"].proxy_jump == ("bastion",)
    assert hosts["bastion"].proxy_jump == ()
    assert hosts["web"].user is None  # only-negated patterns never match anything
    assert hosts["bastion"].user is None


def test_patterns_are_case_sensitive_and_brackets_literal(home: Path) -> None:
    hosts = read(
        home,
        """
        Host Web w[1] web1
        Host web*
          User lower
        Host w[1]
          Port 2201
        """,
    )
    assert hosts["Web"].user is None
    assert hosts["web1"].user == "lower"
    assert hosts["web1"].port is None  # '[1]' is not a character class in ssh
    assert hosts["w[1]"].port == 2201


def test_match_block_is_skipped(home: Path) -> None:
    hosts = read(
        home,
        """
        Match host web
          User evil
          Port 1
        Host web
          HostName web.example.com
        Match all
          User evil
        Host *
          User good
        """,
    )
    assert list(hosts) == ["web"]
    assert hosts["web"].user == "good"
    assert hosts["web"].port is None


def test_include_relative_to_dot_ssh_with_glob(home: Path) -> None:
    write(home, "config.d/20-db", "Host db\n  User dbuser\n")
    write(home, "config.d/10-web", "Host web\n  User webuser\n")
    write(home, "extra", "Host *\n  Port 2022\n")
    hosts = read(
        home,
        """
        Include config.d/* nothing-here/*
        Include ~/.ssh/extra
        Host late
        """,
    )
    assert list(hosts) == ["web", "db", "late"]  # sorted glob, expanded in place
    assert hosts["web"].user == "webuser"
    assert hosts["db"].user == "dbuser"
    assert {h.port for h in hosts.values()} == {2022}


def test_alias_from_included_file_reports_its_source_and_line(home: Path) -> None:
    included = write(home, "conf.d/work", "# work hosts\n\nHost work\n  HostName w.example\n")
    entry = read(home, "Include conf.d/work\n")["work"]
    assert entry.source == included
    assert entry.line == 3
    assert entry.hostname == "w.example"


def test_include_inside_host_block_is_conditional(home: Path) -> None:
    write(
        home,
        "web.conf",
        """
        User webonly
        Host db
          Port 5432
        Host web
          IdentityFile ~/.ssh/nested
        """,
    )
    hosts = read(
        home,
        """
        Host web
          Include web.conf
          Port 2200
        Host db
          User dbuser
        """,
    )
    assert list(hosts) == ["web", "db"]
    assert hosts["web"].user == "webonly"
    assert hosts["web"].port == 2200  # the outer block resumes after the Include
    assert hosts["web"].identity_files == ("~/.ssh/nested",)
    # ssh ANDs the outer block with the included one: 'Host db' there cannot match db.
    assert hosts["db"].user == "dbuser"
    assert hosts["db"].port is None
    assert hosts["db"].line == 4


def test_include_recursion_is_an_error(home: Path) -> None:
    write(home, "loop", "Include config\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/\w+ line 1: Include nested more than 16"):
        read(home, "Include loop\n")


def test_unreadable_include_target_is_an_error(home: Path) -> None:
    write(home, "bad", "Host x\n")
    (home / ".ssh" / "bad").write_bytes(b"Host \xff\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: included ~/\.ssh/bad"):
        read(home, "Host a\nInclude bad\n")


def test_bad_port_names_file_and_line(home: Path) -> None:
    text = "Host a\n  Port 22\n\nHost b\n  User x\n\n  Port abc\n"
    with pytest.raises(ConfigError) as info:
        read(home, text)
    assert str(info.value) == "~/.ssh/config line 7: Port must be a number, got 'abc'"


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_out_of_range_port_is_an_error(home: Path, port: str) -> None:
    with pytest.raises(ConfigError, match=r"line 2: Port must be"):
        read(home, f"Host a\n  Port {port}\n")


def test_bad_port_in_match_block_is_still_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2: Port"):
        read(home, "Match all\n  Port x\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Host\n", "line 1: Host needs at least one pattern"),
        ("Host a\n  HostName\n", "line 2: HostName needs a value"),
        ("Host a\n  User a b\n", "line 2: User takes one value"),
        ("Host a\n  ProxyJump a,,b\n", "line 2: ProxyJump has an empty hop"),
        ("Host a\n  ProxyJump a, b\n", "line 2: ProxyJump takes one value"),
        ("Include\n", "line 1: Include needs at least one path"),
    ],
)
def test_malformed_lines(home: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read(home, text)


def test_missing_file_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: cannot read ssh config"):
        read_ssh_config(home / ".ssh" / "config", home=home)


def test_missing_file_outside_home_names_full_path(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "config"
    with pytest.raises(ConfigError, match=str(missing)):
        read_ssh_config(missing, home=home)


def test_proxy_jump_list_none_and_first_wins(home: Path) -> None:
    hosts = read(
        home,
        """
        Host inner
          ProxyJump alice@bastion:2222,gw2,ssh://gw3
        Host direct
          ProxyJump none
        Host *
          ProxyJump default-gw
        """,
    )
    assert hosts["inner"].proxy_jump == ("alice@bastion:2222", "gw2", "ssh://gw3")
    assert hosts["direct"].proxy_jump == ()  # 'none' counts as set, so Host * cannot override


def test_identity_files_accumulate_dedupe_and_expand_tokens(home: Path) -> None:
    hosts = read(
        home,
        """
        Host web
          HostName %h.example.com
          User deploy
          Port 2200
          IdentityFile ~/.ssh/id_%h
          IdentityFile %d/keys/%u-%r@%h:%p
        Host db
          IdentityFile ~/.ssh/id_%h
        Host *
          IdentityFile ~/.ssh/id_web.example.com
          IdentityFile ~/.ssh/common_%r_%p_%n_100%%_%z
          IdentityFile ~/.ssh/id_%h
        """,
    )
    web = hosts["web"]
    assert web.hostname == "web.example.com"
    assert web.identity_files == (
        "~/.ssh/id_web.example.com",
        f"{home}/keys/localme-deploy@web.example.com:2200",
        "~/.ssh/common_deploy_2200_web_100%_%z",
    )
    db = hosts["db"]
    assert db.hostname is None
    assert db.identity_files == (
        "~/.ssh/id_db",  # %h falls back to the alias
        "~/.ssh/id_web.example.com",
        "~/.ssh/common_localme_22_db_100%_%z",  # %r local user, %p default port
    )


def test_local_user_comes_from_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # drop the autouse pin to test the real lookup
    monkeypatch.setattr(getpass, "getuser", lambda: "someone")
    assert sshconfig._local_user() == "someone"


def test_hostname_takes_only_percent_and_h_tokens(home: Path) -> None:
    entry = read(home, "Host web\n  HostName %h-%p.%%example\n")["web"]
    assert entry.hostname == "web-%p.%example"


def test_default_home_is_used_when_not_given(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    write(home, "more", "Host more\n")
    config = write(home, "config", "Include more\nHost a\n  IdentityFile %d/k\n")
    entries = read_ssh_config(config)
    assert [e.alias for e in entries] == ["more", "a"]
    assert entries[1].identity_files == (f"{home}/k",)
