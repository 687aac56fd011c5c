"""The Host alias lister behind ``rtui hosts import``: which aliases, from which file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rtui.core.config.ssh_aliases import SSHAlias, host_matches, list_aliases
from rtui.core.errors import ConfigError


@pytest.fixture
def home(isolated_home: Path) -> Path:
    """The test's HOME with an empty ``.ssh``: the real one is never read."""
    (isolated_home / ".ssh").mkdir()
    return isolated_home


def write(home: Path, name: str, text: str) -> Path:
    path = home / ".ssh" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def names(home: Path, text: str) -> dict[str, SSHAlias]:
    return {a.alias: a for a in list_aliases(write(home, "config", text), home=home)}


def test_basic_block_reports_file_and_line(home: Path) -> None:
    config = write(home, "config", "# my hosts\nHost web\n    HostName 10.0.0.5\n")
    assert list_aliases(config, home=home) == [SSHAlias("web", config, 2)]


def test_wildcards_and_negations_are_not_aliases(home: Path) -> None:
    found = names(home, """
        Host *.lan
          User lanuser
        Host web
        Host db !web
        Host * w?b
        """)
    assert list(found) == ["web", "db"]


def test_multiple_aliases_on_one_host_line(home: Path) -> None:
    found = names(home, """
        Host alpha beta *.example.com gamma
          User shared
        Host beta
          User later
        """)
    assert list(found) == ["alpha", "beta", "gamma"]
    assert {a.line for a in found.values()} == {1}  # first Host line naming the alias


def test_key_equals_value_quotes_and_crlf(home: Path) -> None:
    path = home / ".ssh" / "config"
    path.write_bytes(b'host=web\r\nHost "my db"  # a comment\r\n')
    assert [a.alias for a in list_aliases(path, home=home)] == ["web", "my db"]


def test_include_relative_to_dot_ssh_with_glob(home: Path) -> None:
    write(home, "config.d/20-db", "Host db\n  User dbuser\n")
    write(home, "config.d/10-web", "Host web\n  User webuser\n")
    write(home, "extra", "Host *\n  Port 2022\n")
    found = names(home, """
        Include config.d/* nothing-here/*
        Include ~/.ssh/extra
        Host late
        """)
    assert list(found) == ["web", "db", "late"]  # sorted glob, expanded in place


def test_alias_from_included_file_reports_its_source_and_line(home: Path) -> None:
    included = write(home, "conf.d/work", "# work hosts\n\nHost work\n  HostName w.example\n")
    found = names(home, "Include conf.d/work\n")
    assert found["work"] == SSHAlias("work", included, 3)


def test_include_inside_host_block_is_conditional(home: Path) -> None:
    write(home, "web.conf", "User webonly\nHost db\n  Port 5432\nHost web\n  Port 1\n")
    found = names(home, """
        Host web
          Include web.conf
          Port 2200
        Host db
          User dbuser
        """)
    # ssh ANDs the outer block with the included one: 'Host db' there cannot match db.
    assert list(found) == ["web", "db"]
    assert found["db"].line == 4


def test_include_under_match_is_listed(home: Path) -> None:
    """A Match block may apply to any name: its included aliases are offered."""
    write(home, "lab.conf", "Host lab\n")
    assert list(names(home, "Match all\n  Include lab.conf\nHost web\n")) == ["lab", "web"]


def test_include_recursion_is_an_error(home: Path) -> None:
    write(home, "loop", "Include config\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/\w+ line 1: Include nested more than 16"):
        names(home, "Include loop\n")


def test_unreadable_include_target_is_an_error(home: Path) -> None:
    write(home, "bad", "Host x\n")
    (home / ".ssh" / "bad").write_bytes(b"Host \xff\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: included ~/\.ssh/bad"):
        names(home, "Host a\nInclude bad\n")


def test_unterminated_quote_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config line 2: unterminated \" quote$"):
        names(home, 'Host web\n  User "bob\n')


def test_host_needs_a_pattern(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 1: Host needs non-empty patterns"):
        names(home, "Host\n")


def test_missing_file_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: cannot read ssh config"):
        list_aliases(home / ".ssh" / "config", home=home)


def test_missing_file_outside_home_names_full_path(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "config"
    with pytest.raises(ConfigError, match=str(missing)):
        list_aliases(missing, home=home)


def test_not_utf8_is_an_error(home: Path) -> None:
    (home / ".ssh" / "config").write_bytes(b"Host \xff\n")
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: line 1, column 6: not UTF-8 text "
                                          r"\(byte 0xff\); save it as UTF-8$"):
        list_aliases(home / ".ssh" / "config", home=home)


def test_default_home_is_used_when_not_given(home: Path) -> None:
    write(home, "more", "Host more\n")
    config = write(home, "config", "Include more\nHost a\n")
    assert [a.alias for a in list_aliases(config)] == ["more", "a"]


def test_host_matches_is_case_sensitive_with_negation() -> None:
    assert host_matches(["web*"], "web1")
    assert not host_matches(["web*"], "Web1")
    assert not host_matches(["*", "!web1"], "web1")
    assert not host_matches(["!web1"], "db")  # only-negated patterns match nothing
    assert host_matches(["w[1]"], "w[1]") and not host_matches(["w[1]"], "w1")
