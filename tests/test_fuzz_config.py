"""The files rtui reads from a person's disk, fuzzed (issue 21, item 2): hosts.toml, the ssh
config ``rtui hosts import`` reads, and kernel connection files.

Generated hosts files (host tables of every type, value and size, nesting past the limit),
random bytes, mutations of a valid file and odd encodings (UTF-16, latin-1, NULs, CRLF) are
loaded and changed through :class:`HostStore` as the CLI and the TUI do. Whatever the file
holds: a Config or one ConfigError whose every line names the file and stays one printable
line, each example in under 2 s, and a failing ``update`` leaves the file's bytes and mtime as
they were. Generated ssh configs (every keyword rtui reads, quoting, %-tokens, Includes of
each other and of themselves) are imported: aliases or a ConfigError, and what is imported
always writes. Connection files: the parsed info or a ConnectionFileError naming the file.

The CLI tests at the end run ``python -m rtui hosts list`` and ``hosts add`` on what the issue
found on main (a FIFO, a symlink to /dev/zero, a symlink loop, 1000-deep nesting, a 10 MB
file, bad UTF-8): exit 1, one ``rtui: ...`` line, no traceback, no hang, the file unchanged.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from rtui.core.config.importer import merge_imported
from rtui.core.config.model import AUTH_METHODS, HOST_KEY_POLICIES, Config, Host
from rtui.core.config.store import HostStore
from rtui.core.errors import ConfigError
from rtui.core.jupyter.settings import JUPYTER_KEYS
from rtui.core.kernels.connection_info import (
    PORT_NAMES,
    ConnectionFileError,
    read_connection_file,
)
from rtui.core.slurm.settings import SLURM_KEYS
from rtui.core.ssh.ssh_config import resolved_aliases
from tests import reliability
from tests.conftest import run_rtui

EXAMPLE_S = 2.0  # the most one example (a load and an update) may take
CLI_S = 20.0  # the most one rtui command may take (it starts Python: ~0.3 s)


# -- what every outcome must be ----------------------------------------------------------------


class Tally:
    """Examples run and the kinds of message seen (for the asserts and the README's row)."""

    def __init__(self) -> None:
        self.tried = 0
        self.loaded = 0
        self.messages: dict[str, str] = {}  # first few words -> one whole message

    def saw(self, message: str, where: str = "") -> None:
        """Keep ``message`` (its first line, ``where`` shown as <file>) if its kind is new."""
        first = message.splitlines()[0]
        first = first.replace(where, "<file>") if where else first
        key = " ".join(first.split()[:4])
        self.messages.setdefault(key, first)

    def seen(self) -> str:
        """A few of the messages seen, shortened, for the table's "seen" column."""
        return " / ".join(sorted(self.messages.values(), key=len)[:3])[:200]


def check_message(message: str, path: Path) -> None:
    """Every line names the file, is printable and short: one line per problem."""
    assert message.strip(), "an empty message"
    for line in message.splitlines():
        assert str(path) in line, message[:500]
        assert line.isprintable(), repr(line[:300])
        assert len(line) <= len(str(path)) + 420, line[:500]
    assert "Traceback" not in message


def try_hosts_file(path: Path, data: bytes, tally: Tally) -> None:
    """Load ``data`` as hosts.toml and add a host to it: the invariants of the module doc."""
    for leftover in path.parent.iterdir():  # .bak, .lock and the file of the last example
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    path.write_bytes(data)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an mtime no write would give
    store = HostStore(path)
    tally.tried += 1
    started = time.monotonic()
    try:
        store.load()
        loaded = True
    except ConfigError as exc:
        check_message(str(exc), path)
        tally.saw(str(exc), str(path))
        loaded = False
    try:
        store.update(lambda config: config.with_host(Host("fuzz-added")))
    except ConfigError as exc:
        check_message(str(exc), path)
        assert not loaded, f"a file that loads could not be changed: {exc}"
        assert path.read_bytes() == data, "a failing update changed the file"
        assert path.stat().st_mtime_ns == 1_000_000_000, "a failing update touched the file"
        assert not path.with_name(path.name + ".bak").exists()
    else:
        assert loaded, "a file that does not load was changed"
        assert store.load().require("fuzz-added")
        tally.loaded += 1
    assert time.monotonic() - started < EXAMPLE_S


@pytest.fixture
def hosts_path(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    return directory / "hosts.toml"


# -- generated hosts files ---------------------------------------------------------------------

_NAMES = ("lab", "gpu-1", "bastion", "a.b", "x")
_BASIC = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=string.printable, min_size=100, max_size=3000),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(timezones=st.none() | st.just(datetime.UTC)),
    st.dates(),
    st.times(),
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


_ANY = st.recursive(
    _BASIC,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
) | st.integers(1, 120).map(_nested)

_HOST_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "hostname": st.sampled_from(["lab.example.org", "10.0.0.1", "::1", "", "a b"]),
    "port": st.integers(-5, 70_000),
    "user": st.sampled_from(["alice", "", "a@b", "root"]),
    "identity_files": st.lists(st.sampled_from(["~/.ssh/id", "", "/k"]), max_size=3),
    "auth_methods": st.lists(st.sampled_from([*AUTH_METHODS, "gssapi"]), max_size=3),
    "jump": st.lists(st.sampled_from([*_NAMES, "u@h:22", "h:99999", "[::1]:2", ""]),
                     max_size=3),
    "python": st.sampled_from(["auto", "~/envs/lab", "", "python3"]),
    "tags": st.lists(st.text(max_size=10), max_size=3),
    "note": st.text(max_size=40),
    "host_key_policy": st.sampled_from([*HOST_KEY_POLICIES, "yes"]),
    "autoreload": st.sampled_from([2, 3, "off", "2", 4, "on"]),
    "autoreload_exclude": st.lists(st.sampled_from(["torch", "a.b", "", "numpy"]), max_size=3),
    "slurm": st.dictionaries(st.sampled_from([*SLURM_KEYS, "nodes"]),
                             st.sampled_from(["gpu", "1:00:00", "16G", 4, "", "a100:2",
                                              ["--exclusive"], ["module load x"], 0]),
                             max_size=4),
    "jupyter": st.dictionaries(
        st.sampled_from([*JUPYTER_KEYS, "token"]),
        st.sampled_from(["http://127.0.0.1:8888/", "ftp://x/", "https://u:p@h/", True, "",
                         "bastion", "lab", 30, math.nan, 10**30, "TOKEN_VAR"]),
        max_size=4),
    "password": st.just("hunter2"),
}
_SETTINGS_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([5, 0.5, 3600, 86_401, "ask", "auto", True, "60"]))
_SETTINGS_KEYS = st.sampled_from([
    "connect_timeout", "check_timeout", "check_concurrency", "keepalive_interval",
    "keepalive_count_max", "reconnect_max_delay", "reconnect_give_up", "console_max_lines",
    "output_buffer_mb", "host_key_policy", "band_scroll", "images", "colour"])


