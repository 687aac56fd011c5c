"""The output keeper, driven over its Unix socket on this machine (the "host"), with real
kernels launched by the real agent (the zipapp as it ships): nothing lost, nothing twice, in
order, across disconnects; overflow counted and said; exits and restarts told; bad input
answered; and nobody else on the machine can connect.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient

from rtui.agent import sockets
from rtui.agent.protocol import OpError
from rtui.core.kernels.service import HostKernels
from rtui.core.ssh.check import check_host
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust
from tests.test_agent import (
    Agent,
    agent_env,
    alive,
    bundle,
    kill_mentioning,
    port_open,
    wait_for,
    write_connection_file,
)

__all__ = ["bundle"]  # the session fixture, shared with test_agent

DELIM = b"<IDS|MSG>"


# ---------------------------------------------------------------- a small keeper client

class Follow:
    """A ``follow`` stream: the header, then records read one at a time."""

    def __init__(self, path: str, since: int | None, tail: int = 0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.sock.sendall(json.dumps({"op": "follow", "since": since, "tail": tail}).encode()
                          + b"\n")
        self.data = b""
        line = self._until(lambda: b"\n" in self.data, 10)
        assert line
        head, _, self.data = self.data.partition(b"\n")
        self.header: dict[str, Any] = json.loads(head)
        self.last = 0  # seq of the last message read

    def _until(self, ready: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                return False
            if not chunk:
                return False
            self.data += chunk
        return True

    def read(self, timeout: float = 10) -> tuple[str, Any] | None:
        """("message", (seq, time, frames)) or ("event", {...}); None at timeout or EOF."""
        if not self._until(lambda: len(self.data) >= 4, timeout):
            return None
        (length,) = struct.unpack(">I", self.data[:4])
        if not self._until(lambda: len(self.data) >= 4 + length, timeout):
            return None
        body, self.data = self.data[4:4 + length], self.data[4 + length:]
        if body[0] == 2:
            return "event", json.loads(body[1:])
        seq, received, count = struct.unpack(">QdH", body[1:19])
        frames, at = [], 19
        for _ in range(count):
            (size,) = struct.unpack(">I", body[at:at + 4])
            frames.append(body[at + 4:at + 4 + size])
            at += 4 + size
        assert at == len(body)
        self.last = seq
        return "message", (seq, received, frames)

    def closed(self, timeout: float = 10) -> bool:
        """True once the keeper closes the stream (records left unread are discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.data = b""
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(1 << 20):
                    return True
            except TimeoutError:
                return False
            except OSError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


def ask(path: str, request: dict[str, Any] | bytes, timeout: float = 30) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(request if isinstance(request, bytes)
                     else json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)  # type: ignore[no-any-return]


def parts(frames: list[bytes]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(header, parent_header, content) of a raw iopub message."""
    at = frames.index(DELIM)
    return json.loads(frames[at + 2]), json.loads(frames[at + 3]), json.loads(frames[at + 5])


def stream_text(frames: list[bytes]) -> str:
    """What a stdout stream message printed ("" for any other message)."""
    header, _, content = parts(frames)
    return str(content["text"]) if header["msg_type"] == "stream" and \
        content.get("name") == "stdout" else ""


def is_idle_for(frames: list[bytes], msg_id: str) -> bool:
    header, parent, content = parts(frames)
    return (header["msg_type"] == "status" and parent.get("msg_id") == msg_id
            and content.get("execution_state") == "idle")


def kernel_client(cf: str) -> BlockingKernelClient:
    kc = BlockingKernelClient()
    kc.load_connection_file(cf)
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    return kc


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def host(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The agent's environment: a throwaway home, and a short XDG_RUNTIME_DIR of ours (the
    private socket root), removed afterwards with every process that mentions them."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)  # conftest made it for HOME
    runtime = tempfile.mkdtemp(prefix="rk-", dir="/tmp")
    os.chmod(runtime, 0o755)  # shared-looking: the root made in it must still be 0700
    yield agent_env(home, XDG_RUNTIME_DIR=runtime)
    kill_mentioning(str(tmp_path))
    kill_mentioning(runtime)
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def agent(host: dict[str, str], bundle: Path) -> Iterator[Agent]:
    agent = Agent(host, bundle)
    agent._wait(lambda: agent.ready is not None, 30)
    yield agent
    agent.close()


def launch(agent: Agent, **args: Any) -> dict[str, Any]:
    args.setdefault("python", sys.executable)
    args.setdefault("transport", "ipc")
    return agent.request("launch", **args)  # type: ignore[no-any-return]


FLOOD = "import sys\nfor i in range({n}):\n    print('line', i, flush=True)\n"


def lines_of(texts: list[str]) -> list[str]:
    return "".join(texts).splitlines()


Record = tuple[str, Any]


def collect(follow: Follow, msg_id: str | None = None, timeout: float = 60,
            stop: Any = None) -> list[Record]:
    """Records until the cell ``msg_id`` is idle (or ``stop(records)`` says enough)."""
    deadline = time.monotonic() + timeout
    records: list[Record] = []
    while True:
        record = follow.read(max(0.1, deadline - time.monotonic()))
        assert record is not None, f"stream ended or timed out after {records[-3:]}"
        records.append(record)
        if stop is not None and stop(records):
            return records
        if msg_id and record[0] == "message" and is_idle_for(record[1][2], msg_id):
            return records


def backlog(follow: Follow) -> tuple[list[Record], dict[str, Any]]:
    """The messages before the ``replayed`` event, and that event."""
    records = collect(follow, stop=lambda r: r[-1][0] == "event"
                      and r[-1][1]["event"] == "replayed")
    return records[:-1], records[-1][1]


def texts(records: list[Record]) -> list[str]:
    return "".join(stream_text(v[2]) for kind, v in records if kind == "message").splitlines()


def seqs(records: list[Record]) -> list[int]:
    return [v[0] for kind, v in records if kind == "message"]


def events(records: list[Record]) -> list[dict[str, Any]]:
    return [v for kind, v in records if kind == "event"]


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
        n = 20000
        msg_id = kc.execute(FLOOD.format(n=n))
        seen = [0]

        def enough(records: list[Record]) -> bool:
            if records[-1][0] == "message":
                seen[0] += stream_text(records[-1][1][2]).count("\n")
            return seen[0] >= 5000

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
        got = texts(before) + texts(after)
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


def test_a_small_buffer_drops_the_oldest_and_says_how_many(agent: Agent) -> None:
    k = launch(agent, output_buffer_mb=0.05)  # ~50 KB: a few hundred messages
    path = k["keeper"]
    kc = kernel_client(k["connection_file"])
    try:
        slow = Follow(path, since=None)  # live, but does not read during the flood
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert backlog(slow)[1]["count"] == 0
        n = 20000
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


def wait_event(follow: Follow, name: str, timeout: float) -> tuple[dict[str, Any], float]:
    """The next event ``name`` (other records skipped) and when it came."""
    deadline = time.monotonic() + timeout
    while True:
        record = follow.read(max(0.01, deadline - time.monotonic()))
        assert record is not None, f"no {name} event within {timeout} s"
        if record[0] == "event" and record[1]["event"] == name:
            return record[1], time.monotonic()


def test_exits_are_told_with_code_signal_and_log_and_restart_revives(agent: Agent) -> None:
    k = launch(agent)
    path, cf = k["keeper"], k["connection_file"]
    follow = Follow(path, since=0)
    backlog(follow)
    mark = ask(path, {"op": "status"})["next"] - 1
    kc = kernel_client(cf)
    kc.execute("import sys; print('bye', flush=True); "
               "sys.stderr.write('last words\\n'); sys.stderr.flush(); "
               "sys.__stderr__.write('to the log\\n'); sys.__stderr__.flush(); "
               "import os, time; time.sleep(0.2); os._exit(1)")
    t0 = time.monotonic()
    exited, at = wait_event(follow, "exited", 5)
    kc.stop_channels()
    assert at - t0 < 1.5  # 0.2 s of sleep, then within a second
    assert exited["code"] == 1 and exited["signal"] is None and exited["at"] > 0
    assert "to the log" in exited["log_tail"]
    assert not alive(k["pid"])
    status = ask(path, {"op": "status"})
    assert status["state"] == "exited" and status["exit"] == {
        key: exited[key] for key in ("code", "signal", "at", "log_tail")}
    listed = {x["id"]: x for x in agent.request("list")["kernels"]}[k["id"]]
    assert listed["exit"]["code"] == 1 and not listed["alive"] and listed["keeper"] == path
    kept_record = json.loads((Path(k["log_file"]).parent / f"{k['id']}.json").read_text())
    assert kept_record["exit"] == status["exit"] and kept_record["keeper"] == path
    record = json.loads(Path(listed["connection_file"]).read_text())
    assert record == k["connection"]

    # Restart a dead kernel: same id, same connection info, told to followers.
    new = agent.request("restart", kernel_id=k["id"])
    assert new["id"] == k["id"] and new["connection"] == k["connection"]
    assert new["pid"] != k["pid"] and alive(new["pid"]) and new["keeper"] == path
    restarted, _ = wait_event(follow, "restarted", 5)
    assert restarted["at"] > exited["at"]
    kc = kernel_client(cf)
    try:
        reply = kc.execute_interactive("40 + 2", timeout=30)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
    assert ask(path, {"op": "status"})["state"] == "running"
    assert agent.request("resolve", id=k["id"])["exit"] is None

    # SIGKILL (what the OOM killer does): the signal, within a second.
    t0 = time.monotonic()
    os.kill(new["pid"], signal.SIGKILL)
    exited, at = wait_event(follow, "exited", 5)
    assert at - t0 < 1.0 and exited["signal"] == signal.SIGKILL and exited["code"] is None
    assert agent.request("resolve", id=k["id"])["exit"]["signal"] == signal.SIGKILL

    # A client that last saw a message from before all this catches up on the output; the
    # lifecycle events are not replayed (an old exit would read as a death): its header
    # says where the kernel is now.
    late = Follow(path, since=mark)
    records = collect(late, stop=lambda r: r[-1][0] == "event"
                      and r[-1][1]["event"] == "replayed")
    late.close()
    assert [e["event"] for e in events(records)] == ["replayed"]
    assert texts(records)[:1] == ["bye"]
    assert late.header["state"] == "exited" and late.header["exit"]["signal"] == 9

    # Restart of a live kernel, through the keeper: a new process, same everything else.
    third = agent.request("restart", kernel_id=k["id"])
    assert third["pid"] != new["pid"] and alive(third["pid"])
    wait_event(follow, "restarted", 5)
    agent.request("shutdown", kernel_id=k["id"])
    assert follow.closed(5)
    assert not alive(third["pid"]) and not os.path.exists(os.path.dirname(path))


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
    assert sockets_there == ["k-1", "k-2", "k-3", "k-4", "k-5", "keeper"]
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
    targets = [path, *(f"{k['connection']['ip']}-{n}" for n in range(1, 6))]
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


def test_keep_watches_a_kernel_rtui_did_not_start(agent: Agent, host: dict[str, str]) -> None:
    runtime = Path(host["JUPYTER_RUNTIME_DIR"])
    runtime.mkdir(parents=True, exist_ok=True)
    cf = runtime / "kernel-hand.json"
    info = write_connection_file(cf)
    hand = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(cf)],
                            start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(info["shell_port"]) and port_open(info["hb_port"]), 30,
                 "the hand-started kernel")
        kc = kernel_client(str(cf))
        kept = agent.request("keep", kernel_id="hand")
        assert kept["started"] is True and kept["state"] == "running"
        path = kept["keeper"]
        assert agent.request("keep", connection_file=str(cf)) == {
            "keeper": path, "state": "running", "started": False}  # idempotent
        status = ask(path, {"op": "status"})
        assert status["mode"] == "watch" and status["pid"] == hand.pid
        follow = Follow(path, since=None)
        backlog(follow)
        msg_id = kc.execute("print('watched')")
        assert texts(collect(follow, msg_id)) == ["watched"]
        kc.stop_channels()
        assert agent.request("resolve", id="hand")["keeper"] == path
        t0 = time.monotonic()
        hand.kill()
        hand.wait(5)
        exited, at = wait_event(follow, "exited", 5)
        assert at - t0 < 1.0 and exited["code"] is None and exited["signal"] is None
        assert ask(path, {"op": "restart"})["ok"] is False  # not its child: the agent's job
        assert agent.request("list")["kernels"][0]["exit"] == exited | {"event": "exited"} or \
            agent.request("list")["kernels"][0]["exit"]["at"] == exited["at"]
        info_now = json.loads(cf.read_text())
        assert info_now == info
        done = agent.request("shutdown", kernel_id="hand")
        assert done["killed"] is False and not cf.exists()
        assert follow.closed(5) and not os.path.exists(path)
    finally:
        if hand.poll() is None:
            hand.kill()


def test_sigterm_leaves_the_kernel_running_and_keep_adopts_it(agent: Agent) -> None:
    k = launch(agent)
    path = k["keeper"]
    keeper_pid = ask(path, {"op": "status"})["keeper_pid"]
    follow = Follow(path, since=0)
    backlog(follow)
    os.kill(keeper_pid, signal.SIGTERM)
    assert follow.closed(5)
    wait_for(lambda: not alive(keeper_pid), 5, "the keeper to leave")
    assert not os.path.exists(path) and alive(k["pid"])
    listed = agent.request("list")["kernels"][0]
    assert listed["keeper"] is None and listed["alive"] and listed["exit"] is None
    kept = agent.request("keep", kernel_id=k["id"])
    assert kept["keeper"] == path and kept["state"] == "running"
    status = ask(path, {"op": "status"})
    assert status["mode"] == "watch" and status["pid"] == k["pid"]
    # restart of an rtui kernel whose keeper only watches: a launching keeper again
    new = agent.request("restart", kernel_id=k["id"])
    assert new["pid"] != k["pid"] and alive(new["pid"]) and not alive(k["pid"])
    assert ask(path, {"op": "status"})["mode"] == "launch"
    done = agent.request("shutdown", kernel_id=k["id"])
    assert done["killed"] is True and not alive(new["pid"])


# ---------------------------------------------------------------- through the real sshd

async def test_through_the_agent_over_ssh_launch_gives_a_keeper_and_list_an_exit(
    sshd: SSHD, isolated_home: Path
) -> None:
    trust(sshd, isolated_home)
    conn, _ = connection(host_for(sshd, python=sys.executable))
    service = HostKernels(conn, python=sys.executable)
    try:
        before = (await check_host(conn, timeout=20)).kernels
        k = await service.agent.request("launch", {"python": sys.executable,
                                                   "transport": "ipc"}, timeout=60)
        path = k["keeper"]
        assert k["connection"]["transport"] == "ipc" and os.path.exists(path)
        status = await asyncio.to_thread(ask, path, {"op": "status"})
        assert status["state"] == "running" and status["pid"] == k["pid"]
        assert 0 <= k["seq"] < status["next"]  # where its output after the boot starts
        checked = await check_host(conn, timeout=20)
        assert checked.ok and checked.kernels == before + 1  # its ipc shell socket answers
        os.kill(k["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while True:
            listed = {r["id"]: r for r in (await service.agent.request("list"))["kernels"]}
            mine = listed[k["id"]]
            if mine["exit"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert mine["exit"]["signal"] == signal.SIGKILL and not mine["alive"]
        assert mine["keeper"] == path and "log_tail" in mine["exit"]
        await service.agent.request("shutdown", {"kernel_id": k["id"]}, timeout=30)
        assert not os.path.exists(os.path.dirname(path))
    finally:
        await service.close()
        await conn.close()


def test_a_keeper_lingers_after_its_kernel_died_then_leaves(
    host: dict[str, str], bundle: Path, tmp_path: Path
) -> None:
    """Run as the agent runs it (``<python> <agent.pyz> keeper ...``), here watching a
    hand-started kernel with a linger of 1 s instead of an hour."""
    cf = tmp_path / "kernel-lingers.json"
    info = write_connection_file(cf)
    kernel = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", str(cf)],
                              start_new_session=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    keeper = None
    try:
        wait_for(lambda: port_open(info["shell_port"]), 30, "the kernel")
        keeper = subprocess.Popen(
            [sys.executable, str(bundle), "keeper", "--kernel-id", "lingers",
             "--connection-file", str(cf), "--pid", str(kernel.pid), "--linger", "1"],
            env=host, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        path = os.path.join(host["XDG_RUNTIME_DIR"], "rtui", "k", "lingers", "keeper")
        wait_for(lambda: os.path.exists(path)
                 and ask(path, {"op": "status"})["state"] == "running", 30, "the keeper")
        kernel.kill()
        kernel.wait(5)
        wait_for(lambda: ask(path, {"op": "status"})["state"] == "exited", 2, "the exit")
        t0 = time.monotonic()
        assert keeper.wait(5) == 0  # lingered about a second, then left on its own
        assert 0.5 < time.monotonic() - t0 < 3.5
        assert not os.path.exists(os.path.dirname(path))
        assert keeper.stderr is not None and keeper.stderr.read() == b""
    finally:
        for proc in (kernel, keeper):
            if proc is not None and proc.poll() is None:
                proc.kill()
