"""hosts.toml and the ssh config when they are not what a config file should be (issue 21):
FIFOs, devices, symlink loops, huge or deeply nested files, bad UTF-8. Each is one message
naming the file and what is wrong, at once, and the file is never changed."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rtui.core.config.model import Host
from rtui.core.config.ssh_aliases import MAX_INCLUDED_FILES
from rtui.core.config.store import MAX_FILE_BYTES, MAX_NESTING, HostStore
from rtui.core.config.text_limits import nesting_problem
from rtui.core.errors import ConfigError, HostKeyError
from rtui.core.private import append_private, write_private
from rtui.core.safe_read import NotAFileError
from rtui.core.ssh.hostkeys import KnownHosts
from rtui.core.ssh.ssh_config import SSHConfigFiles, load_ssh_config, resolved_aliases

Make = Callable[[Path], object]  # puts something in a path's place


def snapshot(path: Path) -> tuple[bytes, int] | None:
    """The file's bytes and mtime (None when it is not a regular file)."""
    if not path.is_file():
        return None
    return path.read_bytes(), path.stat().st_mtime_ns


def refused(store: HostStore) -> tuple[str, str]:
    """The messages of a refused load and a refused update, each within a second."""
    messages = []
    for attempt in (store.load, lambda: store.update(lambda c: c.with_host(Host("new")))):
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            attempt()
        assert time.monotonic() - started < 2
        messages.append(str(info.value))
    return messages[0], messages[1]


@pytest.mark.parametrize(("make", "said"), [
    (lambda p: os.mkfifo(p), "it is a FIFO (named pipe), not a file"),
    (lambda p: p.symlink_to("/dev/zero"), "it is a character device, not a file"),
    (lambda p: p.symlink_to(p.name), "too many levels of symbolic links"),
])
def test_a_special_file_in_the_hosts_file_place_is_named(tmp_path: Path, make: Make,
                                                             said: str) -> None:
    path = tmp_path / "hosts.toml"
    make(path)
    loaded, updated = refused(HostStore(path))
    assert loaded == updated == f"cannot read {path}: {said}"
    assert not (tmp_path / "hosts.toml.bak").exists()


def test_a_symlink_to_a_regular_file_is_still_followed(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "hosts.toml"
    real.parent.mkdir()
    real.write_text('[[hosts]]\nname = "lab"\n')
    (tmp_path / "hosts.toml").symlink_to(real)
    store = HostStore(tmp_path / "hosts.toml")
    store.update(lambda c: c.with_host(Host("two")))
    assert [h.name for h in store.load().hosts] == ["lab", "two"]
    assert (tmp_path / "hosts.toml").is_symlink()


def test_a_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES)
    before = snapshot(path)
    loaded, updated = refused(HostStore(path))
    assert loaded == updated == (f"cannot read {path}: it is larger than 4 MiB, the most rtui "
                                 "reads of such a file")
    assert snapshot(path) == before
    path.write_bytes(b"#" * (MAX_FILE_BYTES - 1) + b"\n")  # at the limit: read
    assert HostStore(path).load().hosts == ()


