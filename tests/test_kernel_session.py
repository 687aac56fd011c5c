"""KernelSession against real local ipykernel processes (loopback ports, as after forwarding)."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.manager import KernelManager

from rtui.core.errors import KernelError
from rtui.core.kernels.events import (
    ClearOutput,
    DisplayData,
    Error,
    ExecuteInput,
    ExecuteReply,
    ExecuteResult,
    InputRequest,
    KernelAlive,
    KernelEvent,
    Status,
    Stream,
    event_from_message,
)
from rtui.core.kernels.execution import Execution
from rtui.core.kernels.session import KernelSession
from tests.harness.kernels import connection_info, launch_local_kernel

HB_INTERVAL = 0.2
HB_MISSES = 3


# -- kernels ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    km = launch_local_kernel(tmp_path_factory.mktemp("shared-kernel"))
    try:
        yield connection_info(km)
    finally:
        km.shutdown_kernel(now=True)


@pytest.fixture
def fresh_kernel(tmp_path: Path) -> Iterator[KernelManager]:
    """A kernel of its own, for tests that interrupt, stop or restart it."""
    km = launch_local_kernel(tmp_path / "kernel")
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


@pytest.fixture
async def session(shared_kernel: dict[str, Any]) -> AsyncIterator[KernelSession]:
    ks = KernelSession.over_zmq(
        shared_kernel, name="shared", heartbeat_interval=HB_INTERVAL, heartbeat_misses=HB_MISSES
    )
    await ks.start(timeout=30)
    try:
        yield ks
    finally:
        await ks.close()


# -- helpers ----------------------------------------------------------------------------------


async def collect(execution: Execution, timeout: float = 15) -> list[KernelEvent]:
    async with asyncio.timeout(timeout):
        return [event async for event in execution]


def texts(events: list[KernelEvent], name: str = "stdout") -> str:
    return "".join(e.text for e in events if isinstance(e, Stream) and e.name == name)


async def wait_for(predicate: Any, timeout: float) -> None:
    """Poll a condition that listener callbacks set (they have no event to await)."""
    for _ in range(int(timeout / 0.02) + 1):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"condition not met within {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FlakyForwards:
    """Loopback TCP forwards to a kernel's ports that can be cut and re-created on the same
    ports, as an SSH reconnect does to rtui's -L forwards."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.names = ("shell", "iopub", "stdin", "control", "hb")
        self.ports = {name: 0 for name in self.names}
        self.servers: list[asyncio.Server] = []
        self.links: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    def connection_info(self) -> dict[str, Any]:
        return {**self.info, **{f"{n}_port": p for n, p in self.ports.items()}}

    async def open(self) -> None:
        for name in self.names:
            target = self.info[f"{name}_port"]
            server = await asyncio.start_server(
                functools.partial(self._accept, target=target), "127.0.0.1", self.ports[name]
            )
            self.ports[name] = server.sockets[0].getsockname()[1]
            self.servers.append(server)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        self.writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self.links.add(task)
            task.add_done_callback(self.links.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    async def cut(self) -> None:
        for server in self.servers:
            server.close()
        for writer in self.writers:
            writer.close()
        for task in list(self.links):
            task.cancel()
        await asyncio.gather(*self.links, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()
        self.servers, self.writers = [], set()


# -- decoding (no kernel) -----------------------------------------------------------------------


def _msg(msg_type: str, content: dict[str, Any], parent: str | None = "p1") -> dict[str, Any]:
    return {
        "header": {"msg_type": msg_type, "msg_id": "m1"},
        "parent_header": {"msg_id": parent} if parent else {},
        "content": content,
    }


def test_event_from_message_decodes_and_skips() -> None:
    ev = event_from_message(
        _msg("update_display_data", {"data": {"text/plain": "x"}, "transient": {"display_id": "d"}})
    )
    assert isinstance(ev, DisplayData) and ev.update and ev.display_id == "d"
    assert ev.parent_id == "p1"
    assert event_from_message(_msg("stream", {"name": "stderr", "text": "e"}, None)) == Stream(
        "stderr", "e", None
    )
    assert event_from_message(_msg("comm_open", {})) is None


# -- tests against the shared kernel -------------------------------------------------------------


async def test_start_returns_kernel_info(shared_kernel: dict[str, Any]) -> None:
    ks = KernelSession.over_zmq(shared_kernel, heartbeat_interval=HB_INTERVAL)
    t0 = time.monotonic()
    info = await ks.start(timeout=30)
    print(f"\nfirst start() (kernel may still be booting): {time.monotonic() - t0:.3f} s")
    try:
        assert info["language_info"]["name"] == "python"
        assert info["status"] == "ok"
        await wait_for(lambda: ks.alive is True, 5)
        assert (await ks.kernel_info())["implementation"] == "ipython"
    finally:
        await ks.close()


async def test_execute_stream_result_and_reply(session: KernelSession) -> None:
    events = await collect(session.execute("print('hi')"))
    assert Stream("stdout", "hi\n", events[0].parent_id) in events  # type: ignore[union-attr]

    execution = session.execute("1+1")
    events = await collect(execution)
    assert all(getattr(e, "parent_id", None) == execution.msg_id for e in events)
    assert isinstance(events[0], Status) and events[0].state == "busy"
    assert any(isinstance(e, ExecuteInput) and e.code == "1+1" for e in events)
    (result,) = [e for e in events if isinstance(e, ExecuteResult)]
    assert result.data["text/plain"] == "2"
    assert isinstance(result.execution_count, int) and result.execution_count > 0
    reply = events[-1]
    assert isinstance(reply, ExecuteReply) and reply.status == "ok"
    assert reply.execution_count == result.execution_count
    assert events[-2] == Status("idle", execution.msg_id)
    assert await execution.reply() == reply
    assert session.execution_state == "idle"


async def test_stderr_and_error(session: KernelSession) -> None:
    events = await collect(session.execute("import sys; print('oops', file=sys.stderr)"))
    assert texts(events, "stderr") == "oops\n"

    execution = session.execute("raise ValueError('boom')")
    events = await collect(execution)
    (error,) = [e for e in events if isinstance(e, Error)]
    assert (error.ename, error.evalue) == ("ValueError", "boom")
    assert any("\x1b[" in line for line in error.traceback)  # colours kept
    assert isinstance(events[-1], ExecuteReply) and events[-1].status == "error"


async def test_input_and_getpass(session: KernelSession) -> None:
    seen: list[KernelEvent] = []
    session.subscribe(seen.append)
    execution = session.execute("x = input('name? '); print('hello', x)")
    events: list[KernelEvent] = []
    async with asyncio.timeout(15):
        async for event in execution:
            events.append(event)
            if isinstance(event, InputRequest):
                assert event.prompt == "name? " and not event.password
                await session.input_reply("ada")
    assert "hello ada\n" in texts(events)
    # The request reached its execution once, and took no second path to the subscribers.
    prompts = [e for e in events if isinstance(e, InputRequest)]
    assert len(prompts) == 1 and prompts[0].parent_id == execution.msg_id
    assert not any(getattr(e, "parent_id", None) == execution.msg_id for e in seen)

    execution = session.execute("import getpass; print(len(getpass.getpass('pw: ')))")
    events = []
    async with asyncio.timeout(15):
        async for event in execution:
            events.append(event)
            if isinstance(event, InputRequest):
                assert event.password
                await session.input_reply("secret")
    assert "6\n" in texts(events)
    with pytest.raises(KernelError, match="not waiting for input"):
        await session.input_reply("late")


async def test_display_and_clear_output(session: KernelSession) -> None:
    code = (
        "from IPython.display import display, clear_output\n"
        "h = display('first', display_id=True)\n"
        "h.update('second')\n"
        "clear_output(wait=True)\n"
    )
    events = await collect(session.execute(code))
    shown = [e for e in events if isinstance(e, DisplayData)]
    assert [d.update for d in shown] == [False, True]
    assert shown[0].data["text/plain"] == "'first'" and shown[1].data["text/plain"] == "'second'"
    assert shown[0].display_id is not None and shown[0].display_id == shown[1].display_id
    assert ClearOutput(True, shown[0].parent_id) in events


async def test_complete_inspect_is_complete_history(session: KernelSession) -> None:
    completion = await session.complete("import o", 8)
    assert "os" in completion.matches
    assert (completion.cursor_start, completion.cursor_end) == (7, 8)

    help_ = await session.inspect("len", 3)
    assert help_.found and "Return the number of items" in help_.data["text/plain"]

    incomplete = await session.is_complete("for i in x:")
    assert incomplete.status == "incomplete" and incomplete.indent.strip() == ""
    assert incomplete.indent
    assert (await session.is_complete("1+1")).status == "complete"

    marker = f"history_marker_{os.getpid()} = 1"
    await session.execute(marker).reply()
    tail = await session.history(n=20)
    assert any(src == marker for _, _, src in tail)
    assert all(isinstance(s, int) and isinstance(n, int) for s, n, _ in tail)
    found = await session.history(pattern="history_marker_*")
    assert [src for _, _, src in found] == [marker]


async def test_requests_in_flight_together(session: KernelSession) -> None:
    execution = session.execute("import time; time.sleep(0.5); print('slept')")
    completion, inspection = await asyncio.gather(
        session.complete("import o"), session.inspect("print", 5)
    )
    reply = await execution.reply()
    assert "os" in completion.matches and inspection.found
    assert reply.status == "ok" and execution.done


async def test_subscribers_see_other_clients(
    session: KernelSession, shared_kernel: dict[str, Any]
) -> None:
    seen: list[KernelEvent] = []

    def broken(_: KernelEvent) -> None:
        raise RuntimeError("a bad listener must not stop the reader")

    session.subscribe(broken)
    unsubscribe = session.subscribe(seen.append)
    other = BlockingKernelClient()
    other.load_connection_info(cast(KernelConnectionInfo, shared_kernel))
    other.start_channels()
    try:
        reply = await asyncio.to_thread(
            other.execute, "print('from the other client')", reply=True, timeout=10
        )
        assert reply["content"]["status"] == "ok"
        theirs = reply["parent_header"]["msg_id"]
        await wait_for(lambda: Status("idle", theirs) in seen, 5)
        assert texts(seen) == "from the other client\n"
        assert {e.parent_id for e in seen if isinstance(e, Stream)} == {theirs}
    finally:
        other.stop_channels()
    unsubscribe()
    count = len(seen)
    await session.execute("pass").reply()
    assert len(seen) == count


async def test_each_event_takes_one_path(session: KernelSession) -> None:
    """An execution's events go to it alone, each once; subscribers get only the rest."""
    seen: list[KernelEvent] = []
    session.subscribe(seen.append)
    got: list[KernelEvent] = []
    execution = session.execute("print('once'); 6*7", on_event=got.append)
    reply = await asyncio.wait_for(execution.reply(), 15)
    assert got[0] == Status("busy", execution.msg_id)
    assert got[-2:] == [Status("idle", execution.msg_id), reply]
    kinds = Counter(type(e).__name__ for e in got if not isinstance(e, Stream))
    assert kinds == {"Status": 2, "ExecuteInput": 1, "ExecuteResult": 1, "ExecuteReply": 1}
    assert texts(got) == "once\n"
    assert all(getattr(e, "parent_id", None) == execution.msg_id for e in got)
    with pytest.raises(TypeError, match="on_event"):
        aiter(execution)  # handed out already: no second way to the same events

    iterated = session.execute("print('iterated')")
    events = await collect(iterated)
    assert texts(events) == "iterated\n"
    mine = {execution.msg_id, iterated.msg_id}
    assert not [e for e in seen if getattr(e, "parent_id", None) in mine]


async def test_output_flood(session: KernelSession) -> None:
    lines = 100_000
    execution = session.execute(f"for i in range({lines}): print(i)")
    t0 = time.monotonic()
    chunks = [e.text for e in await collect(execution, 30) if isinstance(e, Stream)]
    elapsed = time.monotonic() - t0
    text = "".join(chunks)
    print(f"\n{lines} lines in {len(chunks)} stream messages: {elapsed:.2f} s")
    assert text.count("\n") == lines
    assert text.endswith(f"{lines - 1}\n")
    assert elapsed < 30

    # One message per line (flush=True) is the hard case for the reader itself. Measured, not
    # asserted exactly: the kernel's PUB socket drops past its high-water mark (1000) when a
    # starved machine cannot move the bytes in time, whatever the client does.
    n = 10_000
    t0 = time.monotonic()
    execution = session.execute(f"for i in range({n}): print(i, flush=True)")
    events = await collect(execution, 30)
    elapsed = time.monotonic() - t0
    chunks = [e.text for e in events if isinstance(e, Stream)]
    got = "".join(chunks).count("\n")
    print(f"{n} flushed lines in {len(chunks)} messages: {elapsed:.2f} s, {got} lines arrived")
    assert isinstance(events[-1], ExecuteReply) and events[-1].status == "ok"
    assert got > 0


async def test_close_leaves_nothing_behind(shared_kernel: dict[str, Any]) -> None:
    before = asyncio.all_tasks()
    ks = KernelSession.over_zmq(shared_kernel, heartbeat_interval=HB_INTERVAL)
    t0 = time.monotonic()
    await ks.start()
    print(f"\nstart() on a running kernel: {time.monotonic() - t0:.3f} s")
    pending = ks.execute("import time; time.sleep(0.3)")
    await ks.close()
    await ks.close()  # idempotent
    assert asyncio.all_tasks() == before
    assert ks._channels.closed
    with pytest.raises(KernelError, match="closed"):
        await pending.reply()
    with pytest.raises(KernelError, match="closed"):
        ks.execute("1")


async def test_start_times_out_without_a_kernel() -> None:
    before = asyncio.all_tasks()
    ports = {f"{n}_port": free_port() for n in ("shell", "iopub", "stdin", "control", "hb")}
    info = {"ip": "127.0.0.1", "transport": "tcp", "key": "k", **ports}
    ks = KernelSession.over_zmq(info, name="nowhere")
    with pytest.raises(KernelError, match=r"nowhere: the kernel did not answer within 0\.5 s"):
        await ks.start(timeout=0.5)
    assert asyncio.all_tasks() == before


async def test_forwards_recreated_underneath(shared_kernel: dict[str, Any]) -> None:
    forwards = FlakyForwards(shared_kernel)
    await forwards.open()
    ks = KernelSession.over_zmq(
        forwards.connection_info(), name="flaky", heartbeat_interval=HB_INTERVAL,
        heartbeat_misses=HB_MISSES,
    )
    beats: list[bool] = []
    ks.subscribe(lambda e: beats.append(e.alive) if isinstance(e, KernelAlive) else None)
    try:
        await ks.start(timeout=30)
        assert texts(await collect(ks.execute("print('before')"))) == "before\n"
        await wait_for(lambda: ks.alive is True, 5)
        lost = ks.execute("import time; time.sleep(0.5)")
        await asyncio.sleep(0.1)
        await forwards.cut()  # its reply goes nowhere
        cut_at = len(beats)
        await wait_for(lambda: ks.alive is False, HB_INTERVAL * HB_MISSES + 1)
        await forwards.open()  # same ports again
        await ks.wait_ready(timeout=10)
        with pytest.raises(KernelError, match="reply was lost"):
            await lost.reply()
        assert texts(await collect(ks.execute("print('after')"))) == "after\n"
        await wait_for(lambda: ks.alive is True, 5)
        assert beats[cut_at:] == [False, True]
    finally:
        await ks.close()
        await forwards.cut()


async def test_attach_to_a_busy_kernel(
    session: KernelSession, shared_kernel: dict[str, Any]
) -> None:
    busy = session.execute("import time; time.sleep(3)")
    await asyncio.sleep(0.2)
    late = KernelSession.over_zmq(shared_kernel, name="late", heartbeat_interval=HB_INTERVAL)
    t0 = time.monotonic()
    try:
        info = await late.start(timeout=10)  # answered on control after a shell silence
        assert info["status"] == "ok"
        assert time.monotonic() - t0 < 2.7
        assert not busy.done  # so shell did not answer yet
    finally:
        await late.close()
    assert (await busy.reply()).status == "ok"


# -- tests with a kernel of their own -----------------------------------------------------------


async def test_interrupt(fresh_kernel: KernelManager) -> None:
    ks = KernelSession.over_zmq(connection_info(fresh_kernel), heartbeat_interval=HB_INTERVAL)
    await ks.start(timeout=30)
    try:
        execution = ks.execute("import time; time.sleep(60)")
        async for event in execution:
            if isinstance(event, ExecuteInput):
                break
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await ks.interrupt_request()
        events = await collect(execution, 5)
        elapsed = time.monotonic() - t0
        assert elapsed < 2
        assert any(isinstance(e, Error) and e.ename == "KeyboardInterrupt" for e in events)
        assert isinstance(events[-1], ExecuteReply) and events[-1].status == "error"
        # The kernel is still usable afterwards.
        assert (await ks.execute("40+2").reply()).status == "ok"
    finally:
        await ks.close()


async def test_shutdown_heartbeat_and_restart(fresh_kernel: KernelManager) -> None:
    ks = KernelSession.over_zmq(
        connection_info(fresh_kernel), heartbeat_interval=HB_INTERVAL, heartbeat_misses=HB_MISSES
    )
    beats: list[tuple[float, bool]] = []
    ks.subscribe(lambda e: beats.append((time.monotonic(), e.alive)) if isinstance(e, KernelAlive)
                 else None)
    await ks.start(timeout=30)
    try:
        await wait_for(lambda: ks.alive is True, 5)
        assert await ks.shutdown_request(timeout=5)
        t0 = time.monotonic()
        await wait_for(lambda: ks.alive is False, HB_INTERVAL * HB_MISSES + 1)
        print(f"\nheartbeat noticed the shutdown after {time.monotonic() - t0:.2f} s")
        assert beats[-1][1] is False and beats[-1][0] >= t0

        with pytest.raises(KernelError):
            await ks.complete("import o", timeout=0.5)

        # Same ports come back (as after an SSH reconnect or a restart): the session carries on.
        await asyncio.to_thread(fresh_kernel.restart_kernel, now=True)
        await ks.wait_ready(timeout=30)
        await wait_for(lambda: ks.alive is True, 5)
        assert beats[-1][1] is True
        events = await collect(ks.execute("print('back')"))
        assert texts(events) == "back\n"
    finally:
        await ks.close()
