"""The hosts file on disk: atomic, 0600, .bak kept, broken files never overwritten."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore, atomic_write
from rtui.core.errors import ConfigError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    assert HostStore(tmp_path / "nope" / "hosts.toml").load() == Config()


def test_update_creates_file_0600_in_0700_dir(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "rtui" / "hosts.toml"
    HostStore(path).update(lambda c: c.with_host(Host("lab", hostname="lab.example.org")))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    data = tomllib.loads(path.read_text())
    assert data == {"hosts": [{"name": "lab", "hostname": "lab.example.org"}]}
    assert HostStore(path).load().require("lab").hostname == "lab.example.org"


def test_previous_version_is_kept_as_bak(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    store = HostStore(path)
    store.update(lambda c: c.with_host(Host("one")))
    first = path.read_bytes()
    store.update(lambda c: c.with_host(Host("two")))
    bak = path.with_name("hosts.toml.bak")
    assert bak.read_bytes() == first
    assert mode(bak) == 0o600
    assert [h.name for h in store.load().hosts] == ["one", "two"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[[hosts]]\nname = "a"\nport = 22\n[[hosts]\nname = "b"\n', "line 4, column 8"),
        ('[[hosts]]\nname = "a"\nport = \n', "line 3, column 8"),
        ('[[hosts]]\nname = "a\n', "line 2"),
    ],
)
def test_broken_toml_names_file_and_line_and_is_left_alone(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    os.chmod(path, 0o644)
    before = path.read_bytes()
    store = HostStore(path)
    with pytest.raises(ConfigError) as info:
        store.load()
    message = str(info.value)
    assert str(path) in message
    assert where in message
    assert "invalid TOML" in message
    with pytest.raises(ConfigError):
        store.update(lambda c: c.with_host(Host("new")))
    assert path.read_bytes() == before
    assert mode(path) == 0o644  # not even rewritten
    assert not path.with_name("hosts.toml.bak").exists()


def test_invalid_values_point_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(
        '[settings]\ncheck_timeout = 3\n\n'
        '[[hosts]]\nname = "ok"\n\n'
        '[[hosts]]\nname = "lab"\nhostname = "x"\nport = 99999\n'
    )
    with pytest.raises(ConfigError) as info:
        HostStore(path).load()
    assert str(info.value) == f"{path} line 10: host 'lab': port: must be 1-65535, got 99999"


def test_duplicate_name_points_at_the_second(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[hosts]]\nname = "a"\n\n[[hosts]]\nname = "a"\n')
    with pytest.raises(ConfigError, match=r"line 5: host 'a': name: the name is used"):
        HostStore(path).load()


def test_refused_change_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    store = HostStore(path)
    store.update(lambda c: c.with_host(Host("a")))
    before = path.read_bytes()

    def refuse(config: Config) -> Config:
        raise ConfigError("no")

    with pytest.raises(ConfigError, match="no"):
        store.update(refuse)
    # A change that would make the file invalid is refused as well.
    with pytest.raises(ConfigError, match="jump chain loops"):
        store.update(lambda c: c.with_host(Host("a", jump=("a",))))
    assert path.read_bytes() == before


def test_symlinked_hosts_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "hosts.toml"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "hosts.toml"
    link.symlink_to(real)
    HostStore(link).update(lambda c: c.with_host(Host("a")))
    assert link.is_symlink()
    assert "name = \"a\"" in real.read_text()


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "out" / "f"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert sorted(p.name for p in path.parent.iterdir()) == ["f", "f.bak"]
    assert path.read_bytes() == b"two"


def test_unwritable_directory_gives_a_message(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory modes; a file where the directory should be fails for anyone.
        (tmp_path / "blocker").write_text("")
        path = tmp_path / "blocker" / "hosts.toml"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        path = locked / "hosts.toml"
    with pytest.raises(ConfigError, match="cannot"):
        HostStore(path).update(lambda c: c.with_host(Host("a")))
