"""Connection files checked before use: every malformed kind gets a message naming each
problem (no traceback, no hang); good files come back clean, with jupyter_client's defaults."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rtui.core.errors import KernelError
from rtui.core.kernels.connection_info import (
    MAX_FILE_BYTES,
    PORT_NAMES,
    ConnectionFileError,
    check_connection_info,
    parse_connection_text,
    read_connection_file,
)

GOOD: dict[str, Any] = {
    "shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003, "control_port": 50004,
    "hb_port": 50005, "ip": "127.0.0.1", "key": "a0b1c2", "transport": "tcp",
    "signature_scheme": "hmac-sha256", "kernel_name": "python3",
}
IPC: dict[str, Any] = {
    **GOOD, "transport": "ipc", "ip": "/tmp/rtui-1000/k/abc/k", "shell_port": 1,
    "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5,
}


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != name}


def problems_of(info: Any) -> tuple[str, ...]:
    with pytest.raises(ConnectionFileError) as caught:
        check_connection_info(info, "f.json")
    assert isinstance(caught.value, KernelError)
    assert str(caught.value).startswith("f.json is not a usable kernel connection file:\n")
    return caught.value.problems


# (what the file holds, the one problem it must be refused for: a fragment of its message)
MALFORMED_INFO: list[tuple[str, Any, str]] = [
    *[(f"missing {p}", without(p), f"{p}: missing") for p in PORT_NAMES],
    ("missing key", without("key"), "key: missing"),
    *[(f"{p} a string", {**GOOD, p: "50001x"}, f"{p}: must be a number, got the string")
      for p in PORT_NAMES],
    *[(f"{p} null", {**GOOD, p: None}, f"{p}: must be a port number, got null")
      for p in PORT_NAMES],
    *[(f"{p} zero", {**GOOD, p: 0}, f"{p}: must be between 1 and 65535, got 0")
      for p in PORT_NAMES],
    *[(f"{p} too big", {**GOOD, p: 65536}, f"{p}: must be between 1 and 65535, got 65536")
      for p in PORT_NAMES],
    ("port negative", {**GOOD, "hb_port": -5}, "hb_port: must be between 1 and 65535, got -5"),
    ("port huge", {**GOOD, "hb_port": 10**30}, "hb_port: must be between 1 and 65535, got 1000"),
    ("port a float", {**GOOD, "shell_port": 50001.5}, "shell_port: must be a whole number"),
    ("port a whole float", {**GOOD, "shell_port": 50001.0}, "shell_port: must be a whole number"),
    ("port true", {**GOOD, "shell_port": True}, "shell_port: must be a port number, got true"),
    ("port a list", {**GOOD, "iopub_port": [1]}, "iopub_port: must be a port number, got a list"),
    ("port an object", {**GOOD, "iopub_port": {}}, "iopub_port: must be a port number, got an "),
    ("ports repeated", {**GOOD, "iopub_port": 50001},
     "shell_port and iopub_port: the same port (50001)"),
    ("key a number", {**GOOD, "key": 1234}, "key: must be a string, got a number"),
    ("key null", {**GOOD, "key": None}, "key: must be a string, got null"),
    ("key a list", {**GOOD, "key": ["a"]}, "key: must be a string, got a list of 1 item"),
    ("scheme unknown hash", {**GOOD, "signature_scheme": "hmac-sha999"},
     "signature_scheme: unknown hash 'sha999'"),
    ("scheme not hmac", {**GOOD, "signature_scheme": "sha256"},
     "signature_scheme: must be \"hmac-<hash>\""),
    ("scheme empty", {**GOOD, "signature_scheme": ""}, "signature_scheme: must be \"hmac-<hash>\""),
    ("scheme a number", {**GOOD, "signature_scheme": 256}, "signature_scheme: must be a string"),
    ("scheme a hashlib function", {**GOOD, "signature_scheme": "hmac-new"},
     "signature_scheme: unknown hash 'new'"),
    ("scheme a variable-length hash", {**GOOD, "signature_scheme": "hmac-shake_128"},
     "signature_scheme: shake_128 cannot be used for an HMAC"),
    ("transport udp", {**GOOD, "transport": "udp"}, "transport: must be \"tcp\" or \"ipc\""),
    ("transport upper case", {**GOOD, "transport": "TCP"}, "transport: must be"),
    ("transport null", {**GOOD, "transport": None}, "transport: must be"),
    ("ip a number", {**GOOD, "ip": 127}, "ip: must be a string, got the number 127"),
    ("ip empty", {**GOOD, "ip": ""}, "ip: must not be empty"),
    ("ip with a space", {**GOOD, "ip": "127.0.0.1 ; rm"}, "ip: not an IP address or host name"),
    ("ip a url", {**GOOD, "ip": "tcp://127.0.0.1"}, "ip: not an IP address or host name"),
    ("ip with a newline", {**GOOD, "ip": "host\nname"}, "ip: holds control characters"),
    ("ipc without ip", {k: v for k, v in IPC.items() if k != "ip"}, "ip: missing (for ipc"),
    ("ipc relative path", {**IPC, "ip": "kernel-ipc"}, "ip: an ipc path must be absolute"),
    ("ipc path too long", {**IPC, "ip": "/" + "d" * 120}, "ip: the ipc path is too long"),
    ("a list", [GOOD], "it holds a list of 1 item, not a JSON object"),
    ("a string", "kernel.json", "it holds the string 'kernel.json', not a JSON object"),
    ("a number", 42, "it holds the number 42, not a JSON object"),
    ("null", None, "it holds null, not a JSON object"),
    ("an empty object", {}, "shell_port: missing"),
]


@pytest.mark.parametrize(("what", "info", "expected"), MALFORMED_INFO,
                         ids=[m[0] for m in MALFORMED_INFO])
def test_a_malformed_connection_info_is_named(what: str, info: Any, expected: str) -> None:
    problems = problems_of(info)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_listed_once() -> None:
    info = {"shell_port": "1", "iopub_port": 0, "stdin_port": 3, "key": 5,
            "signature_scheme": "md5", "transport": "tcp", "ip": ""}
    problems = problems_of(info)
    assert [p.split(":")[0] for p in problems] == [
        "shell_port", "iopub_port", "control_port", "hb_port", "ip", "key", "signature_scheme"]


# Whole files, as bytes: (what, content, a fragment of the one problem named)
MALFORMED_TEXT: list[tuple[str, bytes, str]] = [
    ("empty", b"", "it is empty"),
    ("whitespace", b" \n\t\n", "it is empty"),
    ("binary", bytes(range(256)), "it is binary"),
    ("not UTF-8", b'{"key": "\xff\xfe"}', "it is not UTF-8 text (byte 9"),
    ("latin-1", json.dumps(GOOD).replace("a0b1c2", "caf\u00e9").encode("latin-1"),
     "it is not UTF-8 text"),
    ("truncated", json.dumps(GOOD).encode()[:40], "it is not valid JSON"),
    ("trailing garbage", json.dumps(GOOD).encode() + b"}", "it is not valid JSON (Extra data"),
    ("single quotes", str(GOOD).encode(), "it is not valid JSON"),
    ("deeply nested", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ("nested in a field", json.dumps({**GOOD, "extra": 1}).encode()[:-1]
     + b', "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ("a number with too many digits", b'{"shell_port": ' + b"9" * 5000 + b"}",
     "it is not usable JSON"),
    ("huge", b'{"key": "' + b"k" * MAX_FILE_BYTES + b'"}', "it is over 1024 KiB"),
    ("NaN port", json.dumps({**GOOD, "shell_port": float("nan")}).encode(),
     "shell_port: must be a whole number, got nan"),
    ("Infinity port", json.dumps({**GOOD, "shell_port": float("inf")}).encode(),
     "shell_port: must be a whole number, got inf"),
    ("a JSON list", b"[]", "it holds a list of 0 items"),
    ("a JSON string", b'"x"', "it holds the string 'x'"),
]


@pytest.mark.parametrize(("what", "data", "expected"), MALFORMED_TEXT,
                         ids=[m[0] for m in MALFORMED_TEXT])
def test_a_malformed_file_is_named(what: str, data: bytes, expected: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionFileError) as caught:
        parse_connection_text(data, "f.json")
    assert any(expected in p for p in caught.value.problems), caught.value.problems
    path = tmp_path / "kernel-x.json"
    path.write_bytes(data)
    with pytest.raises(ConnectionFileError) as from_file:
        read_connection_file(path, "f.json")
    assert from_file.value.problems == caught.value.problems
    assert time.monotonic() - started < 5


def test_the_count_of_malformed_kinds() -> None:
    """The issue counted 65 kinds of malformed files; each kind here has its message (and
    FIFOs, devices, sockets, directories, missing files below)."""
    assert len(MALFORMED_INFO) + len(MALFORMED_TEXT) >= 65


def test_good_files_come_back_clean_with_defaults(tmp_path: Path) -> None:
    assert check_connection_info({**GOOD, "extra": [1, 2], "curve": None}, "f") == GOOD
    assert check_connection_info(IPC, "f") == IPC
    bare = {p: GOOD[p] for p in PORT_NAMES}
    assert check_connection_info({**bare, "key": ""}, "f") == {
        **bare, "key": "", "ip": "127.0.0.1", "transport": "tcp",
        "signature_scheme": "hmac-sha256"}
    # kernel_name is a label: a wrong type is dropped, not refused
    assert "kernel_name" not in check_connection_info({**GOOD, "kernel_name": 3}, "f")
    for ip in ("0.0.0.0", "::1", "*", "node-17.cluster.local", "fe80::1%eth0"[:7]):
        assert check_connection_info({**GOOD, "ip": ip}, "f")["ip"] == ip
    for scheme in ("hmac-sha512", "hmac-md5", "hmac-sha3_256", "hmac-blake2b"):
        assert check_connection_info({**GOOD, "signature_scheme": scheme}, "f")
    path = tmp_path / "kernel-good.json"
    path.write_text("\ufeff" + json.dumps(GOOD), encoding="utf-8")  # a BOM is fine
    assert read_connection_file(path) == GOOD


def _file_problem(path: Path) -> str:
    with pytest.raises(ConnectionFileError) as caught:
        read_connection_file(path, "f.json")
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def test_fifos_devices_sockets_and_directories_are_refused_without_blocking(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.json"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    done = threading.Event()
    problems: list[str] = []

    def read_all() -> None:
        problems.extend(_file_problem(p) for p in (
            fifo, Path("/dev/zero"), Path("/dev/urandom"), sock_path, tmp_path))
        done.set()

    threading.Thread(target=read_all, daemon=True).start()
    assert done.wait(5), "reading a FIFO or a device blocked"
    server.close()
    assert problems == [
        "it is a FIFO (named pipe), not a file", "it is a character device, not a file",
        "it is a character device, not a file", "it is a socket, not a file",
        "it is a directory, not a file"]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert _file_problem(tmp_path / "nope.json") == "the file does not exist"
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone")
    assert _file_problem(tmp_path / "dangling.json") == "the file does not exist"
    locked = tmp_path / "locked.json"
    locked.write_text(json.dumps(GOOD))
    locked.chmod(0)
    if os.geteuid() != 0:  # root reads it anyway
        assert _file_problem(locked).startswith("cannot open it: Permission denied")
