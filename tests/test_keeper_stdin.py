"""The keeper's hold on stdin, driven over its Unix socket with a real kernel launched by the
real agent: an ``input()`` asked while its client is gone is asked of the next one, answered
once, and cleared when its cell ends. Through sshd and the front ends: test_input_kept.py."""

from __future__ import annotations

import os
import signal
from typing import Any

import zmq
from jupyter_client import BlockingKernelClient

from rtui.agent.keeper_buffer import OutputBuffer
from rtui.agent.keeper_clients import ClientTable
from rtui.agent.keeper_stdin import MAX_HELD, StdinHolder, valid_identity
from tests.keeper_helpers import (
    Agent,
    Follow,
    agent,
    ask,
    backlog,
    bundle,
    collect,
    events,
    host,
    launch,
    texts,
    wait_event,
)

__all__ = ["agent", "bundle", "host"]  # fixtures


def _client(cf: str) -> BlockingKernelClient:
    """A client with no stdin socket of its own: the keeper holds its identity there."""
    kc = BlockingKernelClient()
    kc.load_connection_file(cf)
    kc.start_channels(stdin=False)
    kc.wait_for_ready(timeout=30)
    return kc


def test_a_question_waits_for_the_next_client_and_is_answered_once(agent: Agent) -> None:
    k = launch(agent)
    path = k["keeper"]
    kc = _client(k["connection_file"])
    try:
        asker = Follow(path, since=None, stdin=kc.session.session)
        assert asker.header["stdin"] is True and asker.header["input"] is None
        other = Follow(path, since=None)  # a second client (no identity: not its cell)
        assert other.header["stdin"] is False
        backlog(asker)
        backlog(other)
        cell = kc.execute("answer = input('name? ')\nprint('hello', answer)", allow_stdin=True)
        question, _ = wait_event(asker, "input_request", 30)
        assert question["prompt"] == "name? " and question["password"] is False
        assert question["parent_id"] == cell
        meanwhile = []  # the other client is not asked while the asker follows...
        while (record := other.read(0.5)) is not None:
            meanwhile.append(record)
        assert "input_request" not in [e["event"] for e in events(meanwhile)]
        asker.close()  # ... which leaves without answering: the others are asked
        handed, _ = wait_event(other, "input_request", 10)
        assert handed["msg_id"] == question["msg_id"]

        late = Follow(path, since=None)  # attaching later: asked after the backlog
        assert late.header["input"]["msg_id"] == question["msg_id"]
        backlog(late)
        asked, _ = wait_event(late, "input_request", 10)
        assert asked["prompt"] == "name? "
        assert ask(path, {"op": "status"})["input"]["msg_id"] == question["msg_id"]

        wrong = ask(path, {"op": "input_reply", "msg_id": "nope", "value": "x"})
        assert not wrong["ok"] and "not pending" in wrong["error"]
        right = {"op": "input_reply", "msg_id": question["msg_id"], "value": "ada"}
        assert ask(path, right) == {"ok": True}
        assert not ask(path, right)["ok"]  # the first answer wins
        cleared, _ = wait_event(late, "input_cleared", 10)
        assert cleared == {"event": "input_cleared", "msg_id": question["msg_id"],
                           "reason": "answered"}
        assert "hello ada" in texts(collect(late, cell))
        assert ask(path, {"op": "status"})["input"] is None

        # A cell interrupted while it asks: its question is cleared when the cell ends.
        cell = kc.execute("input('again? ')", allow_stdin=True)
        again, _ = wait_event(late, "input_request", 30)
        os.kill(k["pid"], signal.SIGINT)
        cleared, _ = wait_event(late, "input_cleared", 10)
        assert cleared["msg_id"] == again["msg_id"] and cleared["reason"] == "ended"
        assert ask(path, {"op": "status"})["input"] is None
        bad = ask(path, {"op": "follow", "since": None, "stdin": ""})
        assert not bad["ok"] and "identity" in bad["error"]
        for follow in (other, late):
            follow.close()
    finally:
        kc.stop_channels()
        agent.request("shutdown", kernel_id=k["id"])


def test_held_identities_are_bounded_and_the_asking_one_is_kept() -> None:
    context = zmq.Context()
    poller = zmq.Poller()
    holder = StdinHolder(zmq, context, poller, {"key": "k"}, "ipc:///nonexistent/stdin", "s",
                         ClientTable(poller), OutputBuffer(1 << 20))
    try:
        holder.hold(b"asker")
        holder.question = _question(b"asker")
        for n in range(MAX_HELD + 8):
            holder.hold(f"client-{n}".encode())
        assert len(holder.held) == MAX_HELD
        assert b"asker" in holder.held  # its question is pending: never let go
        assert f"client-{MAX_HELD + 7}".encode() in holder.held
        assert b"client-0" not in holder.held  # the oldest go first
        holder.hold(b"client-20")  # held again: now the newest
        assert list(holder.held)[-1] == b"client-20"
        assert holder.answer("other", "x") is not None
        assert holder.answer(holder.question.msg_id, 3) == "value must be a string"
    finally:
        holder.close()
        context.term()
    assert valid_identity("a" * 255) == b"a" * 255
    for bad in ("", "a" * 256, "\0x", 7, None):
        assert valid_identity(bad) is None


def _question(identity: bytes) -> Any:
    from rtui.agent.keeper_stdin import Question

    return Question("q1", "cell", "? ", False, identity, {"msg_id": "q1"}, 0.0)

