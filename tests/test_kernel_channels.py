"""KernelSession over any KernelChannels (unit tests with a scripted link, no kernel): the
handlers it gives the link, what the link's events become (the console's seam, a restart
that fails the running cells, a kernel gone), and a Heartbeat driven by a ping callable.
The zmq link itself is covered by the kernel tests (test_kernel_session.py and others)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from rtui.core.errors import KernelDiedError
from rtui.core.kernels import events as ev
from rtui.core.kernels.channels import Channel, ChannelsEventHandler, MessageHandler
from rtui.core.kernels.heartbeat import Heartbeat
from rtui.core.kernels.session import KernelSession


class ScriptedChannels:
    """A link whose kernel answers kernel_info at once (reply on shell, idle on iopub) and
    leaves executions running, so the test says what happens next."""

    def __init__(self) -> None:
        self.name = "scripted"
        self.identity = str(uuid.uuid4())
        self.decoded = 0
        self.bad_signatures = 0
        self.handlers: dict[Channel, MessageHandler] = {}
        self.on_event: ChannelsEventHandler | None = None
        self.sent: list[tuple[Channel, str]] = []
        self.closed = False
        self.pings = 0

    def start(self, handlers: Mapping[Channel, MessageHandler],
              on_event: ChannelsEventHandler) -> list[asyncio.Task[None]]:
        self.handlers, self.on_event = dict(handlers), on_event
        return [asyncio.create_task(asyncio.Event().wait(), name="scripted-reader")]

    def send(self, channel: Channel, msg_type: str, content: dict[str, Any],
             parent: dict[str, Any] | None = None) -> str:
        msg_id = str(uuid.uuid4())
        self.sent.append((channel, msg_type))
        if msg_type == "kernel_info_request":
            loop = asyncio.get_running_loop()
            loop.call_soon(self.deliver, channel, "kernel_info_reply", msg_id,
                           {"status": "ok", "implementation": "scripted"})
            loop.call_soon(self.deliver, "iopub", "status", msg_id, {"execution_state": "idle"})
        return msg_id

    def deliver(self, channel: Channel, msg_type: str, parent_id: str,
                content: dict[str, Any]) -> None:
        self.decoded += 1
        self.handlers[channel]({
            "header": {"msg_id": str(uuid.uuid4()), "msg_type": msg_type},
            "msg_id": "", "msg_type": msg_type, "parent_header": {"msg_id": parent_id},
            "metadata": {}, "content": content, "buffers": [],
        })

    async def ping(self, timeout: float) -> bool:
        self.pings += 1
        return True

    async def close(self) -> None:
        self.closed = True


async def _session() -> tuple[KernelSession, ScriptedChannels, list[ev.KernelEvent]]:
    channels = ScriptedChannels()
    session = KernelSession(channels, name="lab:k1", heartbeat_interval=0.05)
    info = await session.start(timeout=5)
    assert info["implementation"] == "scripted"
    seen: list[ev.KernelEvent] = []
    session.subscribe(seen.append)
    return session, channels, seen


async def test_the_session_reads_every_channel_through_the_links_handlers() -> None:
    session, channels, _seen = await _session()
    try:
        assert set(channels.handlers) == {"shell", "control", "iopub", "stdin"}
        execution = session.execute("1+1")
        assert channels.sent[-1] == ("shell", "execute_request")
        channels.deliver("iopub", "execute_result", execution.msg_id,
                         {"data": {"text/plain": "2"}, "metadata": {}, "execution_count": 1})
        channels.deliver("shell", "execute_reply", execution.msg_id,
                         {"status": "ok", "execution_count": 1})
        channels.deliver("iopub", "status", execution.msg_id, {"execution_state": "idle"})
        reply = await asyncio.wait_for(execution.reply(), 5)
        assert reply.status == "ok" and reply.execution_count == 1
        await asyncio.sleep(0.12)
        assert channels.pings >= 1 and session.alive is True  # the heartbeat pings the link
    finally:
        await session.close()
    assert channels.closed


async def test_a_reconnect_is_the_consoles_seam_and_a_replay_counts() -> None:
    session, channels, seen = await _session()
    try:
        assert channels.on_event is not None
        channels.on_event({"event": "lost", "reason": "the websocket closed"})
        channels.on_event({"event": "replayed", "count": 0, "t0": None, "t1": None,
                           "reconnected": True})
        channels.on_event({"event": "replayed", "count": 3, "t0": 1.0, "t1": 2.0,
                           "reconnected": True})
        assert ev.LinkLost("the websocket closed") in seen  # the console says it is down
        seams = [e for e in seen if isinstance(e, ev.OutputReplayed)]
        assert len(seams) == 2 and seams[0].describe() == "link lost, reconnected"
        assert seams[1].count == 3 and seams[1].describe().startswith("replayed 3 messages")
        # A keeper's stream that drops is no LinkLost: SSH consoles follow their connection.
        session._on_keeper_event({"event": "lost", "reason": "EOF"})
        assert ev.LinkLost("EOF") not in seen
        # A keeper's replay at attach (no reconnect, nothing in it) is still no seam.
        assert ev.OutputReplayed(0).describe() == ""
    finally:
        await session.close()


async def test_a_restart_the_link_saw_fails_the_running_cells() -> None:
    session, channels, _seen = await _session()
    try:
        execution = session.execute("import time; time.sleep(60)")
        assert channels.on_event is not None
        channels.on_event({"event": "restarted", "reason": "the kernel died and the server "
                                                           "restarted it"})
        with pytest.raises(KernelDiedError, match=r"restarted \(the kernel died"):
            await asyncio.wait_for(execution.reply(), 5)
        assert session.exited is None  # restarted, not gone: the session carries on
    finally:
        await session.close()


async def test_a_kernel_gone_fails_what_waits_and_says_so() -> None:
    session, channels, seen = await _session()
    try:
        execution = session.execute("x = 1")
        assert channels.on_event is not None
        channels.on_event({"event": "gone", "reason": "kernel k1 is gone from the server"})
        with pytest.raises(KernelDiedError, match="gone from the server"):
            await asyncio.wait_for(execution.reply(), 5)
        assert session.exited is not None
        assert any(isinstance(e, ev.KernelExited) for e in seen)
    finally:
        await session.close()


async def test_a_keeper_needs_zmq_channels() -> None:
    from rtui.core.kernels.session import KeeperSource

    async def never() -> tuple[Any, Any]:
        raise OSError("not reached")

    with pytest.raises(TypeError, match="over zmq"):
        KernelSession(ScriptedChannels(), keeper=KeeperSource(never))


async def test_the_heartbeat_counts_misses_of_its_ping() -> None:
    answers = iter([True, False, False, True])
    changes: list[bool] = []

    async def ping(timeout: float) -> bool:
        assert timeout == 0.01
        return next(answers, True)

    beat = Heartbeat(ping, changes.append, interval=0.01, misses=2)
    task = asyncio.create_task(beat.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(changes) >= 3:
                break
    finally:
        task.cancel()
    assert changes[:3] == [True, False, True]
