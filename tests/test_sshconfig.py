"""Tests for the OpenSSH client config reader behind ``rtui hosts import``."""

from __future__ import annotations

import getpass
import textwrap
from pathlib import Path

import pytest

from rtui.core.config import sshconfig
from rtui.core.config.sshconfig import SSHConfigHost, read_ssh_config, resolve_ssh_alias
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
        Compression yes
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


# -- resolve_ssh_alias -------------------------------------------------------------------------


def resolve(home: Path, text: str, name: str) -> SSHConfigHost:
    entry = resolve_ssh_alias(write(home, "config", text), name, home=home)
    assert entry is not None
    return entry


def test_resolve_name_matched_only_by_wildcard_block(home: Path) -> None:
    write(home, "evil.conf", "Host *.cluster\n  User evil\n")
    config = write(
        home,
        "config",
        """
        Host login
          User nobody
        Match all
          Include evil.conf
        Host *.cluster !head.cluster
          HostName %h.internal
          User hpc
          IdentityFile ~/.ssh/id_%h
        Host *
          Port 2222
        """,
    )
    entry = resolve_ssh_alias(config, "node1.cluster", home=home)
    assert entry == SSHConfigHost(
        alias="node1.cluster",
        hostname="node1.cluster.internal",
        port=2222,
        user="hpc",
        identity_files=("~/.ssh/id_node1.cluster.internal",),
        proxy_jump=(),
        source=config,
        line=5,  # the Host included under Match never applies
    )
    head = resolve_ssh_alias(config, "head.cluster", home=home)
    assert head is not None
    assert (head.hostname, head.user, head.port, head.line) == (None, None, 2222, 9)


def test_resolve_name_matched_only_by_host_star(home: Path) -> None:
    entry = resolve(home, "Host web\n  User webuser\n\nHost *\n  User anyone\n", "db.example")
    assert (entry.alias, entry.user, entry.line) == ("db.example", "anyone", 4)


def test_resolve_name_with_only_top_level_options_reports_line_0(home: Path) -> None:
    config = write(home, "config", "User global\nPort 2200\nHost web\n  User webuser\n")
    entry = resolve_ssh_alias(config, "other", home=home)
    assert entry is not None
    assert (entry.user, entry.port) == ("global", 2200)
    assert (entry.source, entry.line) == (config, 0)


def test_resolve_name_nothing_applies(home: Path) -> None:
    config = write(home, "config", "Host web\n  User webuser\n")
    assert resolve_ssh_alias(config, "other", home=home) == SSHConfigHost(
        alias="other",
        hostname=None,
        port=None,
        user=None,
        identity_files=(),
        proxy_jump=(),
        source=config,
        line=0,
    )


def test_resolve_name_wildcard_line_inside_include(home: Path) -> None:
    included = write(home, "conf.d/lab", "# lab\nHost *.lab\n  User labuser\n")
    entry = resolve(home, "Include conf.d/*\nHost *\n  User fallback\n", "gpu1.lab")
    assert (entry.user, entry.source, entry.line) == ("labuser", included, 2)


def test_resolve_concrete_alias_agrees_with_read_ssh_config(home: Path) -> None:
    config = write(
        home,
        "config",
        """
        Host *.lan
          User lanuser
        Host web.lan db
          Port 2200
        Host web
          Include nothing-here
        Host *
          IdentityFile ~/.ssh/id_%h
          ServerAliveInterval 15
        """,
    )
    entries = read_ssh_config(config, home=home)
    assert [e.alias for e in entries] == ["web.lan", "db", "web"]
    for entry in entries:
        assert resolve_ssh_alias(config, entry.alias, home=home) == entry
    assert entries[0].line == 3  # the line naming it, not the earlier 'Host *.lan'


def test_resolve_missing_file_is_none(home: Path, tmp_path: Path) -> None:
    assert resolve_ssh_alias(home / ".ssh" / "config", "web", home=home) is None
    assert resolve_ssh_alias(tmp_path / "no" / "such" / "dir" / "config", "web", home=home) is None
    (tmp_path / "a-file").write_text("")
    assert resolve_ssh_alias(tmp_path / "a-file" / "config", "web", home=home) is None


def test_resolve_still_rejects_unreadable_and_malformed_files(home: Path) -> None:
    config = home / ".ssh" / "config"
    config.write_bytes(b"Host \xff\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: ssh config is not valid UTF-8$"):
        resolve_ssh_alias(config, "web", home=home)
    config.write_text("Host web\n  Port x\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: Port must be a number"):
        resolve_ssh_alias(config, "other", home=home)
    with pytest.raises(ConfigError, match=r"^~/\.ssh: cannot read ssh config"):
        resolve_ssh_alias(home / ".ssh", "web", home=home)  # a directory


def test_resolve_uses_default_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    config = write(home, "more", "Host *\n  IdentityFile %d/k\n")
    config = write(home, "config", "Include more\n")
    entry = resolve_ssh_alias(config, "x")
    assert entry is not None
    assert entry.identity_files == (f"{home}/k",)


# -- the extra resolved options ------------------------------------------------------------------


def test_extra_options_default_to_unset(home: Path) -> None:
    entry = read(home, "Host bare\n")["bare"]
    assert entry.known_hosts_files == ()
    assert entry.known_hosts_disabled is False
    assert entry.identity_agent is None
    assert entry.identities_only is None
    assert (entry.connect_timeout, entry.server_alive_interval) == (None, None)
    assert entry.server_alive_count_max is None
    assert entry.strict_host_key_checking is None