@pytest.mark.parametrize("text", [
    "a = " + "[" * 1000 + "]" * 1000,
    "a = " + "{b = " * 1000 + "}" * 1000,
    '[[hosts]]\nname = "x"\ntags = ' + "[" * 40,  # unclosed: tomllib recursed as deep
])
def test_nesting_past_the_limit_is_refused_before_parsing(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    before = snapshot(path)
    loaded, updated = refused(HostStore(path))
    line = text.count("\n") + 1
    assert loaded == (f"{path}: line {line}: arrays or inline tables nested deeper than "
                      f"{MAX_NESTING} levels; the file was left as it is")
    assert updated == loaded
    assert snapshot(path) == before


def test_nesting_within_the_limit_is_the_model_s_to_judge(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[hosts]]\nname = "x"\ntags = ' + "[" * 30 + "]" * 30 + "\n")
    with pytest.raises(ConfigError, match=r"line 3: host 'x': tags: must be a list of strings"):
        HostStore(path).load()


def test_brackets_in_strings_and_comments_are_not_nesting() -> None:
    deep = "[" * 100
    for text in (f'a = "{deep}"', f"a = '{deep}'", f'a = """\n{deep}\n"""',
                 f"a = '''{deep}'''", f"# {deep}", f'a = "\\"{deep}"', f'a = """x""""  # {deep}'):
        assert nesting_problem(text, MAX_NESTING) is None, text
    # A string's end as TOML reads it: a closing quote escaped, or a multi-line string ended
    # by five quotes (two its own), are not the end.
    assert nesting_problem(f'a = ["\\"", {deep}', MAX_NESTING)
    assert nesting_problem(f'a = """x""""", {deep}', MAX_NESTING)


@pytest.mark.parametrize(("data", "said"), [
    (b'[[hosts]]\nname = "a"\nnote = "caf\xe9"\n',
     "line 3, column 12: not UTF-8 text (byte 0xe9); save it as UTF-8"),
    (b'[[hosts]]\nname = "\xc3\xa9t\xc3\xa9\xff"\n',
     "line 2, column 12: not UTF-8 text (byte 0xff); save it as UTF-8"),
    ('[[hosts]]\nname = "a"\n'.encode("utf-16"),
     "line 1, column 1: UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8"),
])
def test_bad_utf8_names_the_line_and_column(tmp_path: Path, data: bytes, said: str) -> None:
    path = tmp_path / "hosts.toml"
    path.write_bytes(data)
    loaded, updated = refused(HostStore(path))
    assert loaded == updated == f"{path}: {said}; the file was left as it is"
    assert path.read_bytes() == data


def test_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_bytes(b'\xef\xbb\xbf[[hosts]]\nname = "lab"\n')
    assert HostStore(path).load().require("lab")


def test_a_number_too_long_for_python_is_a_message(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text("[settings]\nconnect_timeout = " + "1" * 5000 + "\n")
    loaded, _ = refused(HostStore(path))
    assert loaded == (f"{path}: line 2: a number of more than 4000 digits (no setting needs "
                      "one); the file was left as it is")


def test_thousands_of_problems_are_listed_twenty_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text("".join(f'[[hosts]]\nname = "h{i}"\nport = 0\n' for i in range(20_000)))
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        HostStore(path).load()
    assert time.monotonic() - started < 10
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path} line 3: host 'h0': port: must be 1-65535, got 0"
    assert lines[-1] == f"{path}: ... and 19980 more problems"
    assert len(lines) == 21
    assert len(info.value.problems) == 20_000


def test_a_value_s_newlines_and_escapes_stay_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[hosts]]\nname = "a\\nb\\u001b[31m"\n')
    with pytest.raises(ConfigError) as info:
        HostStore(path).load()
    assert str(info.value).startswith(f"{path} line 2: host 'a\\nb\\x1b[31m': name: ")
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_a_long_jump_chain_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    hosts = "".join(f'[[hosts]]\nname = "h{i}"\njump = ["h{i + 1}"]\n' for i in range(3000))
    path.write_text(hosts + '[[hosts]]\nname = "h3000"\njump = ["h0"]\n')  # a ring
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        HostStore(path).load()
    assert time.monotonic() - started < 5
    assert str(info.value).splitlines()[0] == (
        f"{path} line 3: host 'h0': jump: jump chain of more than 32 hosts: h0 -> h1 -> h2 "
        "-> ... -> h33")


@pytest.mark.parametrize(("make", "said"), [
    (lambda p: os.mkfifo(p), "it is a FIFO (named pipe), not a file"),
    (lambda p: p.symlink_to("/dev/null"), "it is a character device, not a file"),
])
def test_a_special_lock_file_is_named(tmp_path: Path, make: Make, said: str) -> None:
    path = tmp_path / "hosts.toml"
    make(tmp_path / "hosts.toml.lock")
    with pytest.raises(ConfigError) as info:
        HostStore(path).update(lambda c: c.with_host(Host("new")))
    assert str(info.value) == f"cannot open lock file {path}.lock: {said}"
    assert not path.exists()


def test_a_special_file_is_never_replaced_by_a_write(tmp_path: Path) -> None:
    fifo = tmp_path / "hosts.toml"
    os.mkfifo(fifo)
    with pytest.raises(NotAFileError, match="it is a FIFO"):
        write_private(fifo, b"x", backup=True)
    with pytest.raises(NotAFileError, match="it is a FIFO"):
        append_private(fifo, b"x")  # opened for writing: would wait for a reader
    assert fifo.is_fifo()
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(OSError, match="symbolic links"):
        write_private(loop, b"x")


# --- the ssh config (``rtui hosts import``) ---------------------------------------------------


@pytest.fixture
def home(isolated_home: Path) -> Path:
    (isolated_home / ".ssh").mkdir(mode=0o700)
    return isolated_home


def import_error(home: Path) -> str:
    """The message of importing ~/.ssh/config, by the lister and by the resolver."""
    config = home / ".ssh" / "config"
    messages = []
    for attempt in (lambda: resolved_aliases(config, home=home),
                    lambda: SSHConfigFiles(config, home).resolve("web")):
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            attempt()
        assert time.monotonic() - started < 5
        messages.append(str(info.value))
    assert messages[0] == messages[1], messages
    return messages[0]


