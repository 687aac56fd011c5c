"""The agent's JSON lines both ways, fuzzed (issue 21, item 2).

The agent, as it ships (the zipapp), runs over pipes with a throwaway HOME and is fed what a
broken or hostile client could write: random bytes (NULs, invalid UTF-8), cut and mutated
request lines, JSON that is no object, bad ids, unknown ops, and for every op of the agent's
own table (read from its source: each ``arg(args, name, kind)`` it calls) arguments of the
wrong type. After each bad line a ``hello`` must still be answered: the agent answers every
line it can read with a typed error naming what is wrong, never dies, never writes a
traceback. A line over ``MAX_REQUEST`` is refused by its id, unread.

The client's side (``AgentClient._read``) is fed garbage replies through a fake channel:
whatever comes, a request ends with its result or rtui's own ``AgentError``, and the next
request is served.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import math
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtui.agent.__main__ import OPS
from rtui.agent.protocol import MAX_REQUEST
from rtui.core.errors import RtuiError
from rtui.core.remote.bundle import agent_bundle
from rtui.core.remote.client import AgentClient, AgentError
from tests import reliability
from tests.test_agent import agent_env, kill_mentioning

ANSWER_S = 10.0  # the most one bad line and the hello after it may take


# -- the op table, from the agent's source -------------------------------------------------------


def _kind(node: ast.expr) -> Any:
    return eval(compile(ast.Expression(node), "<kind>", "eval"), {"__builtins__": __builtins__})


def _arg_calls(funcs: dict[str, ast.FunctionDef], name: str, found: dict[str, Any],
               seen: set[str]) -> None:
    """The ``arg(args, ...)`` calls of function ``name``, and of the module's functions it
    hands ``args`` to, into ``found``."""
    if name in seen or name not in funcs:
        return
    seen.add(name)
    for node in ast.walk(funcs[name]):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if (node.func.id == "arg" and len(node.args) >= 3
                and isinstance(node.args[1], ast.Constant)):
            of = next((k.value for k in node.keywords if k.arg == "of"), None)
            found.setdefault(str(node.args[1].value),
                             (_kind(node.args[2]), None if of is None else _kind(of)))
        elif any(isinstance(a, ast.Name) and a.id == "args" for a in node.args):
            _arg_calls(funcs, node.func.id, found, seen)


def op_table() -> dict[str, dict[str, tuple[Any, Any]]]:
    """For each op: {argument: (kind, kind of a list's items or None)}, from the
    ``arg(args, "name", kind, ..., of=...)`` calls in its function and the module helpers it
    hands ``args`` to."""
    table: dict[str, dict[str, tuple[Any, Any]]] = {}
    trees: dict[str, ast.Module] = {}
    for op, fn in OPS.items():
        module = sys.modules[fn.__module__]
        tree = trees.setdefault(module.__name__, ast.parse(inspect.getsource(module)))
        funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        table[op] = {}
        _arg_calls(funcs, fn.__name__, table[op], set())
    return table


OP_TABLE = op_table()
TYPED_OPS = sorted(op for op, args in OP_TABLE.items() if args)


def _accepts(kind: Any, value: Any) -> bool:
    """Whether the agent's ``arg`` takes ``value`` for ``kind`` (so it is no violation)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, str) and "\x00" in value:
        return False
    if isinstance(value, int) and abs(value) >= 1 << 63:
        return False
    return isinstance(value, kinds)


JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)


@st.composite
def wrong_value(draw: st.DrawFn, kind: Any, of: Any) -> Any:
    """A JSON value ``arg`` must refuse for (kind, of): another type, a non-finite or
    out-of-range number, a string with a NUL, or a list with an item of the wrong type."""
    choices = [JSON_VALUES.filter(lambda v: v is not None and not _accepts(kind, v))]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if str in kinds:
        choices.append(st.text(max_size=10).map(lambda s: s + "\x00"))
    if int in kinds or float in kinds:
        choices.append(st.sampled_from([math.nan, math.inf, -math.inf, 1 << 64, -(1 << 80)]))
    if of is not None:
        choices.append(st.lists(JSON_VALUES, min_size=1, max_size=3).filter(
            lambda items: not all(_accepts(of, v) for v in items)))
    return draw(st.one_of(choices))


@st.composite
def bad_args_request(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    """A request to a real op whose every argument given has the wrong type (so none runs:
    each op reads its arguments before it acts); which arguments are wrong."""
    op = draw(st.sampled_from(TYPED_OPS))
    names = sorted(OP_TABLE[op])
    wrong = draw(st.sets(st.sampled_from(names), min_size=1))
    args = {name: draw(wrong_value(*OP_TABLE[op][name])) for name in sorted(wrong)}
    return {"op": op, "args": args}, wrong


def _valid_line(rid: int) -> bytes:
    return json.dumps({"id": rid, "op": "hello", "args": {}}).encode()


@st.composite
def garbage_line(draw: st.DrawFn) -> bytes:
    """One line no agent can read as a request: random bytes (NULs, invalid UTF-8), a valid
    request cut short, with a byte changed, or with a NUL or a bad byte inserted."""
    kind = draw(st.sampled_from(["bytes", "cut", "flip", "insert"]))
    if kind == "bytes":
        raw = draw(st.binary(min_size=1, max_size=200))
    else:
        line = _valid_line(draw(st.integers(0, 10**6)))
        at = draw(st.integers(1, len(line) - 1))
        if kind == "cut":
            raw = line[:at]
        elif kind == "flip":
            raw = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1:]
        else:
            raw = line[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80"])
                                   ) + line[at:]
    return raw.replace(b"\n", b" ")


def _readable(raw: bytes) -> bool:
    """Whether a line still parses (a mutation that left a request, or other JSON)."""
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError:
        return False
    return True


NOT_OBJECTS = JSON_VALUES.filter(lambda v: not isinstance(v, dict))


@st.composite
def bad_envelope(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object that is no valid request: a bad id, an op that is no op (or no string),
    args that are no object."""
    req: dict[str, Any] = {}
    req["id"] = draw(st.integers(0, 10**9) | JSON_VALUES)
    op_ok = draw(st.booleans())
    req["op"] = (draw(st.sampled_from(sorted(OPS))) if op_ok else
                 draw(JSON_VALUES.filter(lambda v: v not in OPS if isinstance(v, str) else True)))
    if op_ok or draw(st.booleans()):
        req["args"] = draw(JSON_VALUES.filter(  # falsy args count as none
            lambda v: bool(v) and not isinstance(v, dict)))
    return req


# -- the agent over pipes ----------------------------------------------------------------------


class PipedAgent:
    """The shipped agent over pipes; a reader thread queues every line it writes, parsed."""

    def __init__(self, home: Path, bundle: Path) -> None:
        self.stderr_path = home.parent / "agent-stderr.txt"
        self.stderr = open(self.stderr_path, "wb")  # closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(bundle)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, env=agent_env(home), cwd=home)
        self.lines: queue.Queue[Any] = queue.Queue()
        self.unreadable: list[bytes] = []
        self.next_id = 10**9
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.take(30)
        assert ready.get("event") == "ready", ready

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.unreadable.append(line)
        self.lines.put(None)  # EOF

    def take(self, timeout: float = ANSWER_S) -> Any:
        try:
            msg = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the agent said nothing within {timeout:g} s") from None
        assert msg is not None, f"the agent ended: {self.stderr_text()!r}"
        return msg

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def exchange(self, bad: bytes) -> list[dict[str, Any]]:
        """Write ``bad`` (lines), then a hello; the replies to the bad lines (one per line that
        is not blank), once the hello is answered too."""
        self.next_id += 1
        ping = self.next_id
        expected = sum(1 for part in bad.split(b"\n") if part.strip())
        self.write(bad + b"\n" + _valid_line(ping) + b"\n")
        replies: list[dict[str, Any]] = []
        answered = False
        deadline = time.monotonic() + ANSWER_S
        while not answered or len(replies) < expected:
            msg = self.take(max(0.1, deadline - time.monotonic()))
            if msg.get("id") == ping and msg.get("ok") is True:
                assert msg["result"]["pid"] == self.proc.pid
                answered = True
            else:
                replies.append(msg)
        assert len(replies) == expected, (bad[:200], replies)
        assert self.proc.poll() is None, "the agent died"
        return replies

    def stderr_text(self) -> str:
        if not self.stderr.closed:
            self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> int:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait()
        self.stderr.close()
        return code


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = agent_bundle()
    path = tmp_path_factory.mktemp("bundle") / built.name
    path.write_bytes(built.data)
    return path


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory, bundle: Path) -> Any:
    """One agent for the module's examples (each checks it is still alive and clean)."""
    root = tmp_path_factory.mktemp("fuzz-agent")
    home = root / "home"
    home.mkdir()
    agent = PipedAgent(home, bundle)
    yield agent
    try:
        assert agent.close() == 0
    finally:
        kill_mentioning(str(root))


def _check_error(reply: dict[str, Any], *, types: tuple[str, ...]) -> str:
    assert reply.get("ok") is False, reply
    error = reply["error"]
    assert error["type"] in types, reply
    message = error["message"]
    assert isinstance(message, str) and message.strip() and "Traceback" not in message, reply
    assert len(message) < 2000, reply
    return message


def _clean(agent: PipedAgent) -> None:
    assert agent.unreadable == [], agent.unreadable[:3]
    assert "Traceback" not in agent.stderr_text()


# -- the agent's side --------------------------------------------------------------------------


@pytest.mark.reliability
def test_unreadable_lines_are_refused_and_the_next_request_served(piped: PipedAgent) -> None:
    """Random bytes, cut or mutated requests: each line is refused as a bad request (by its
    id when the line still is a request with a bad field), and the hello after it answered."""
    tried = 0
    seen: set[str] = set()

    @given(garbage_line().filter(lambda raw: not _readable(raw)))
    def run(bad: bytes) -> None:
        nonlocal tried
        tried += 1
        for reply in piped.exchange(bad):
            message = _check_error(reply, types=("bad_request", "bad_args", "unknown_op"))
            seen.add(message.split(":")[0])

    run()
    _clean(piped)
    assert "not a JSON line" in seen
    reliability.record("bad input", "agent request lines: random bytes, cut, NUL, bad UTF-8",
                       tried=tried, seen="bad_request: not a JSON line: <where> / the request "
                       "line is not UTF-8 (a bad byte at offset N)", tracebacks=0, hangs=0,
                       files_changed=0)


@pytest.mark.reliability
def test_json_that_is_no_request_is_refused(piped: PipedAgent) -> None:
    """JSON values that are no object, and objects with a bad id, op or args: refused with
    the reason, by the request's id when it has a usable one."""
    tried = 0

    @given(NOT_OBJECTS | bad_envelope())
    def run(value: Any) -> None:
        nonlocal tried
        tried += 1
        line = json.dumps(value).encode()
        (reply,) = piped.exchange(line)
        message = _check_error(reply, types=("bad_request", "bad_args", "unknown_op"))
        if not isinstance(value, dict):
            assert message == "a request must be a JSON object"
            return
        rid = value.get("id")
        usable = rid is None or isinstance(rid, str) or (
            isinstance(rid, int) and not isinstance(rid, bool))
        assert reply["id"] == (rid if usable else None), (value, reply)
        if not usable:
            assert "id must be" in message
        elif not isinstance(value.get("op"), str) or value["op"] not in OPS:
            assert reply["error"]["type"] in ("unknown_op", "bad_args"), reply
        else:
            assert message == "args must be a JSON object", reply

    run()
    _clean(piped)
    reliability.record("bad input", "agent request lines: JSON no object, bad id/op/args",
                       tried=tried, seen="unknown op 'x'; known: ... / a request's id must be "
                       "a string or a whole number", tracebacks=0, hangs=0, files_changed=0)


@pytest.mark.reliability
def test_every_op_refuses_arguments_of_the_wrong_type(piped: PipedAgent) -> None:
    """For each op of the agent's table, arguments of the wrong type (other JSON types,
    NaN and infinities, numbers past 64 bits, strings with a NUL, lists with a bad item):
    ``bad_args`` naming an argument of the op, never an internal error."""
    tried = 0
    ops_seen: set[str] = set()
    wrong_named: set[str] = set()

    @given(bad_args_request())
    def run(case: tuple[dict[str, Any], set[str]]) -> None:
        nonlocal tried
        tried += 1
        req, wrong = case
        piped.next_id += 1
        req = {"id": piped.next_id, **req}
        (reply,) = piped.exchange(json.dumps(req).encode())
        assert reply["id"] == req["id"]
        message = _check_error(reply, types=("bad_args",))
        # The wrong argument, or one the op needs first ("give connection_file, kernel_id
        # or pid"): an argument of its own, never an internal error.
        named = [name for name in OP_TABLE[req["op"]] if name in message]
        assert named, (req, message)
        wrong_named.update(set(named) & wrong)
        ops_seen.add(req["op"])

    run()
    _clean(piped)
    assert wrong_named  # most name the very argument
    reliability.record("bad input", "agent request lines: each op's arguments of wrong types",
                       tried=tried, seen="bad_args: argument 'path' must be a string without "
                       "a NUL character", tracebacks=0, hangs=0, files_changed=0,
                       ops=len(ops_seen))


@pytest.mark.reliability
def test_a_line_over_the_limit_is_refused_by_its_id_unread(piped: PipedAgent) -> None:
    """10 MB lines (over MAX_REQUEST): refused by the id their head names (or none), the
    rest skipped unread; a request just under the limit is still served."""
    pad = "x" * (10 * 10**6)
    piped.next_id += 1
    rid = piped.next_id
    huge = json.dumps({"id": rid, "op": "hello", "args": {"pad": pad}}).encode()
    (reply,) = piped.exchange(huge)
    message = _check_error(reply, types=("bad_request",))
    assert reply["id"] == rid and "8 MiB" in message and "limit" in message, reply
    (reply,) = piped.exchange(b"\xff" * (10 * 10**6))
    assert reply["id"] is None and "8 MiB" in _check_error(reply, types=("bad_request",))
    under = json.dumps({"id": rid + 1, "op": "hello",
                        "args": {"pad": "x" * (MAX_REQUEST - 200)}}).encode()
    piped.write(under + b"\n")
    reply = piped.take()
    assert reply["id"] == rid + 1 and reply["ok"] is True, reply
    _clean(piped)
    reliability.record("bad input", "agent request lines: 10 MB lines", tried=2,
                       seen="bad_request: a request line over 8 MiB (8,388,608 bytes, the "
                       "agent's limit); dropped", tracebacks=0, hangs=0, files_changed=0)


def test_a_request_nested_past_the_recursion_limit_is_refused(piped: PipedAgent) -> None:
    """100,000 nested arrays: json.loads raises RecursionError, which is no ValueError (it
    was answered as an internal error with Python's words)."""
    (reply,) = piped.exchange(b"[" * 100_000 + b"]" * 100_000)
    assert _check_error(reply, types=("bad_request",)) == "a request nested too deep to read"
    piped.next_id += 1
    deep = b'{"id": %d, "op": "hello", "args": ' % piped.next_id + b"[" * 100_000
    (reply,) = piped.exchange(deep + b"]" * 100_000 + b"}")
    assert _check_error(reply, types=("bad_request",)) == "a request nested too deep to read"
    _clean(piped)


def test_a_request_written_in_pieces_is_answered(piped: PipedAgent) -> None:
    """A line that comes in several writes (a slow link) is one request, answered once."""
    for cut in (1, 7, 20):
        piped.next_id += 1
        line = _valid_line(piped.next_id) + b"\n"
        for start in range(0, len(line), cut):
            piped.write(line[start:start + cut])
            time.sleep(0.002)
        reply = piped.take()
        assert reply["id"] == piped.next_id and reply["ok"] is True, reply


def test_a_line_cut_by_the_end_of_input_ends_the_agent_cleanly(
        tmp_path: Path, bundle: Path) -> None:
    """stdin ends in the middle of a request: the agent leaves with 0, no traceback."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    agent = PipedAgent(home, bundle)
    try:
        agent.write(b'{"id": 3, "op": "hel')
        assert agent.close() == 0
        assert "Traceback" not in agent.stderr_text()
    finally:
        kill_mentioning(str(tmp_path))


# -- the client's side -------------------------------------------------------------------------


class _FakeStdout:
    """The channel's stdout: lines pushed by the fake agent, EOF by ``None``."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()

    async def readline(self) -> str:
        line = await self.lines.get()
        return "" if line is None else line

    def __aiter__(self) -> _FakeStdout:
        return self

    async def __anext__(self) -> str:
        line = await self.lines.get()
        if line is None:
            raise StopAsyncIteration
        return line


class _FakeStdin:
    def __init__(self, on_line: Callable[[dict[str, Any]], None]) -> None:
        self.on_line = on_line

    def write(self, data: str) -> None:
        for line in data.splitlines():
            self.on_line(json.loads(line))

    def write_eof(self) -> None:
        pass


class _FakeProcess:
    def __init__(self, on_line: Callable[[dict[str, Any]], None]) -> None:
        self.stdout = _FakeStdout()
        self.stdin = _FakeStdin(on_line)
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class _FakeConnection:
    name = "fuzzhost"
    generation = 0


class FakeAgentClient:
    """An AgentClient whose channel is a fake: each request's replies are the lines
    ``script(request)`` returns (``{id}`` in them becomes the request's id)."""

    def __init__(self) -> None:
        self.script: Callable[[dict[str, Any]], list[str]] = lambda req: []
        self.process = _FakeProcess(self._answer)
        self.client = AgentClient(_FakeConnection())  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[dict[str, Any]] = loop.create_future()

        async def started() -> tuple[Any, Any]:
            return self.process, self.ready

        self.client._ensure_started = started  # type: ignore[method-assign]
        self.client._reader = loop.create_task(
            self.client._read(self.process, self.ready, ["python3"], ""))  # type: ignore[arg-type]
        self.process.stdout.lines.put_nowait(json.dumps({"event": "ready", "data": {}}) + "\n")

    def _answer(self, req: dict[str, Any]) -> None:
        if req.get("op") == "cancel":
            return
        for line in self.script(req):
            self.process.stdout.lines.put_nowait(line.replace("{id}", str(req["id"])) + "\n")


REPLY_FIELDS = st.fixed_dictionaries({}, optional={
    "ok": JSON_VALUES, "result": JSON_VALUES, "error": JSON_VALUES | st.fixed_dictionaries(
        {}, optional={"type": JSON_VALUES, "message": JSON_VALUES}),
    "event": st.sampled_from(["progress", "rows", "ready", "other"]) | JSON_VALUES,
    "data": JSON_VALUES | st.fixed_dictionaries({}, optional={
        "line": JSON_VALUES, "fraction": JSON_VALUES}),
})


@st.composite
def garbage_reply(draw: st.DrawFn) -> str:
    """One line an agent could (wrongly) write back: not JSON, no object, another id, or
    an object with our id and any fields of any types."""
    kind = draw(st.sampled_from(["text", "not_object", "other_id", "ours"]))
    if kind == "text":
        return draw(st.text(max_size=100)).replace("\n", " ").replace("\r", " ")
    if kind == "not_object":
        return json.dumps(draw(NOT_OBJECTS))
    fields = draw(REPLY_FIELDS)
    if kind == "other_id":
        return json.dumps({"id": draw(JSON_VALUES), **fields})
    return json.dumps({"id": 0, **fields}).replace('"id": 0', '"id": {id}', 1)


@pytest.mark.reliability
async def test_the_client_meets_garbage_replies_with_its_own_error() -> None:
    """Garbage before a request's real reply: the request ends with a result or AgentError
    (with a message), never another exception; progress and rows callbacks get what they
    are promised; the client serves the next request."""
    fake = FakeAgentClient()
    tried = 0
    outcomes: dict[str, int] = {}

    @given(st.lists(garbage_reply(), min_size=1, max_size=4))
    def run(lines: list[str]) -> None:
        nonlocal tried
        tried += 1
        fake.script = lambda req: [*lines, '{"id": {id}, "ok": true, "result": "pong"}']
        progress: list[Any] = []
        rows: list[Any] = []

        async def ask() -> None:
            try:
                await fake.client.request("hello", timeout=5, on_progress=progress.append,
                                          on_rows=rows.extend)
                outcomes["answered"] = outcomes.get("answered", 0) + 1
            except AgentError as exc:
                assert str(exc).strip(), lines
                outcomes[exc.type] = outcomes.get(exc.type, 0) + 1
            for p in progress:
                assert isinstance(p.line, str)
                assert p.fraction is None or isinstance(p.fraction, (int, float))
            fake.script = lambda req: ['{"id": {id}, "ok": true, "result": "pong"}']
            assert await fake.client.request("hello", timeout=5) == "pong"

        asyncio.run_coroutine_threadsafe(ask(), loop).result(10)

    loop = asyncio.get_running_loop()
    # hypothesis drives the examples from a thread; the client's loop keeps running here.
    await asyncio.to_thread(run)
    assert not fake.client._reader.done()  # type: ignore[union-attr]
    assert "timeout" not in outcomes, outcomes
    reliability.record("bad input", "agent replies: garbage, wrong ids, bad fields",
                       tried=tried, seen="AgentError: the rtui agent on fuzzhost sent a "
                       "malformed reply (...)", tracebacks=0, hangs=0, files_changed=0)


async def test_a_huge_garbage_reply_is_logged_cut_short(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    """A 10 MB line that is no JSON is logged in a line of its own, not 10 MB of log."""
    fake = FakeAgentClient()
    fake.script = lambda req: ["x" * (10 * 10**6), '{"id": {id}, "ok": true, "result": 1}']
    with caplog.at_level("WARNING"):
        assert await fake.client.request("hello", timeout=5) == 1
    assert caplog.records and all(len(r.getMessage()) < 1000 for r in caplog.records)


def test_errors_are_rtui_errors() -> None:
    assert issubclass(AgentError, RtuiError)