@st.composite
def host_table(draw: st.DrawFn) -> dict[str, Any]:
    table: dict[str, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        table["name"] = draw(st.sampled_from(_NAMES) | st.text(max_size=12))
    for key in draw(st.lists(st.sampled_from(list(_HOST_VALUES)), max_size=5, unique=True)):
        strategy = _HOST_VALUES[key] if draw(st.integers(0, 3)) else _ANY
        table[key] = draw(strategy)
    if draw(st.integers(0, 5)) == 0:
        table[draw(st.text(min_size=1, max_size=8))] = draw(_ANY)
    return table


@st.composite
def hosts_document(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["settings"] = draw(st.dictionaries(_SETTINGS_KEYS, _SETTINGS_VALUES,
                                                    max_size=4))
    document["hosts"] = draw(st.lists(host_table(), max_size=6))
    if draw(st.integers(0, 6)) == 0:
        document[draw(st.sampled_from(["hosts", "settings", "extra"]))] = draw(_ANY)
    return document


@pytest.mark.reliability
def test_generated_hosts_files_load_or_say_what_is_wrong(hosts_path: Path) -> None:
    tally = Tally()

    @given(hosts_document())
    def run(document: dict[str, Any]) -> None:
        try_hosts_file(hosts_path, tomli_w.dumps(document).encode("utf-8"), tally)

    run()
    assert tally.messages, "no example was refused: the strategy generates only valid files"
    reliability.record("bad input", "hosts.toml: generated host tables (types, values, "
                       "sizes, nesting)", tried=tally.tried, seen=tally.seen(), tracebacks=0,
                       hangs=0, files_changed=0)


# -- random bytes, mutations, encodings --------------------------------------------------------

VALID = """\
# a hosts file as a person keeps it
[settings]
connect_timeout = 10
keepalive_interval = 5.0
images = "auto"

[[hosts]]
name = "bastion"
hostname = "gw.example.org"
user = "alice"
tags = ["gw", "ssh"]

[[hosts]]
name = "lab"
hostname = "lab.example.org"
port = 2222
jump = ["bastion"]
identity_files = ["~/.ssh/id_lab"]
note = \"\"\"A100s,
booked on Tuesdays\"\"\"

[hosts.slurm]
partition = "gpu"
time = "2:00:00"
cpus = 8
extra = ["--exclusive"]

[[hosts]]
name = "notebook"
jupyter = { url = "https://hub.example.org/", hub = true, via = "bastion", start_timeout = 60 }
"""


def test_the_valid_sample_is_valid(hosts_path: Path) -> None:
    hosts_path.write_text(VALID)
    assert [h.name for h in HostStore(hosts_path).load().hosts] == ["bastion", "lab", "notebook"]


@pytest.mark.reliability
def test_random_bytes_as_hosts_file(hosts_path: Path) -> None:
    tally = Tally()

    @given(st.binary(max_size=2000) | st.text(max_size=300).map(str.encode))
    def run(data: bytes) -> None:
        try_hosts_file(hosts_path, data, tally)

    run()
    reliability.record("bad input", "hosts.toml: random bytes", tried=tally.tried,
                       seen=tally.seen(), tracebacks=0, hangs=0, files_changed=0)


_INSERTS = st.one_of(
    st.binary(min_size=1, max_size=8),
    st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\r\n", b'"', b"'''", b"\\",
                     b"[[hosts]]\n", b"= nan", b"=inf", b"#", b"\n[hosts.slurm]\n"]),
    st.integers(30, 3000).map(lambda n: b"[" * n),
    st.integers(30, 1500).map(lambda n: b"{a=" * n),
    st.integers(1, 4).map(lambda n: b"9" * 10 ** n),
)


