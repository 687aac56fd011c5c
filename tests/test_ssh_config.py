"""ssh config resolution through asyncssh (``rtui.core.ssh.ssh_config``): what ``ssh NAME``
would use, Match blocks included, and the aliases ``rtui hosts import`` takes."""

from __future__ import annotations

import getpass
import textwrap
from pathlib import Path

import pytest

from rtui.core.config.importer import ImportedAlias
from rtui.core.errors import ConfigError
from rtui.core.ssh import ssh_config
from rtui.core.ssh.ssh_config import SSHConfigFiles, SSHOptions, load_ssh_config, resolved_aliases


@pytest.fixture
def home(isolated_home: Path) -> Path:
    """The test's HOME (asyncssh's ``~`` and ``%d``) with an empty ``.ssh``."""
    (isolated_home / ".ssh").mkdir()
    return isolated_home


@pytest.fixture(autouse=True)
def _local_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin %u/%r's local user so expectations do not depend on who runs the tests."""
    monkeypatch.setattr(ssh_config, "_local_user", lambda: "localme")


def write(home: Path, name: str, text: str) -> Path:
    path = home / ".ssh" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def read(home: Path, text: str) -> dict[str, ImportedAlias]:
    entries = resolved_aliases(write(home, "config", text), home=home)
    return {e.alias: e for e in entries}


def resolve(home: Path, text: str, name: str, **given: object) -> SSHOptions:
    return SSHConfigFiles(write(home, "config", text), home).resolve(name, **given)  # type: ignore[arg-type]


# -- the aliases an import takes -------------------------------------------------------------


def test_basic_block(home: Path) -> None:
    config = write(home, "config", """
        # my hosts
        Host web
            HostName 10.0.0.5
            Port 2222
            User deploy
            IdentityFile ~/.ssh/id_web
        """)
    assert resolved_aliases(config, home=home) == [
        ImportedAlias(alias="web", hostname="10.0.0.5", port=2222, user="deploy",
                      identity_files=("~/.ssh/id_web",), proxy_jump=(), source=config, line=2)
    ]


def test_unset_options_are_none(home: Path) -> None:
    entry = read(home, "Host bare\n")["bare"]
    assert (entry.hostname, entry.port, entry.user) == (None, None, None)
    assert (entry.identity_files, entry.proxy_jump) == ((), ())


def test_key_equals_value_and_case_insensitive_keywords(home: Path) -> None:
    entry = read(home, """
        host=web
          HOSTNAME=example.com
          port = 2200
          User= bob
          proxyjump =bastion
        """)["web"]
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
    entry = resolved_aliases(path, home=home)[0]
    assert entry.alias == "web"
    assert entry.user == "bob"  # asyncssh alone: "Extra data at end: # trailing comment"
    assert entry.identity_files == ("~/.ssh/my key",)
    assert entry.hostname == "web#1.example.com"  # '#' only starts a comment at a word start


def test_unknown_keywords_are_ignored(home: Path) -> None:
    entry = read(home, """
        Compression yes
        Host web
          ForwardAgent yes
          LocalForward 8080 localhost:80
          SomeFutureOption 1
          User bob
        """)["web"]
    assert entry.user == "bob"


def test_wildcard_blocks_give_no_entries_but_their_options_apply(home: Path) -> None:
    hosts = read(home, """
        Host *.lan
          User lanuser
        Host web
          User webuser
        Host db
          Port 5022
        Host *
          User fallback
          Port 22
        """)
    assert list(hosts) == ["web", "db"]
    assert hosts["web"].user == "webuser"  # set first; the later Host * cannot override
    assert hosts["web"].port == 22
    assert hosts["db"].user == "fallback"  # unset before, so Host * fills it in
    assert hosts["db"].port == 5022


def test_wildcard_block_before_specific_one_wins(home: Path) -> None:
    hosts = read(home, "Host *\n  User everyone\nHost web\n  User webuser\n  Port 2222\n")
    assert hosts["web"].user == "everyone"
    assert hosts["web"].port == 2222


def test_options_before_first_host_apply_to_all(home: Path) -> None:
    hosts = read(home, "User global\nHost a\n  User mine\nHost b\n")
    assert hosts["a"].user == "global"
    assert hosts["b"].user == "global"


