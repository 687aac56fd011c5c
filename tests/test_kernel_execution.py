"""Execution on its own (no kernel): its events take one way, it ends once, its state is its own.

The session drives an Execution only through its methods; these tests drive it the same way,
in the orders a kernel's messages can arrive in.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from rtui.core.errors import KernelError
from rtui.core.kernels import execution as execution_module
from rtui.core.kernels.events import ExecuteReply, KernelEvent, Status, Stream
from rtui.core.kernels.execution import Execution

ROOT = Path(__file__).resolve().parents[1]
ID = "exec-1"
BUSY, IDLE = Status("busy", ID), Status("idle", ID)
OUT = Stream("stdout", "hi\n", ID)
REPLY = ExecuteReply("ok", 1, [], ID)


def new(on_event: object = None) -> Execution:
    return Execution(ID, 1, asyncio.get_running_loop(), on_event)  # type: ignore[arg-type]


async def drain(execution: Execution) -> list[KernelEvent]:
    async with asyncio.timeout(1):
        return [event async for event in execution]


@pytest.mark.parametrize("reply_first", [True, False], ids=["reply-first", "idle-first"])
async def test_iterated_events_in_order_and_the_reply_last(reply_first: bool) -> None:
    execution = new()
    assert not execution.on_status(BUSY)
    execution.on_output(OUT)
    if reply_first:
        assert not execution.on_reply(REPLY)
        assert execution.replied and not execution.done
        assert execution.on_status(IDLE)  # ends it
    else:
        assert not execution.on_status(IDLE)
        assert not execution.done
        assert execution.on_reply(REPLY)
    assert execution.done
    assert await drain(execution) == [BUSY, OUT, IDLE, REPLY]
    assert await drain(execution) == []  # after the end, nothing more
    assert await execution.reply() == REPLY


async def test_on_event_takes_each_event_once_and_nothing_is_buffered() -> None:
    got: list[KernelEvent] = []
    execution = new(got.append)
    execution.on_status(BUSY)
    execution.on_output(OUT)
    execution.on_reply(REPLY)
    assert got == [BUSY, OUT]  # the reply waits for the idle status: it comes last
    assert execution.on_status(IDLE)
    assert got == [BUSY, OUT, IDLE, REPLY]
    assert await execution.reply() == REPLY
    with pytest.raises(TypeError, match="on_event"):
        aiter(execution)  # its events went to the handler: there is no second way to them
    assert got == [BUSY, OUT, IDLE, REPLY]


async def test_a_broken_handler_does_not_stop_the_execution() -> None:
    calls: list[KernelEvent] = []

    def broken(event: KernelEvent) -> None:
        calls.append(event)
        raise RuntimeError("a bad handler must not stop the session's reader")

    execution = new(broken)
    execution.on_output(OUT)
    execution.on_reply(REPLY)
    assert execution.on_status(IDLE)
    assert calls == [OUT, IDLE, REPLY]
    assert await execution.reply() == REPLY


async def test_reply_without_iterating_stops_buffering() -> None:
    execution = new()
    execution.on_output(OUT)
    waiting = asyncio.ensure_future(execution.reply())
    await asyncio.sleep(0)
    execution.on_output(OUT)  # dropped: nobody iterates
    execution.on_reply(REPLY)
    execution.on_status(IDLE)
    assert await waiting == REPLY
    assert await drain(execution) == [REPLY]


async def test_fail_ends_it_once_and_iterating_raises() -> None:
    execution = new()
    execution.on_output(OUT)
    execution.fail(KernelError("the reply was lost"))
    assert execution.done and not execution.replied
    events: list[KernelEvent] = []
    with pytest.raises(KernelError, match="lost"):
        async for event in execution:
            events.append(event)
    assert events == [OUT]
    with pytest.raises(KernelError, match="lost"):
        await execution.reply()
    execution.fail(KernelError("again"))  # already ended: no-op
    assert not execution.on_reply(REPLY) and not execution.on_status(IDLE)
    with pytest.raises(KernelError, match="lost"):
        await execution.reply()


async def test_a_missing_idle_status_is_given_up_on_and_the_watch_ends_with_it() -> None:
    loop = asyncio.get_running_loop()
    execution = new()
    assert not execution.on_reply(REPLY)
    first = loop.call_later(60, lambda: None)
    execution.watch(first)
    second = loop.call_later(60, lambda: None)
    execution.watch(second)  # a new watch replaces the old one
    assert first.cancelled() and not second.cancelled()
    assert execution.idle_missing()
    assert second.cancelled()
    assert await drain(execution) == [REPLY]


async def test_msg_id_and_seq_are_read_only() -> None:
    execution = new()
    assert (execution.msg_id, execution.seq) == (ID, 1)
    with pytest.raises(AttributeError):
        execution.msg_id = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        execution.anything = 1  # type: ignore[attr-defined]  # __slots__: no new state


def _private_fields() -> set[str]:
    """The ``self._x`` names Execution keeps (its __slots__)."""
    slots = Execution.__slots__
    assert slots, "Execution declares its state in __slots__"
    return {name for name in slots if name.startswith("_")}


def test_no_module_touches_an_executions_private_fields() -> None:
    """Execution owns its state: outside execution.py, nothing reads or writes ``x._field``
    for any of its private fields (the session used to set ``_reply``, ``_idle``...)."""
    private = _private_fields()
    own = Path(execution_module.__file__).resolve()
    offenders: list[str] = []
    for folder in ("rtui", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.resolve() == own:
                continue
            source = path.read_text(encoding="utf-8")
            if "Execution" not in source and ".execute(" not in source:
                continue  # no execution in sight
            for node in ast.walk(ast.parse(source)):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in private
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []
