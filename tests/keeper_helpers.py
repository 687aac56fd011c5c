"""Helpers for the keeper's tests: a small client of its protocol, records and what they
carry, and an agent (the zipapp as it ships) with a throwaway home and a short private
socket root."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient

from tests.test_agent import (
    Agent,
    agent_env,
    bundle,
    kill_mentioning,
)

__all__ = ["bundle"]  # the session fixture, shared with test_agent


DELIM = b"<IDS|MSG>"


# ---------------------------------------------------------------- a small keeper client

class Follow:
    """A ``follow`` stream: the header, then records read one at a time."""

    def __init__(self, path: str, since: int | None, tail: int = 0,
                 stdin: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        request: dict[str, Any] = {"op": "follow", "since": since, "tail": tail}
        if stdin is not None:
            request["stdin"] = stdin  # the keeper holds this shell identity on stdin
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        # A bytearray: records are cut from its front, which CPython does without copying
        # the rest (a backlog of thousands arrives in a few large chunks).
        self.data = bytearray()
        line = self._until(lambda: b"\n" in self.data, 10)
        assert line
        end = self.data.index(b"\n")
        self.header: dict[str, Any] = json.loads(bytes(self.data[:end]))
        del self.data[:end + 1]
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
        body = bytes(self.data[4:4 + length])
        del self.data[:4 + length]
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
            self.data.clear()
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


def wait_event(follow: Follow, name: str, timeout: float) -> tuple[dict[str, Any], float]:
    """The next event ``name`` (other records skipped) and when it came."""
    deadline = time.monotonic() + timeout
    while True:
        record = follow.read(max(0.01, deadline - time.monotonic()))
        assert record is not None, f"no {name} event within {timeout} s"
        if record[0] == "event" and record[1]["event"] == name:
            return record[1], time.monotonic()


