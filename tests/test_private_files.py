"""The one private-file writer: 0600 files in 0700 directories, atomic replace, one-write
appends; and the typed error family."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtui.core.config.model import Problem
from rtui.core.config.store import HostStore
from rtui.core.errors import ConfigError, HostKeyChangedError, RtuiError
from rtui.core.private import append_private, open_private, write_private


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_write_private_is_0600_in_a_new_0700_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file"  # tmp_path holds the isolated home too
    write_private(target, b"one")
    assert target.read_bytes() == b"one"
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700 and mode(target.parent.parent) == 0o700
    write_private(target, b"two", backup=True)
    assert target.read_bytes() == b"two"
    assert (target.parent / "file.bak").read_bytes() == b"one"
    assert mode(target.parent / "file.bak") == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["file", "file.bak"]  # no temp


def test_write_private_replaces_a_symlinks_target(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(real)
    write_private(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "d" / "file"
    write_private(target, b"old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_private(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["file"]


def test_append_and_open_tighten_a_loosened_file(tmp_path: Path) -> None:
    target = tmp_path / "d" / "log"
    append_private(target, b"1\n")
    append_private(target, b"2\n", sync=True)
    assert target.read_bytes() == b"1\n2\n" and mode(target) == 0o600
    os.chmod(target, 0o644)
    os.close(open_private(target, os.O_RDONLY))
    assert mode(target) == 0o600


def test_errors_carry_a_title_and_config_problems_are_typed(tmp_path: Path) -> None:
    assert RtuiError("boom").title == "Error"
    assert RtuiError("boom", "Custom").title == "Custom"
    assert HostKeyChangedError("x").title == "Host key changed"
    path = tmp_path / "hosts.toml"
    path.write_text('[[hosts]]\nname = "a"\nport = 99999\n')
    with pytest.raises(ConfigError) as caught:
        HostStore(path).load()
    assert caught.value.title == "Configuration"
    assert [(p.host, p.field) for p in caught.value.problems] == [("a", "port")]
    assert all(isinstance(p, Problem) for p in caught.value.problems)
    assert f"{path} line 3" in str(caught.value)