def test_multiple_aliases_on_one_host_line(home: Path) -> None:
    hosts = read(home, """
        Host alpha beta *.example.com gamma
          User shared
        Host beta
          User later
        """)
    assert list(hosts) == ["alpha", "beta", "gamma"]
    assert {h.user for h in hosts.values()} == {"shared"}
    assert {h.line for h in hosts.values()} == {1}  # first Host line naming the alias


def test_negation(home: Path) -> None:
    hosts = read(home, """
        Host web bastion
        Host * !bastion
          ProxyJump bastion
        Host !web
          User never
        """)
    assert hosts["web"].proxy_jump == ("bastion",)
    assert hosts["bastion"].proxy_jump == ()
    assert hosts["web"].user is None  # only-negated patterns never match anything
    assert hosts["bastion"].user is None


def test_patterns_are_case_sensitive_and_brackets_literal(home: Path) -> None:
    hosts = read(home, """
        Host Web w[1] web1
        Host web*
          User lower
        Host w[1]
          Port 2201
        """)
    assert hosts["Web"].user is None
    assert hosts["web1"].user == "lower"
    assert hosts["web1"].port is None  # '[1]' is not a character class in ssh
    assert hosts["w[1]"].port == 2201


def test_match_blocks_apply(home: Path) -> None:
    """The issue's case: Match host sees the HostName set above it, as ssh's does."""
    text = """
        Host lab
          HostName lab.example.org
        Match host lab.example.org
          ServerAliveInterval 7
        Match host web
          User evil
          Port 1022
        Match originalhost lab user localme
          IdentityFile ~/.ssh/id_lab
        Host web
          HostName web.example.com
        Match all
          User allmatch
        Host *
          User good
        """
    hosts = read(home, text)
    assert list(hosts) == ["lab", "web"]
    assert (hosts["web"].user, hosts["web"].port) == ("evil", 1022)
    assert hosts["lab"].user == "allmatch"
    assert hosts["lab"].identity_files == ("~/.ssh/id_lab",)
    assert resolve(home, text, "lab").server_alive_interval == 7
    assert resolve(home, text, "lab", user="ada").identity_files == ()  # Match user sees -l


