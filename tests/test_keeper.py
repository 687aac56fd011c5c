"""The output keeper's data path, driven over its Unix socket on this machine (the "host"),
with real kernels launched by the real agent: nothing lost, nothing twice, in order, across
disconnects; overflow counted and said; bad input answered; nobody else can connect.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from rtui.agent import sockets
from rtui.agent.protocol import OpError
from tests.keeper_helpers import (
    FLOOD,
    Agent,
    Follow,
    Record,
    agent,
    ask,
    backlog,
    bundle,
    collect,
    events,
    host,
    is_idle_for,
    kernel_client,
    launch,
    seqs,
    stream_text,
    texts,
)

__all__ = ["agent", "bundle", "host"]  # fixtures


# ---------------------------------------------------------------- the data path

def test_a_flood_survives_a_disconnect_and_late_clients_get_everything(agent: Agent) -> None:
    k = launch(agent)
    path = k["keeper"]
    assert path.endswith("/keeper") and os.path.dirname(path) == os.path.dirname(
        k["connection"]["ip"])
    kc = kernel_client(k["connection_file"])
    try:
        first = Follow(path, since=0)
        assert first.header["ok"] and first.header["state"] == "running"
        _, replayed = backlog(first)
        assert replayed["dropped"] == 0
        n = 8000  # the client leaves after 2,000 lines, while the kernel prints on
        msg_id = kc.execute(FLOOD.format(n=n))
        seen = [0]

        def enough(records: list[Record]) -> bool:
            if records[-1][0] == "message":
                seen[0] += stream_text(records[-1][1][2]).count("\n")
            return seen[0] >= 2000

        before = collect(first, stop=enough)  # mid-flood...
        first.close()  # ... the client goes away
        assert events(before) == [] and len(texts(before)) < n
        time.sleep(0.3)
        again = Follow(path, since=first.last)
        missed, seam = backlog(again)
        assert seam["count"] == len(missed) > 0 and seam["dropped"] == 0
        assert seam["t0"] <= seam["t1"]
        after = missed
        if not any(is_idle_for(v[2], msg_id) for _, v in missed):
            after = missed + collect(again, msg_id)
        again.close()
        numbers = seqs(before) + seqs(after)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        got = texts(before + after)  # a line may be split between two stream messages
        assert got == [f"line {i}" for i in range(n)]

        late = Follow(path, since=0)  # a client that comes after all of it
        late_records, late_seam = backlog(late)
        late.close()
        assert late_seam["count"] == len(late_records) and late_seam["dropped"] == 0
        assert texts(late_records) == got
        assert seqs(late_records) == list(range(1, len(late_records) + 1))

        status = ask(path, {"op": "status"})
        assert status["ok"] and status["dropped"] == 0 and status["first"] == 1
        assert status["next"] == len(late_records) + 1 and status["bytes"] > 0
        tail = Follow(path, since=None, tail=3)
        tail_records, tail_seam = backlog(tail)
        assert seqs(tail_records) == [status["next"] - 3, status["next"] - 2, status["next"] - 1]
        assert tail_seam["count"] == 3
        live = Follow(path, since=None)  # tail 0: live only
        assert backlog(live) == ([], {"event": "replayed", "count": 0, "t0": None, "t1": None,
                                      "dropped": 0})
        msg_id = kc.execute("print('after')")
        for follow in (tail, live):
            assert texts(collect(follow, msg_id)) == ["after"]
            follow.close()
    finally:
        kc.stop_channels()
        agent.request("shutdown", kernel_id=k["id"])


def test_a_keeper_starved_of_cpu_misses_nothing_the_kernel_printed(agent: Agent) -> None:
    """The kernel's iopub PUB would drop what its subscriber has not taken past zmq's default
    high-water mark (1,000 messages), silently; under load, a keeper descheduled for a moment
    is that subscriber. The kernels rtui starts queue for it instead."""
    k = launch(agent)
    path = k["keeper"]
    keeper_pid = ask(path, {"op": "status"})["keeper_pid"]
    kc = kernel_client(k["connection_file"])
    try:
        n = 5000
        os.kill(keeper_pid, signal.SIGSTOP)  # the keeper takes nothing while the cell prints
        try:
            msg_id = kc.execute(FLOOD.format(n=n))
            reply = kc.get_shell_msg(timeout=60)
            assert reply["parent_header"]["msg_id"] == msg_id
        finally:
            os.kill(keeper_pid, signal.SIGCONT)
        follow = Follow(path, since=0)
        records, _ = backlog(follow)
        if not any(is_idle_for(v[2], msg_id) for _, v in records):
            records += collect(follow, msg_id)
        follow.close()
        assert texts(records) == [f"line {i}" for i in range(n)]
    finally:
        kc.stop_channels()
        agent.request("shutdown", kernel_id=k["id"])


def test_a_small_buffer_drops_the_oldest_and_says_how_many(agent: Agent) -> None:
    k = launch(agent, output_buffer_mb=0.05)  # ~50 KB: a few hundred messages
    path = k["keeper"]
    kc = kernel_client(k["connection_file"])
    try:
        slow = Follow(path, since=None)  # live, but does not read during the flood
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert backlog(slow)[1]["count"] == 0
        n = 5000  # ten times what the buffer and the reader's socket hold
        msg_id = kc.execute(FLOOD.format(n=n))
        reply = kc.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == msg_id
        # The slow reader fell behind the buffer: told how many it lost, then carries on.
        records = collect(slow, msg_id)
        slow.close()
        dropped = [e for e in events(records) if e["event"] == "dropped"]
        lost = sum(e["count"] for e in dropped)
        numbers = seqs(records)
        assert dropped and lost > 0
        assert numbers == sorted(set(numbers))  # in order, none twice
        # every message from its first to its last was either sent or counted as dropped
        assert len(numbers) + lost == numbers[-1] - numbers[0] + 1
        assert texts(records)[-1] == f"line {n - 1}"

        status = ask(path, {"op": "status"})  # the keeper has it all: the cell's idle came
        assert status["dropped"] > 0 and status["first"] == status["dropped"] + 1
        assert status["bytes"] <= 0.05 * 1024 * 1024 and numbers[-1] == status["next"] - 1
        late = Follow(path, since=0)
        kept, seam = backlog(late)
        late.close()
        assert seam["dropped"] == status["first"] - 1 and seam["count"] == len(kept)
        assert seqs(kept) == list(range(status["first"], status["next"]))
        assert texts(kept)[-1] == f"line {n - 1}"
    finally:
        kc.stop_channels()
        agent.request("shutdown", kernel_id=k["id"])


def test_bad_input_is_answered_never_a_crash(agent: Agent) -> None:
    k = launch(agent)
    path = k["keeper"]
    try:
        bad: list[tuple[bytes, str]] = [
            (b"not json\n", "not a JSON line"),
            (b"[1, 2]\n", "must be a JSON object"),
            (b'{"op": "dance"}\n', "unknown op 'dance'"),
            (b'{"op": 7}\n', "unknown op 7"),
            (b'{"op": "follow", "since": -1}\n', "since must be"),
            (b'{"op": "follow", "since": "x"}\n', "since must be"),
            (b'{"op": "follow", "since": null, "tail": -2}\n', "tail must be"),
            (b'{"op": "restart", "timeout": "soon"}\n', "timeout must be"),
            (b"\xff\xfe\n", "not a JSON line"),
            (b"x" * (64 * 1024 + 10) + b"\n", "longer than"),
            (b"y" * (200 * 1024), "longer than"),  # no newline at all
        ]
        for line, said in bad:
            reply = ask(path, line)
            assert reply["ok"] is False and said in reply["error"], (line[:30], reply)
        # A client that connects and says nothing, or goes away at once, costs nothing.
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.connect(path)
        for _ in range(20):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
                gone.connect(path)
                gone.sendall(b'{"op": "follow", "since": 0}\n')
        status = ask(path, {"op": "status"})
        assert status["ok"] and status["state"] == "running"
        silent.close()
        assert ask(path, {"op": "watch", "pid": 1})["ok"] is False  # launch mode: no
    finally:
        agent.request("shutdown", kernel_id=k["id"])


def test_the_socket_directory_is_private(agent: Agent, host: dict[str, str]) -> None:
    k = launch(agent)
    path = k["keeper"]
    root = Path(host["XDG_RUNTIME_DIR"]) / "rtui"
    kdir = Path(path).parent
    assert kdir.parent.parent == root
    for d in (root, root / "k", kdir):
        st = os.lstat(d)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == os.getuid()
    sockets_there = sorted(p.name for p in kdir.iterdir() if p.is_socket())
    # k-fork: ipykernel's fork pipe, there and not on TCP (rtui/agent/kernel_boot.py)
    assert sockets_there == ["k-1", "k-2", "k-3", "k-4", "k-5", "k-fork", "keeper"]
    if os.geteuid() != 0:
        agent.request("shutdown", kernel_id=k["id"])
        pytest.skip("another account is needed (tests/harness/accounts.py needs root)")
    from tests.harness.accounts import ensure_password_account

    other = ensure_password_account()
    probe = ("import socket, sys\n"
             "for path in sys.argv[1:]:\n"
             "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
             "    try:\n"
             "        s.connect(path)\n"
             "        print('connected', path)\n"
             "    except OSError as e:\n"
             "        print('refused', path, e.errno)\n")
    targets = [path, *(f"{k['connection']['ip']}-{n}" for n in (1, 2, 3, 4, 5, "fork"))]
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
    out = subprocess.run(["runuser", "-u", other.name, "--", python, "-c", probe,
                          *targets], capture_output=True, text=True, timeout=30, cwd="/")
    lines = out.stdout.splitlines()
    assert len(lines) == len(targets), out.stderr
    assert all(line.startswith("refused") and line.endswith(" 13") for line in lines), lines
    agent.request("shutdown", kernel_id=k["id"])


def test_the_socket_root_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
        os.chmod(base, 0o755)
        (base / "rtui").mkdir(mode=0o755)
        assert sockets.sockets_root() == str(base / "rtui")
        assert stat.S_IMODE(os.stat(base / "rtui").st_mode) == 0o700  # ours: tightened
        (base / "rtui").rmdir()
        (base / "rtui").symlink_to(tmp_path)
        with pytest.raises(OpError, match="is a symlink"):
            sockets.sockets_root()
        (base / "rtui").unlink()
        (base / "rtui").write_text("")
        with pytest.raises(OpError, match="not a directory"):
            sockets.sockets_root()
        (base / "rtui").unlink()
        if os.geteuid() == 0:
            (base / "rtui").mkdir(mode=0o700)
            os.chown(base / "rtui", 65534, 65534)
            with pytest.raises(OpError, match="belongs to uid 65534"):
                sockets.sockets_root()
            (base / "rtui").rmdir()
        deep = base / ("d" * 50)
        deep.mkdir()
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
        with pytest.raises(OpError, match="over the 100 a Unix socket allows"):
            sockets.kernel_dir("12345678-1234-1234-1234-123456789012")
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
        assert sockets.dir_name("kernel one/two") != "kernel one/two"
        assert sockets.dir_name("abc-123") == "abc-123"
        # XDG_RUNTIME_DIR that is not ours, or not set: /tmp/rtui-<uid>
        monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/path")
        assert sockets.sockets_root() == f"/tmp/rtui-{os.getuid()}"
    finally:
        shutil.rmtree(base, ignore_errors=True)