@st.composite
def mutated_sample(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID.encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "flip", "repeat"]))
        if kind == "insert":
            data[at:at] = draw(_INSERTS)
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "repeat":
            data[at:at] = bytes(data[at:at + draw(st.integers(1, 60))]) * draw(st.integers(2, 50))
    return bytes(data)


@pytest.mark.reliability
def test_mutations_of_a_valid_hosts_file(hosts_path: Path) -> None:
    tally = Tally()

    @given(mutated_sample())
    def run(data: bytes) -> None:
        try_hosts_file(hosts_path, data, tally)

    run()
    reliability.record("bad input", "hosts.toml: mutations of a valid file (bytes changed, "
                       "cut, repeated; '[' runs of up to 3000)", tried=tally.tried,
                       seen=tally.seen(), tracebacks=0, hangs=0, files_changed=0)


_ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-16 with BOM": lambda text: text.encode("utf-16"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-8 with BOM": lambda text: text.encode("utf-8-sig"),
    "latin-1": lambda text: text.replace("Tuesdays", "mardis à 9 h").encode("latin-1"),
    "CRLF": lambda text: text.replace("\n", "\r\n").encode(),
    "lone CR": lambda text: text.replace("\n", "\r").encode(),
    "NUL bytes": lambda text: text.replace("\n\n", "\n\x00\n").encode(),
    "NUL inside strings": lambda text: text.replace("gw.", "gw\x00.").encode(),
}


@pytest.mark.reliability
def test_odd_encodings_of_a_valid_hosts_file(hosts_path: Path) -> None:
    tally = Tally()

    @given(st.sampled_from(sorted(_ENCODINGS)), st.integers(0, len(VALID)))
    def run(encoding: str, cut: int) -> None:
        text = VALID if cut % 2 else VALID[:cut]  # whole, or cut anywhere
        try_hosts_file(hosts_path, _ENCODINGS[encoding](text), tally)

    run()
    for encoding in ("utf-8 with BOM", "CRLF"):  # these two are read as they are
        try_hosts_file(hosts_path, _ENCODINGS[encoding](VALID), tally)
        assert [h.name for h in HostStore(hosts_path).load().hosts][:3] == [
            "bastion", "lab", "notebook"]
    reliability.record("bad input", "hosts.toml: odd encodings (UTF-16 with BOM, latin-1, "
                       "NUL, CRLF, CR)", tried=tally.tried, seen=tally.seen(), tracebacks=0,
                       hangs=0, files_changed=0)


# -- the ssh config behind ``rtui hosts import`` -------------------------------------------------

