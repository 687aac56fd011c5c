"""Attaching goes wrong in named ways, quickly: a malformed connection file (here or on the
host), a kernel that is gone, a key that is not the kernel's. Real sshd, real kernels, the
real ``rtui`` command."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tests.conftest import run_rtui
from tests.harness.sshd import SSHD
from tests.ssh_helpers import trust

PY = sys.executable

GOOD = {"shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003, "control_port": 50004,
        "hb_port": 50005, "ip": "127.0.0.1", "key": "k", "transport": "tcp",
        "signature_scheme": "hmac-sha256"}


def add_host(sshd: SSHD, home: Path, name: str = "lab") -> None:
    trust(sshd, home)
    add = run_rtui("hosts", "add", name, "--hostname", "127.0.0.1", "--port", str(sshd.port),
                   "--user", sshd.user, "--identity", str(sshd.client_key), "--python", PY)
    assert add.returncode == 0, add.stderr


def test_cli_names_each_problem_of_a_local_connection_file(
    sshd: SSHD, isolated_home: Path, tmp_path: Path,
) -> None:
    add_host(sshd, isolated_home)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    files = {
        "list.json": (json.dumps([GOOD]).encode(), "it holds a list of 1 item"),
        "binary.json": (bytes(range(256)) * 4, "it is binary"),
        "deep.json": (b"[" * 100_000 + b"]" * 100_000, "its JSON is nested too deeply"),
        "huge.json": (b" " * (2 << 20), "it is over 1024 KiB"),
        "fields.json": (json.dumps({**GOOD, "shell_port": "x", "key": 1,
                                    "signature_scheme": "hmac-nope"}).encode(),
                        "shell_port: must be a number, got the string 'x'\n"
                        "rtui:   key: must be a string, got the number 1\n"
                        "rtui:   signature_scheme: unknown hash 'nope'"),
    }
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    cases = {**{name: expected for name, (_, expected) in files.items()},
             "fifo.json": "it is a FIFO (named pipe), not a file"}
    for name, expected in cases.items():
        path = str(tmp_path / name)
        started = time.monotonic()
        ran = run_rtui("run", "lab", "-k", path, "-c", "1", timeout=30)
        assert ran.returncode == 1, (name, ran.stderr)
        assert ran.stderr.startswith(
            f"rtui: {path} is not a usable kernel connection file:\nrtui:   "), ran.stderr
        assert expected in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr and ran.stdout == ""
        assert time.monotonic() - started < 10, name


def test_a_malformed_connection_file_on_the_host_is_named(
    sshd: SSHD, isolated_home: Path,
) -> None:
    add_host(sshd, isolated_home)
    runtime = sshd.remote_home / ".local/share/jupyter/runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    bad = runtime / "kernel-badports.json"
    fifo = runtime / "kernel-fifo.json"
    bad.write_text(json.dumps({**GOOD, "hb_port": 70000, "transport": "udp"}))
    os.mkfifo(fifo)
    try:
        ran = run_rtui("run", "lab", "-k", "badports", "-c", "1", timeout=60)
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.splitlines()[1:] == [
            "rtui:   transport: must be \"tcp\" or \"ipc\", got 'udp'",
            "rtui:   hb_port: must be between 1 and 65535, got 70000"], ran.stderr
        started = time.monotonic()
        ran = run_rtui("run", "lab", "-k", "fifo", "-c", "1", timeout=60)
        assert ran.returncode == 1, ran.stderr
        assert f"lab:{fifo} is not a usable kernel connection file" in ran.stderr
        assert "it is not a regular file" in ran.stderr and "Traceback" not in ran.stderr
        assert time.monotonic() - started < 15
        listed = run_rtui("kernels", "lab", timeout=60)  # a FIFO does not hang the list
        assert listed.returncode == 0 and "badports  DEAD" in listed.stdout, listed.stderr
    finally:
        bad.unlink()
        fifo.unlink()