def test_user_known_hosts_files_several_with_tokens_first_line_wins(home: Path) -> None:
    hosts = read(
        home,
        """
        Host web
          HostName web.example.com
          UserKnownHostsFile ~/.ssh/known_%h %d/kh/%u "~/my files/100%%" %z
        Host *
          UserKnownHostsFile ~/.ssh/other
        """,
    )
    assert hosts["web"].known_hosts_files == (
        "~/.ssh/known_web.example.com",
        f"{home}/kh/localme",
        "~/my files/100%",
        "%z",  # unknown tokens stay as written
    )
    assert hosts["web"].known_hosts_disabled is False


def test_user_known_hosts_file_none(home: Path) -> None:
    hosts = read(
        home,
        """
        Host lab
          UserKnownHostsFile none
        Host lab2
          UserKnownHostsFile NONE
        Host *
          UserKnownHostsFile ~/.ssh/known_hosts
        """,
    )
    for alias in ("lab", "lab2"):  # 'none' counts as set: Host * cannot override it
        assert hosts[alias].known_hosts_files == ()
        assert hosts[alias].known_hosts_disabled is True


def test_identity_agent(home: Path) -> None:
    hosts = read(
        home,
        """
        Host a
          IdentityAgent ~/.1password/agent-%u-%h.sock
        Host b
          IdentityAgent none
        Host c
          IdentityAgent SSH_AUTH_SOCK
        Host d
          IdentityAgent %d/agent/%%
        Host *
          IdentityAgent /never
        """,
    )
    assert hosts["a"].identity_agent == "~/.1password/agent-localme-a.sock"
    assert hosts["b"].identity_agent == "none"
    assert hosts["c"].identity_agent == "SSH_AUTH_SOCK"
    assert hosts["d"].identity_agent == f"{home}/agent/%"


def test_identities_only(home: Path) -> None:
    hosts = read(
        home,
        """
        Host a
          IdentitiesOnly yes
        Host b
          IdentitiesOnly No
        Host c
          IdentitiesOnly true
        Host d
        Host *
          IdentitiesOnly no
        """,
    )
    assert [hosts[a].identities_only for a in "abcd"] == [True, False, True, False]
    assert read(home, "Host x\n")["x"].identities_only is None


def test_timeouts_and_keepalives(home: Path) -> None:
    hosts = read(
        home,
        """
        Host a
          ConnectTimeout 10
          ServerAliveInterval 1m30s
          ServerAliveCountMax 0
        Host b
          ConnectTimeout=0
        Host *
          ConnectTimeout 99
          ServerAliveInterval 15
          ServerAliveCountMax 3
        """,
    )
    a, b = hosts["a"], hosts["b"]
    assert (a.connect_timeout, a.server_alive_interval, a.server_alive_count_max) == (10, 90, 0)
    assert (b.connect_timeout, b.server_alive_interval, b.server_alive_count_max) == (0, 15, 3)


def test_strict_host_key_checking_is_lower_cased(home: Path) -> None:
    hosts = read(
        home,
        """
        Host a
          StrictHostKeyChecking Accept-New
        Host b
          StrictHostKeyChecking off
        Host *
          StrictHostKeyChecking ASK
        """,
    )
    assert hosts["a"].strict_host_key_checking == "accept-new"
    assert hosts["b"].strict_host_key_checking == "off"
    assert resolve(home, "Host *\n  StrictHostKeyChecking ASK\n", "x").strict_host_key_checking == (
        "ask"
    )


def test_bad_connect_timeout_names_file_and_line(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read(home, "Host a\n  User x\n\n  ConnectTimeout 10x\n")
    assert (
        str(info.value)
        == "~/.ssh/config line 4: ConnectTimeout must be a number of seconds, got '10x'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Host a\n  ServerAliveInterval -1\n", "line 2: ServerAliveInterval must be a number"),
        (
            "Host a\n  ServerAliveCountMax 3x\n",
            "line 2: ServerAliveCountMax must be a number, got '3x'",
        ),
        (
            "Host a\n  ServerAliveCountMax 99999999999\n",
            "line 2: ServerAliveCountMax must be 0..2147483647",
        ),
        ("Host a\n  ConnectTimeout 9999999w\n", "line 2: ConnectTimeout must be 0..2147483647"),
        ("Host a\n  ConnectTimeout 1 2\n", "line 2: ConnectTimeout takes one value"),
        (
            "Host a\n  IdentitiesOnly maybe\n",
            "line 2: IdentitiesOnly must be yes or no, got 'maybe'",
        ),
        ("Host a\n  StrictHostKeyChecking sure\n", "line 2: StrictHostKeyChecking must be yes, no"),
        ("Host a\n  IdentityAgent a b\n", "line 2: IdentityAgent takes one value"),
        ("Host a\n  UserKnownHostsFile\n", "line 2: UserKnownHostsFile needs a value"),
        ("Host a\n  UserKnownHostsFile a ''\n", "line 2: UserKnownHostsFile has an empty value"),
        (
            "Host a\n  UserKnownHostsFile a none\n",
            "line 2: UserKnownHostsFile 'none' must appear alone",
        ),
        ("Match all\n  ConnectTimeout x\n", "line 2: ConnectTimeout must be a number"),
    ],
)
def test_malformed_extra_options(home: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read(home, text)