@pytest.mark.parametrize(("make", "said"), [
    (lambda p: os.mkfifo(p), "cannot read ssh config: it is a FIFO (named pipe), not a file"),
    (lambda p: p.symlink_to("/dev/zero"),
     "cannot read ssh config: it is a character device, not a file"),
    (lambda p: p.symlink_to("config"), "cannot read ssh config: too many levels of symbolic links"),
    (lambda p: p.write_bytes(b"Host a\n" + b"#" * (5 << 20)),
     "cannot read ssh config: it is larger than 4 MiB, the most rtui reads of such a file"),
    (lambda p: p.write_bytes(b"Host a\n  User \x00\xfe\xff\n"),
     "line 2, column 9: not UTF-8 text (byte 0xfe); save it as UTF-8"),
])
def test_a_hostile_ssh_config_is_one_message(home: Path, make: Make, said: str) -> None:
    make(home / ".ssh" / "config")
    assert import_error(home) == f"~/.ssh/config: {said}"


def test_an_included_fifo_is_named_at_the_include_line(home: Path) -> None:
    os.mkfifo(home / ".ssh" / "pipe")
    (home / ".ssh" / "config").write_text("Host web\n  User a\nInclude pipe\n")
    assert import_error(home) == ("~/.ssh/config line 3: cannot read included ~/.ssh/pipe: "
                                  "it is a FIFO (named pipe), not a file")


def test_an_include_loop_is_stopped_with_a_message(home: Path) -> None:
    (home / ".ssh" / "config").write_text("Host web\nInclude config config config\n")
    assert import_error(home) == ("~/.ssh/config line 2: Include nested more than 16 deep "
                                  "(does a file include itself?)")


def test_includes_reading_too_many_files_are_stopped(home: Path) -> None:
    parts = home / ".ssh" / "parts"
    parts.mkdir()
    for i in range(MAX_INCLUDED_FILES // 2 + 1):
        (parts / f"p{i:04}").write_text(f"Host p{i}\n")
    # Two globs of every part: no file includes itself, yet over the limit.
    (home / ".ssh" / "config").write_text("Host web\nInclude parts/* parts/*\n")
    message = import_error(home)
    assert message == (f"~/.ssh/config line 2: Include reads more than {MAX_INCLUDED_FILES} "
                       "files (does a file include itself?)")


def test_binary_garbage_as_an_ssh_config_is_a_message_or_nothing(home: Path) -> None:
    (home / ".ssh" / "config").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"^~/\.ssh/config: line \d+, column \d+: not UTF-8"):
        resolved_aliases(home / ".ssh" / "config", home=home)


# --- known_hosts files (read before every connection) -----------------------------------------


@pytest.mark.parametrize(("make", "said"), [
    (lambda p: os.mkfifo(p), "it is a FIFO (named pipe), not a file"),
    (lambda p: p.symlink_to("/dev/zero"), "it is a character device, not a file"),
    (lambda p: p.symlink_to(p.name), "too many levels of symbolic links"),
])
def test_a_special_known_hosts_file_is_named_not_waited_on(tmp_path: Path, make: Make,
                                                            said: str) -> None:
    known = tmp_path / "known_hosts"
    make(known)
    started = time.monotonic()
    with pytest.raises(HostKeyError) as info:
        KnownHosts([known], tmp_path / "own").trusted("lab.example.org", 22)
    assert time.monotonic() - started < 2
    assert str(info.value) == f"cannot read {known}, a file of known host keys: {said}"
    missing = KnownHosts([tmp_path / "none", tmp_path], tmp_path / "own")  # skipped, as ever
    assert missing.lookup("lab.example.org", 22) == []


@pytest.mark.parametrize(("make", "said"), [
    (lambda p: os.mkfifo(p), "it is a FIFO (named pipe), not a file"),
    (lambda p: p.symlink_to("/dev/zero"), "it is a character device, not a file"),
    (lambda p: p.symlink_to(p), "too many levels of symbolic links"),
])
def test_an_ssh_config_that_is_no_file_stops_a_connection_with_its_reason(
        tmp_path: Path, make: Callable[[Path], object], said: str) -> None:
    """Connecting reads ~/.ssh/config (rtui.core.ssh.route): something else in its place is
    said, as ssh says it, rather than taken as no config (another user, port or key)."""
    config = tmp_path / "config"
    make(config)
    with pytest.raises(ConfigError, match=re.escape(f"~/config: cannot read ssh config: {said}")):
        load_ssh_config(config, home=tmp_path)
    assert load_ssh_config(tmp_path / "none", home=tmp_path) is None  # none at all is normal