_SSH_WORDS = st.one_of(
    st.sampled_from(["web", "db", "*", "!db", "web*", "?", "gw.example.org", "alice", "22",
                     "2222", "0", "99999", "~/.ssh/id", "%h", "%d/x", "%", "%q", "a,b", "none",
                     "yes", "ask", "accept-new", '"quoted word"', "'single'", "a\\ b", "#x",
                     "=", "1m30s", "99999999999", "all", "final", "canonical", "host",
                     "originalhost", "user", "localuser", "ü", "\t"]),
    st.text(alphabet=string.ascii_letters + string.digits + "%*?!,.@:[]\"'\\#=~/-",
            max_size=12),
)
_SSH_KEYWORDS = st.one_of(
    st.sampled_from(["Host", "HostName", "Port", "User", "IdentityFile", "ProxyJump",
                     "Match", "ServerAliveInterval", "ServerAliveCountMax", "ConnectTimeout",
                     "StrictHostKeyChecking", "UserKnownHostsFile", "IdentitiesOnly",
                     "IdentityAgent", "HostKeyAlias", "Include", "Compression", "Bogus"]),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=8),
)
_INCLUDED = ("config", "inc1", "inc2", "missing", "*", "inc*", "/dev/zero", "sub")


@st.composite
def ssh_config_text(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        keyword = draw(_SSH_KEYWORDS)
        if keyword == "Include":
            words = draw(st.lists(st.sampled_from(_INCLUDED), min_size=1, max_size=3))
        else:
            words = draw(st.lists(_SSH_WORDS, max_size=4))
        separator = draw(st.sampled_from([" ", "=", " = ", "\t"]))
        indent = draw(st.sampled_from(["", "  ", "\t"]))
        lines.append(f"{indent}{keyword}{separator}{' '.join(words)}")
    # Match exec runs a command: never generated (rtui bounds it; the fuzz runs nothing).
    return "\n".join(line for line in lines if "exec" not in line.lower())


@pytest.fixture
def ssh_home(isolated_home: Path) -> Path:
    (isolated_home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    return isolated_home


@pytest.mark.reliability
def test_generated_ssh_configs_import_or_say_what_is_wrong(ssh_home: Path,
                                                           tmp_path: Path) -> None:
    tally = Tally()
    ssh = ssh_home / ".ssh"
    config = ssh / "config"
    hosts = tmp_path / "import" / "hosts.toml"

    @given(ssh_config_text(), ssh_config_text(), ssh_config_text(),
           st.sampled_from(["text", "bytes", "fifo"]), st.binary(max_size=300))
    def run(main: str, inc1: str, inc2: str, sub: str, garbage: bytes) -> None:
        for leftover in (*ssh.iterdir(), *(hosts.parent.iterdir() if hosts.parent.exists()
                                           else ())):
            leftover.unlink()
        config.write_text(main)
        (ssh / "inc1").write_text(inc1)
        (ssh / "inc2").write_bytes(garbage if sub == "bytes" else inc2.encode())
        if sub == "fifo":
            os.mkfifo(ssh / "sub")
        tally.tried += 1
        started = time.monotonic()
        try:
            entries = resolved_aliases(config, home=ssh_home)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith("~/.ssh/"), message
            assert "Traceback" not in message
            tally.saw(message)
        else:
            tally.loaded += 1
            store = HostStore(hosts)
            try:  # what is imported always writes, or is refused as a whole
                store.update(lambda c: merge_imported(c, entries, update=True)[0])
            except ConfigError as exc:
                assert "jump chain" in str(exc), str(exc)  # ProxyJump loops, as ssh's are
                assert not hosts.exists()
            else:
                assert isinstance(store.load(), Config)
        assert time.monotonic() - started < EXAMPLE_S

    run()
    assert tally.loaded, "no generated config was importable"
    reliability.record("bad input", "ssh config import: generated configs (keywords, quoting, "
                       "%-tokens, Includes of themselves, a FIFO, binary)", tried=tally.tried,
                       seen=tally.seen(), tracebacks=0, hangs=0, files_changed=0)


# -- kernel connection files -------------------------------------------------------------------

_GOOD_INFO = {"shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003,
              "control_port": 50004, "hb_port": 50005, "ip": "127.0.0.1", "key": "k" * 32,
              "transport": "tcp", "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=30)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8)


@st.composite
def connection_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["fields", "bytes", "cut", "deep", "encoded"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "deep":
        return b"[" * draw(st.integers(100, 100_000))
    info: dict[str, Any] = dict(_GOOD_INFO)
    for key in draw(st.lists(st.sampled_from([*_GOOD_INFO, "extra"]), max_size=4)):
        if draw(st.booleans()):
            info.pop(key, None)
        else:
            info[key] = draw(_JSON_VALUES | st.sampled_from(["ipc", "/tmp/k" + "x" * 120, "*",
                                                             "hmac-md4", 0, 65536]))
    text = json.dumps(info)
    if kind == "cut":
        text = text[:draw(st.integers(0, len(text)))]
    data = text.encode()
    if kind == "encoded":
        data = draw(st.sampled_from([text.encode("utf-16"), b"\xef\xbb\xbf" + data,
                                     data.replace(b",", b",\x00", 1)]))
    return data


@pytest.mark.reliability
def test_connection_files_parse_or_say_what_is_wrong(tmp_path: Path) -> None:
    tally = Tally()
    path = tmp_path / "kernel-1.json"

    @given(connection_bytes())
    def run(data: bytes) -> None:
        path.write_bytes(data)
        tally.tried += 1
        started = time.monotonic()
        try:
            info = read_connection_file(path)
        except ConnectionFileError as exc:
            message = str(exc)
            assert message.startswith(f"{path} is not a usable kernel connection file:")
            assert len(message.splitlines()) >= 2 and "Traceback" not in message
            tally.saw(message.splitlines()[1].strip(), str(path))
        else:
            assert set(PORT_NAMES) <= set(info) and isinstance(info["key"], str)
            tally.loaded += 1
        assert time.monotonic() - started < EXAMPLE_S

    run()
    for make in (os.mkfifo, lambda p: p.symlink_to("/dev/zero"), lambda p: p.symlink_to(p)):
        path.unlink(missing_ok=True)
        make(path)
        tally.tried += 1
        with pytest.raises(ConnectionFileError) as info:
            read_connection_file(path)
        tally.saw(info.value.problems[0], str(path))
    reliability.record("bad input", "kernel connection files: generated fields, bytes, cut, "
                       "100,000-deep JSON, UTF-16, FIFO, /dev/zero, symlink loop",
                       tried=tally.tried, seen=tally.seen(), tracebacks=0, hangs=0,
                       files_changed=0)


# -- the CLI on what the issue found -----------------------------------------------------------

_CASES: dict[str, tuple[Callable[[Path], object], str]] = {
    "a FIFO": (lambda p: os.mkfifo(p), "it is a FIFO (named pipe), not a file"),
    "a symlink to /dev/zero": (lambda p: p.symlink_to("/dev/zero"),
                               "it is a character device, not a file"),
    "a symlink loop": (lambda p: p.symlink_to(p.name), "too many levels of symbolic links"),
    "arrays nested 1000 deep": (
        lambda p: p.write_text('[[hosts]]\nname = "a"\ntags = ' + "[" * 1000 + "]" * 1000),
        "line 3: arrays or inline tables nested deeper than 32 levels"),
    "inline tables nested 1000 deep": (
        lambda p: p.write_text("x = " + "{a = " * 1000 + "}" * 1000),
        "line 1: arrays or inline tables nested deeper than 32 levels"),
    "a 10 MB file": (lambda p: p.write_bytes(b"# padding\n" * 1_000_000),
                     "it is larger than 4 MiB, the most rtui reads of such a file"),
    "bad UTF-8": (lambda p: p.write_bytes(b'[[hosts]]\nname = "lab"\nnote = "caf\xe9"\n'),
                  "line 3, column 12: not UTF-8 text (byte 0xe9); save it as UTF-8"),
    "keepalive_interval = nan": (
        lambda p: p.write_text("[settings]\nkeepalive_interval = nan\n"),
        "settings.keepalive_interval: must be greater than 0 and at most 3600 s, got nan"),
}


@pytest.mark.reliability
@pytest.mark.parametrize("case", list(_CASES))
def test_the_cli_names_a_hostile_hosts_file(config_file: Path, case: str) -> None:
    make, said = _CASES[case]
    config_file.parent.mkdir(parents=True, exist_ok=True)
    make(config_file)
    before = sorted(config_file.parent.iterdir())
    data = config_file.read_bytes() if config_file.is_file() else None
    commands: tuple[tuple[str, ...], ...] = (
        ("hosts", "list"), ("hosts", "add", "new", "--hostname", "new.example.org"))
    if "nan" in case:  # it was `rtui run` that died of it
        commands += (("run", "new", "-c", "1"),)
    for args in commands:
        started = time.monotonic()
        result = run_rtui(*args, timeout=CLI_S)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("rtui: "), result.stderr
        assert str(config_file) in lines[0] and said in lines[0], lines[0]
        assert time.monotonic() - started < CLI_S
    if data is not None:
        assert config_file.read_bytes() == data
    assert [p.name for p in sorted(config_file.parent.iterdir())
            if not p.name.endswith(".lock")] == [p.name for p in before]
    reliability.record("bad input", f"hosts.toml: {case}", tried=len(commands),
                       seen=lines[0].replace(str(config_file), "…/hosts.toml")[:160],
                       tracebacks=0, hangs=0, files_changed=0)