def test_match_exec_runs_the_command(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "on-vpn"
    text = f'Match exec "test -e {marker}"\n  User vpn\nHost *\n  User home\n'
    assert resolve(home, text, "lab").user == "home"
    marker.touch()
    assert resolve(home, text, "lab").user == "vpn"


def test_match_exec_expands_tokens(home: Path, tmp_path: Path) -> None:
    """ssh expands %h, %p, %r, %u, %d... in the command; asyncssh alone runs it as written."""
    (tmp_path / "on-vpn_lab").touch()
    text = f'Match exec "test -e {tmp_path}/on-vpn_%h"\n  User vpn\n'
    assert resolve(home, text, "lab").user == "vpn"


def test_a_match_exec_that_hangs_is_stopped_with_a_message(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh would wait for ever; rtui resolves routes while a person waits."""
    monkeypatch.setattr(ssh_config, "EXEC_TIMEOUT", 0.3)
    text = 'Host *\n  User home\nMatch exec "sleep 30"\n  User vpn\n'
    with pytest.raises(ConfigError, match=r"line 3: Match exec command did not finish within "
                                          r"0.3 s: sleep 30"):
        resolve(home, text, "lab")


def test_include_relative_to_dot_ssh_with_glob(home: Path) -> None:
    write(home, "config.d/20-db", "Host db\n  User dbuser\n")
    write(home, "config.d/10-web", "Host web\n  User webuser\n")
    write(home, "config.d/05-all", "Host *\n  IdentityFile ~/.ssh/first\n")
    write(home, "extra", "Host *\n  Port 2022\n")
    hosts = read(home, """
        Include config.d/* nothing-here/*
        Include ~/.ssh/extra
        Host late
        """)
    assert list(hosts) == ["web", "db", "late"]  # sorted glob, expanded in place
    assert hosts["web"].user == "webuser"
    assert hosts["db"].user == "dbuser"
    assert {h.port for h in hosts.values()} == {2022}
    assert hosts["late"].identity_files == ("~/.ssh/first",)


def test_alias_from_included_file_reports_its_source_and_line(home: Path) -> None:
    included = write(home, "conf.d/work", "# work hosts\n\nHost work\n  HostName w.example\n")
    entry = read(home, "Include conf.d/work\n")["work"]
    assert entry.source == included
    assert entry.line == 3
    assert entry.hostname == "w.example"


def test_include_inside_host_block_is_conditional(home: Path) -> None:
    write(home, "web.conf", """
        User webonly
        Host db
          Port 5432
        Host web
          IdentityFile ~/.ssh/nested
        """)
    hosts = read(home, """
        Host web
          Include web.conf
          Port 2200
        Host db
          User dbuser
        """)
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
        resolve(home, "Include loop\n", "x")


def test_unreadable_include_target_is_an_error(home: Path) -> None:
    write(home, "bad", "Host x\n")
    (home / ".ssh" / "bad").write_bytes(b"Host \xff\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: included ~/\.ssh/bad"):
        resolve(home, "Host a\nInclude bad\n", "a")


def test_bad_port_names_file_and_line(home: Path) -> None:
    text = "Host a\n  Port 22\n\nHost b\n  User x\n\n  Port abc\n"
    with pytest.raises(ConfigError) as info:
        resolve(home, text, "b")
    assert str(info.value) == "~/.ssh/config line 7: Invalid Port integer value: abc"


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_out_of_range_port_is_an_error(home: Path, port: str) -> None:
    with pytest.raises(ConfigError, match=r"line 2: (Port must be|Invalid Port)"):
        read(home, f"Host a\n  Port {port}\n")


def test_bad_values_in_blocks_that_do_not_apply_are_still_errors(home: Path) -> None:
    """ssh rejects a bad value anywhere ('Bad port'); asyncssh alone skips such lines."""
    with pytest.raises(ConfigError, match=r"line 2: Invalid Port integer value: x"):
        resolve(home, "Match host other\n  Port x\n", "a")
    with pytest.raises(ConfigError, match=r"line 4: Extra data at end: b"):
        resolve(home, "Host a\n  User me\nHost other\n  User a b\n", "a")
    with pytest.raises(ConfigError, match=r"line 2: Invalid IdentitiesOnly"):
        resolve(home, "Host other\n  IdentitiesOnly maybe\n", "a")
    files = SSHConfigFiles(write(home, "config", "Host other\n  Port 0\n"), home)
    for _ in range(2):  # every name is refused, not only the first
        with pytest.raises(ConfigError, match=r"line 2: Port must be 1..65535"):
            files.resolve("a")
    fine = "Host other\n  HostName %h.%%x\n  Include nothing-here\n  ProxyCommand nc %h %p\n"
    assert resolve(home, fine, "a") == SSHOptions()


def test_bad_port_in_match_block_that_applies_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2: .*Port"):
        resolve(home, "Match all\n  Port x\n", "a")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Host a\n  HostName\n", "line 2: Missing Hostname value"),
        ("Host a\n  User a b\n", "line 2: Extra data at end: b"),
        ("Host a\n  ProxyJump a,,b\n", "line 2: ProxyJump has an empty hop"),
        ("Host a\n  ProxyJump a, b\n", "line 2: Extra data at end: b"),
        ("Include\n", "line 1: Missing Include value"),
        ('Host a\n  User "bob\n', r"line 2: unterminated \" quote"),
        ("Host a\n  IdentityFile ~/.ssh/id_%z\n", "Invalid token expansion: z"),
    ],
)
def test_malformed_lines(home: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(home, text, "a")


def test_missing_file_is_an_error_for_import(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: cannot read ssh config"):
        resolved_aliases(home / ".ssh" / "config", home=home)
    missing = tmp_path / "elsewhere" / "config"
    with pytest.raises(ConfigError, match=str(missing)):
        resolved_aliases(missing, home=home)


def test_proxy_jump_list_none_and_first_wins(home: Path) -> None:
    hosts = read(home, """
        Host inner
          ProxyJump alice@bastion:2222,gw2,ssh://gw3
        Host direct
          ProxyJump none
        Host *
          ProxyJump default-gw
        """)
    assert hosts["inner"].proxy_jump == ("alice@bastion:2222", "gw2", "ssh://gw3")
    assert hosts["direct"].proxy_jump == ()  # 'none' counts as set, so Host * cannot override


def test_identity_files_accumulate_dedupe_and_expand_tokens(home: Path) -> None:
    hosts = read(home, """
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
          IdentityFile ~/.ssh/common_%r_%p_%n_100%%
          IdentityFile ~/.ssh/id_%h
        """)
    web = hosts["web"]
    assert web.hostname == "web.example.com"
    assert web.identity_files == (
        "~/.ssh/id_web.example.com",
        f"{home}/keys/localme-deploy@web.example.com:2200",
        "~/.ssh/common_deploy_2200_web_100%",
    )
    db = hosts["db"]
    assert db.hostname is None
    assert db.identity_files == (
        "~/.ssh/id_db",  # %h falls back to the alias
        "~/.ssh/id_web.example.com",
        "~/.ssh/common_localme_22_db_100%",  # %r local user, %p default port
    )


def test_tokens_are_expanded_after_every_file_is_read(home: Path) -> None:
    """%h in an included file is the HostName set after it (ssh expands at the end); a
    ``%%`` is expanded once, not once per file."""
    write(home, "keys.conf", "IdentityFile ~/.ssh/id_%h_100%%\n")
    entry = read(home, "Host lab\n  Include keys.conf\n  HostName lab.example.org\n")["lab"]
    assert entry.identity_files == ("~/.ssh/id_lab.example.org_100%",)


def test_local_user_comes_from_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # drop the autouse pin to test the real lookup
    monkeypatch.setattr(getpass, "getuser", lambda: "someone")
    assert ssh_config._local_user() == "someone"


def test_hostname_takes_only_percent_and_h_tokens(home: Path) -> None:
    entry = read(home, "Host web\n  HostName %h.%%example\n")["web"]
    assert entry.hostname == "web.%example"
    with pytest.raises(ConfigError, match="Invalid token expansion: p"):
        read(home, "Host web\n  HostName %h-%p\n")


def test_default_home_is_used_when_not_given(home: Path) -> None:
    write(home, "more", "Host more\n")
    config = write(home, "config", "Include more\nHost a\n  IdentityFile %d/k\n")
    entries = resolved_aliases(config)
    assert [e.alias for e in entries] == ["more", "a"]
    assert entries[1].identity_files == (f"{home}/k",)


# -- any name, with rtui's own values given ------------------------------------------------


def test_resolve_name_matched_only_by_wildcard_block(home: Path) -> None:
    write(home, "evil.conf", "Host *.cluster\n  User evil\n")
    text = """
        Host login
          User nobody
        Match originalhost login
          Include evil.conf
        Host *.cluster !head.cluster
          HostName %h.internal
          User hpc
          IdentityFile ~/.ssh/id_%h
        Host *
          Port 2222
        """
    assert resolve(home, text, "node1.cluster") == SSHOptions(
        hostname="node1.cluster.internal", port=2222, user="hpc",
        identity_files=("~/.ssh/id_node1.cluster.internal",),
    )  # the Host included under a Match that does not apply never applies
    head = resolve(home, text, "head.cluster")
    assert (head.hostname, head.user, head.port) == (None, None, 2222)


def test_resolve_name_matched_only_by_host_star(home: Path) -> None:
    entry = resolve(home, "Host web\n  User webuser\n\nHost *\n  User anyone\n", "db.example")
    assert entry.user == "anyone"


def test_resolve_name_with_only_top_level_options(home: Path) -> None:
    entry = resolve(home, "User global\nPort 2200\nHost web\n  User webuser\n", "other")
    assert (entry.user, entry.port) == ("global", 2200)


def test_resolve_name_nothing_applies(home: Path) -> None:
    assert resolve(home, "Host web\n  User webuser\n", "other") == SSHOptions()


def test_resolve_name_wildcard_line_inside_include(home: Path) -> None:
    write(home, "conf.d/lab", "# lab\nHost *.lab\n  User labuser\n")
    entry = resolve(home, "Include conf.d/*\nHost *\n  User fallback\n", "gpu1.lab")
    assert entry.user == "labuser"


def test_given_values_win_and_are_what_tokens_and_match_see(home: Path) -> None:
    text = """
        Host lab
          HostName lab.example.org
          User alice
          Port 2200
          IdentityFile ~/.ssh/id_%r@%h:%p
        Match host 10.0.0.9
          ServerAliveInterval 9
        """
    given = resolve(home, text, "lab", user="carol", port=22, hostname="10.0.0.9")
    assert (given.hostname, given.user, given.port) == ("10.0.0.9", "carol", 22)
    assert given.identity_files == ("~/.ssh/id_carol@10.0.0.9:22",)
    assert given.server_alive_interval == 9


def test_resolve_concrete_alias_agrees_with_import(home: Path) -> None:
    text = """
        Host *.lan
          User lanuser
        Host web.lan db
          Port 2200
        Host web
          Include nothing-here
        Host *
          IdentityFile ~/.ssh/id_%h
          ServerAliveInterval 15
        """
    entries = read(home, text)
    assert list(entries) == ["web.lan", "db", "web"]
    files = SSHConfigFiles(home / ".ssh" / "config", home)
    for entry in entries.values():
        options = files.resolve(entry.alias)
        assert (options.hostname, options.port, options.user, options.identity_files,
                options.proxy_jump) == (entry.hostname, entry.port, entry.user,
                                        entry.identity_files, entry.proxy_jump)
    assert entries["web.lan"].line == 3  # the line naming it, not the earlier 'Host *.lan'


def test_missing_file_is_no_config(home: Path, tmp_path: Path) -> None:
    assert load_ssh_config(home / ".ssh" / "config", home=home) is None
    assert load_ssh_config(tmp_path / "no" / "such" / "dir" / "config", home=home) is None
    (tmp_path / "a-file").write_text("")
    assert load_ssh_config(tmp_path / "a-file" / "config", home=home) is None
    assert load_ssh_config(home / ".ssh", home=home) is None  # a directory


def test_resolve_still_rejects_unreadable_and_malformed_files(home: Path) -> None:
    config = home / ".ssh" / "config"
    config.write_bytes(b"Host \xff\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: line 1, column 6: not UTF-8 text "
                                          r"\(byte 0xff\); save it as UTF-8$"):
        SSHConfigFiles(config, home).resolve("web")
    config.write_text("Host *\n  Port x\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: Invalid Port integer"):
        SSHConfigFiles(config, home).resolve("other")


def test_each_file_is_read_once_for_many_names(home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """route_resolver resolves every open connection's hops on a reload: one read per file."""
    write(home, "more", "Host *.lab\n  User labuser\n")
    files = SSHConfigFiles(write(home, "config", "Include more\nHost *\n  Port 2022\n"), home)
    reads: list[Path] = []
    original = ssh_config.read_config_lines

    def counting(path: Path, home: Path) -> object:
        reads.append(path)
        return original(path, home)

    monkeypatch.setattr(ssh_config, "read_config_lines", counting)
    users = [files.resolve(f"n{i}.lab").user for i in range(20)]
    assert users == ["labuser"] * 20
    assert sorted(p.name for p in reads) == ["config", "more"]


# -- the options rtui now honours ---------------------------------------------------------------


def test_extra_options_default_to_unset(home: Path) -> None:
    entry = resolve(home, "Host bare\n", "bare")
    assert entry.known_hosts_files is None  # unset: ssh's default files
    assert entry.identity_agent is None
    assert entry.identities_only is False
    assert (entry.connect_timeout, entry.server_alive_interval) == (None, None)
    assert entry.server_alive_count_max is None
    assert entry.strict_host_key_checking is None


def test_user_known_hosts_files_several_with_tokens_first_line_wins(home: Path) -> None:
    text = """
        Host web
          HostName web.example.com
          UserKnownHostsFile ~/.ssh/known_%h %d/kh/%u "~/my files/100%%"
        Host *
          UserKnownHostsFile ~/.ssh/other
        """
    assert resolve(home, text, "web").known_hosts_files == (
        "~/.ssh/known_web.example.com",
        f"{home}/kh/localme",
        "~/my files/100%",
    )


def test_user_known_hosts_file_none(home: Path) -> None:
    text = """
        Host lab
          UserKnownHostsFile none
        Host lab2
          UserKnownHostsFile NONE
        Host *
          UserKnownHostsFile ~/.ssh/known_hosts
        """
    for alias in ("lab", "lab2"):  # 'none' counts as set: Host * cannot override it
        assert resolve(home, text, alias).known_hosts_files == ()


def test_identity_agent(home: Path) -> None:
    text = """
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
        """
    assert resolve(home, text, "a").identity_agent == "~/.1password/agent-localme-a.sock"
    assert resolve(home, text, "b").identity_agent == "none"
    assert resolve(home, text, "c").identity_agent == "SSH_AUTH_SOCK"
    assert resolve(home, text, "d").identity_agent == f"{home}/agent/%"


def test_identities_only(home: Path) -> None:
    text = """
        Host a
          IdentitiesOnly yes
        Host b
          IdentitiesOnly No
        Host c
          IdentitiesOnly true
        Host d
        Host *
          IdentitiesOnly no
        """
    assert [resolve(home, text, a).identities_only for a in "abcd"] == [True, False, True, False]
    assert resolve(home, "Host x\n", "x").identities_only is False


def test_timeouts_and_keepalives(home: Path) -> None:
    text = """
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
        """
    a, b = resolve(home, text, "a"), resolve(home, text, "b")
    assert (a.connect_timeout, a.server_alive_interval, a.server_alive_count_max) == (10, 90, 0)
    assert (b.connect_timeout, b.server_alive_interval, b.server_alive_count_max) == (0, 15, 3)


def test_strict_host_key_checking_is_normalised(home: Path) -> None:
    text = """
        Host a
          StrictHostKeyChecking Accept-New
        Host b
          StrictHostKeyChecking off
        Host c
          StrictHostKeyChecking True
        Host *
          StrictHostKeyChecking ASK
        """
    assert resolve(home, text, "a").strict_host_key_checking == "accept-new"
    assert resolve(home, text, "b").strict_host_key_checking == "no"
    assert resolve(home, text, "c").strict_host_key_checking == "yes"
    assert resolve(home, text, "x").strict_host_key_checking == "ask"


def test_bad_connect_timeout_names_file_and_line(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(home, "Host a\n  User x\n\n  ConnectTimeout 10x\n", "a")
    assert str(info.value) == "~/.ssh/config line 4: Invalid ConnectTimeout time value: 10x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Host a\n  ServerAliveInterval -1\n", "line 2: Invalid ServerAliveInterval time"),
        ("Host a\n  ServerAliveCountMax 3x\n",
         "line 2: Invalid ServerAliveCountMax integer value: 3x"),
        ("Host a\n  ServerAliveCountMax 99999999999\n",
         "line 2: ServerAliveCountMax must be 0..2147483647"),
        ("Host a\n  ConnectTimeout 9999999w\n", "line 2: ConnectTimeout must be 0..2147483647"),
        ("Host a\n  ConnectTimeout 1 2\n", "line 2: Extra data at end: 2"),
        ("Host a\n  IdentitiesOnly maybe\n",
         "line 2: Invalid IdentitiesOnly boolean value: maybe"),
        ("Host a\n  StrictHostKeyChecking sure\n",
         "line 2: Invalid StrictHostKeyChecking value: sure"),
        ("Host a\n  IdentityAgent a b\n", "line 2: Extra data at end: b"),
        ("Host a\n  UserKnownHostsFile\n", "line 2: Missing UserKnownHostsFile value"),
        ("Host a\n  UserKnownHostsFile a ''\n", "line 2: UserKnownHostsFile has an empty value"),
        ("Host a\n  UserKnownHostsFile a none\n",
         "line 2: UserKnownHostsFile 'none' must appear alone"),
        ("Match all\n  ConnectTimeout x\n", "line 2: Invalid ConnectTimeout time"),
    ],
)
def test_malformed_extra_options(home: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(home, text, "a")
