"""The keeper feed (client side of the keeper protocol) and KernelSession reading iopub
through it: against a fake keeper on a local Unix socket, fed by hand or by a real local
kernel's iopub. The real keeper through the real sshd: tests/test_output_kept.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from rtui.core.errors import KernelDiedError
from rtui.core.kernels import events as ev
from rtui.core.kernels.keeper_feed import (
    FeedError,
    KeeperFeed,
    KeeperGone,
    parse_records,
)
from rtui.core.kernels.session import KeeperSource, KernelSession
from tests.fake_keeper import FakeKeeper, encode_event, encode_message
from tests.harness.kernels import connection_info, launch_local_kernel


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory for Unix sockets (paths must stay under 108 bytes)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rtui-kf-", dir="/tmp") as path:
        yield Path(path)


@pytest.fixture
async def keeper(short_tmp: Path) -> AsyncIterator[FakeKeeper]:
    fake = await FakeKeeper(short_tmp / "keeper").start()
    try:
        yield fake
    finally:
        await fake.close()


class Seen:
    """What a feed handed on."""

    def __init__(self) -> None:
        self.frames: list[list[bytes]] = []
        self.events: list[dict[str, Any]] = []

    def on_frames(self, frames: list[bytes]) -> None:
        self.frames.append(frames)

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]

    async def until(self, predicate: Any, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)


def msg(n: int) -> list[bytes]:
    return [b"topic", b"<IDS|MSG>", b"sig", f"m{n}".encode()]


# -- parsing ----------------------------------------------------------------------------------


def test_parse_records_in_one_buffer_and_across_chunk_ends() -> None:
    data = b"".join(encode_message(n, 1000.0 + n, msg(n)) for n in range(1, 6))
    data += encode_event({"event": "replayed", "count": 5, "t0": 1001, "t1": 1005,
                          "dropped": 0})
    got: list[tuple[int, list[bytes]]] = []
    events: list[dict[str, Any]] = []
    # Fed in chunks of every size: records cut anywhere are completed by the next chunk.
    for step in (1, 3, 7, 64, len(data)):
        got.clear()
        events.clear()
        buf = b""
        for start in range(0, len(data), step):
            buf += data[start:start + step]
            consumed, _ = parse_records(buf, 0, lambda s, t, f: got.append((s, f)),
                                        events.append)
            buf = buf[consumed:]
        assert not buf
        assert got == [(n, msg(n)) for n in range(1, 6)], step
        assert events == [{"event": "replayed", "count": 5, "t0": 1001, "t1": 1005,
                           "dropped": 0}]


def test_parse_records_stops_after_a_batch_and_rejects_garbage() -> None:
    data = b"".join(encode_message(n, 0.0, msg(n)) for n in range(1, 11))
    got: list[int] = []
    pos, handed = parse_records(data, 0, lambda s, t, f: got.append(s), print, limit=4)
    assert handed == 4 and got == [1, 2, 3, 4]
    parse_records(data, pos, lambda s, t, f: got.append(s), print)
    assert got == list(range(1, 11))
    with pytest.raises(FeedError):
        parse_records(b"\x00\x00\x00\x00", 0, print, print)
    bad = b"\x00\x00\x00\x10\x01" + b"\x00" * 15  # claims frames it lacks
    with pytest.raises(FeedError):
        parse_records(bad, 0, print, print)


# -- following --------------------------------------------------------------------------------


async def test_tail_then_live_then_follows_again_after_a_drop(keeper: FakeKeeper) -> None:
    for n in range(1, 11):
        keeper.add(msg(n))
    seen = Seen()
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event, tail=3, name="t")
    feed.start()
    try:
        await feed.wait_replayed(5)
        assert seen.frames == [msg(8), msg(9), msg(10)]
        assert seen.events[0]["count"] == 3 and feed.live and feed.last_seq == 10
        assert keeper.requests[0] == {"op": "follow", "since": None, "tail": 3}
        for n in range(11, 21):
            keeper.add(msg(n))
        await seen.until(lambda: len(seen.frames) == 13)
        keeper.drop_clients()  # the stream drops; meanwhile the kernel prints on
        for n in range(21, 31):
            keeper.add(msg(n))
        await seen.until(lambda: len(seen.frames) == 23)
        assert seen.frames == [msg(n) for n in range(8, 31)]  # once each, in order
        assert keeper.requests[-1] == {"op": "follow", "since": 20, "tail": 3}
        assert seen.names() == ["replayed", "lost", "replayed"]
        assert seen.events[-1]["count"] == 10
    finally:
        await feed.close()
    assert feed.closed


async def test_a_drop_before_the_first_message_loses_nothing_printed_meanwhile(
        keeper: FakeKeeper) -> None:
    """No tail asked (a new console): the stream drops before its first message arrived
    while the kernel printed; following again asks from where the first stream began, not
    from the keeper's newest (CI lost a cell's first 72 lines so on a loaded machine)."""
    for n in range(1, 6):
        keeper.add(msg(n))  # before this console: not asked for (tail=0)
    seen = Seen()
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event, tail=0, name="t")
    feed.start()
    try:
        await feed.wait_replayed(5)
        assert feed.last_seq is None and seen.frames == []
        keeper.lag = 30.0  # printed, kept, not yet delivered when the stream drops
        for n in range(6, 11):
            keeper.add(msg(n))
        keeper.drop_clients()
        keeper.lag = 0.0
        await seen.until(lambda: len(seen.frames) == 5)
        assert seen.frames == [msg(n) for n in range(6, 11)]  # once each, in order
        assert keeper.requests[-1] == {"op": "follow", "since": 5, "tail": 0}
    finally:
        await feed.close()


async def test_a_new_keeper_is_followed_from_its_tail(keeper: FakeKeeper) -> None:
    """A remembered seq past what the keeper numbered: the keeper was replaced (a host
    reboot, say); its tail is asked for instead of nothing."""
    for n in range(1, 4):
        keeper.add(msg(n))
    seen = Seen()
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event, since=500, tail=2)
    feed.start()
    try:
        await feed.wait_replayed(5)
        assert seen.frames == [msg(2), msg(3)]
        assert [r["since"] for r in keeper.requests] == [500, None]
        assert "lost" not in seen.names()
    finally:
        await feed.close()


async def test_a_keeper_that_is_gone_ends_the_feed(keeper: FakeKeeper) -> None:
    seen = Seen()

    async def gone() -> Any:
        raise KeeperGone("no keeper at /x")

    feed = KeeperFeed(gone, seen.on_frames, seen.on_event)
    task = feed.start()
    with pytest.raises(KeeperGone):
        await feed.wait_replayed(5)
    await asyncio.wait_for(task, 5)
    assert seen.names() == ["gone"]

    keeper.refuse = True  # a keeper that answers with an error is as good as gone
    seen = Seen()
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event)
    feed.start()
    with pytest.raises(KeeperGone, match="no such kernel"):
        await feed.wait_replayed(5)
    await feed.close()


async def test_transient_open_failures_are_retried(keeper: FakeKeeper) -> None:
    tries = 0
    real = keeper.opener()

    async def flaky() -> Any:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise OSError("connection refused")
        return await real()

    seen = Seen()
    feed = KeeperFeed(flaky, seen.on_frames, seen.on_event)
    feed.start()
    try:
        await feed.wait_replayed(5)
        assert tries == 3
    finally:
        await feed.close()


async def test_a_flood_is_parsed_in_batches_without_starving_the_loop(
        keeper: FakeKeeper) -> None:
    count = 30_000
    for n in range(1, count + 1):
        keeper.add([b"x" * 40, str(n).encode()])
    seen = Seen()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    tick_task = asyncio.create_task(ticker())
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event, since=0)
    started = time.perf_counter()
    feed.start()
    try:
        await feed.wait_replayed(30)
        elapsed = time.perf_counter() - started
    finally:
        await feed.close()
        tick_task.cancel()
    assert [int(f[1]) for f in seen.frames] == list(range(1, count + 1))
    assert ticks >= count // 1000  # the loop had turns during the replay
    assert elapsed < 10, elapsed


# -- KernelSession on a keeper ----------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_km(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelManager]:
    km = launch_local_kernel(tmp_path_factory.mktemp("keeper-kernel"))
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


@pytest.fixture
async def kept(keeper: FakeKeeper, kernel_km: KernelManager) -> FakeKeeper:
    info = connection_info(kernel_km)
    keeper.subscribe(f"tcp://127.0.0.1:{info['iopub_port']}")
    await asyncio.sleep(0.3)  # the SUB's subscription reaches the kernel
    return keeper


def _session(info: dict[str, Any], keeper: FakeKeeper, **source: Any) -> KernelSession:
    return KernelSession.over_zmq(info, name="kept", heartbeat_interval=0.2,
                         keeper=KeeperSource(keeper.opener(), **source))


def _stdout(events: list[ev.KernelEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.Stream) and e.name == "stdout")


@pytest.mark.xfail(strict=False, reason=(
    "loses a cell's first lines at times (CI: 0, 9 or 72 of them), alone too; the cause is "
    "not found (issue 21's closing note). Kept running: an XPASS or xfail shows in the summary"))
async def test_session_reads_iopub_from_the_keeper_across_drops(
        kept: FakeKeeper, kernel_km: KernelManager) -> None:
    session = _session(connection_info(kernel_km), kept, tail=0)
    info = await session.start(timeout=30)
    assert info["status"] == "ok"
    watched: list[ev.KernelEvent] = []
    session.subscribe(watched.append, held=False)  # a watcher leaves the backlog alone
    heard: list[ev.KernelEvent] = []
    session.subscribe(heard.append)
    assert any(isinstance(e, ev.OutputReplayed) for e in heard)  # held for the subscriber
    assert not watched
    try:
        lines = 3000
        execution = session.execute(
            "import sys, time\n"
            f"for i in range({lines}):\n"
            "    print(i, flush=True)\n"
            "    if i % 100 == 0: time.sleep(0.01)\n")
        got: list[ev.KernelEvent] = []

        async def drain() -> None:
            async for event in execution:
                got.append(event)

        draining = asyncio.create_task(drain())
        for _ in range(3):  # the stream drops three times while the cell prints
            await asyncio.sleep(0.1)
            kept.drop_clients()
        await asyncio.wait_for(draining, 30)
        numbers = [int(x) for x in _stdout(got).split()]
        assert numbers == list(range(lines)), (  # every line once, in order
            numbers[:3], kept.requests, [type(e).__name__ for e in got][:12])
        assert isinstance(got[-1], ev.ExecuteReply) and got[-1].status == "ok"
        replays = [e for e in heard if isinstance(e, ev.OutputReplayed)]
        assert len(replays) >= 2  # the seam after each drop is said
        assert session.last_seq == kept.next - 1
    finally:
        await session.close()


async def test_session_replays_since_the_last_seq(
        kept: FakeKeeper, kernel_km: KernelManager) -> None:
    info = connection_info(kernel_km)
    first = _session(info, kept, tail=0)
    await first.start(timeout=30)
    reply = await first.execute("print('before')").reply()
    assert reply.status == "ok"
    seen_until = first.last_seq
    await first.close()
    other = _session(info, kept, tail=0)  # another client prints while we are away
    await other.start(timeout=30)
    await other.execute("print('while away')").reply()
    await other.close()
    again = _session(info, kept, since=seen_until)
    await again.start(timeout=30)
    heard: list[ev.KernelEvent] = []
    again.subscribe(heard.append)
    try:
        assert "while away" in _stdout(heard) and "before" not in _stdout(heard)
        replayed = [e for e in heard if isinstance(e, ev.OutputReplayed)]
        assert len(replayed) == 1 and replayed[0].count > 0 and replayed[0].t0 is not None
    finally:
        await again.close()


async def test_kernel_exit_fails_running_cells_with_code_and_log_tail(
        kept: FakeKeeper, kernel_km: KernelManager) -> None:
    session = _session(connection_info(kernel_km), kept, tail=0)
    await session.start(timeout=30)
    heard: list[ev.KernelEvent] = []
    session.subscribe(heard.append)
    try:
        execution = session.execute("import time; time.sleep(3)")
        await asyncio.sleep(0.2)
        kept.event({"event": "exited", "code": None, "signal": 9, "at": time.time(),
                    "log_tail": "Killed: out of memory"})
        with pytest.raises(KernelDiedError) as raised:
            await asyncio.wait_for(execution.reply(), 2)
        message = str(raised.value)
        assert "signal 9 (SIGKILL)" in message and "out of memory" in message
        assert [e for e in heard if isinstance(e, ev.KernelExited)] == [
            ev.KernelExited(None, 9, "Killed: out of memory")]
        with pytest.raises(KernelDiedError, match="signal 9"):  # said at once from now on
            await asyncio.wait_for(session.execute("1").reply(), 1)
        kept.event({"event": "restarted", "at": time.time()})
        await asyncio.sleep(0.1)
        assert session.exited is None
        # The sleeping cell ends before the next test: interrupted, and a cell after it
        # answered (a fixed 3 s wait before).
        kernel_km.interrupt_kernel()
        await asyncio.wait_for(session.execute("1").reply(), 30)
    finally:
        await session.close()


async def test_dropped_output_is_said(kept: FakeKeeper, kernel_km: KernelManager) -> None:
    session = _session(connection_info(kernel_km), kept, tail=0)
    await session.start(timeout=30)
    heard: list[ev.KernelEvent] = []
    session.subscribe(heard.append)
    try:
        kept.event({"event": "dropped", "count": 1204})
        async with asyncio.timeout(5):
            while ev.OutputDropped(1204) not in heard:
                await asyncio.sleep(0.01)
    finally:
        await session.close()


def test_encoded_event_is_a_record() -> None:
    got: list[dict[str, Any]] = []
    parse_records(encode_event({"event": "dropped", "count": 2}), 0, print, got.append)
    assert got == [{"event": "dropped", "count": 2}]


async def test_a_kernel_dead_before_attach_is_said_after_its_last_output(
        keeper: FakeKeeper) -> None:
    keeper.add(msg(1))
    keeper.exit = {"code": 1, "signal": None, "at": 1.0, "log_tail": "bye"}
    seen = Seen()
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event, since=0)
    feed.start()
    try:
        await seen.until(lambda: "exited" in seen.names())
    finally:
        await feed.close()
    assert seen.frames == [msg(1)]
    assert seen.events[-1] == {"code": 1, "signal": None, "at": 1.0, "log_tail": "bye",
                               "event": "exited"}


@pytest.fixture
def memory_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory of the test's own in memory (/dev/shm) where there is one, else tmp_path:
    600 puts there take ~2 s, not the ~14 s their fsyncs and renames took on this busy disk."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    made = Path(tempfile.mkdtemp(prefix="rtm-", dir=shm))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def test_seen_store_is_private_and_bounded(memory_dir: Path) -> None:
    from rtui.core.kernels.seen import SeenStore

    store = SeenStore(memory_dir / "state" / "seen.json")
    assert store.get("lab", "k1") is None
    store.put("lab", "k1", 41)
    store.put("lab", "k1", 42)
    store.put("other", "k1", 7)
    assert (store.get("lab", "k1"), store.get("other", "k1")) == (42, 7)
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    for n in range(600):
        store.put("lab", f"k{n}", n)
    assert store.get("lab", "k599") == 599 and store.get("other", "k1") is None
    store.path.write_text("{not json")
    assert store.get("lab", "k599") is None  # a damaged file costs a tail, not an error


async def test_attaching_to_a_dead_kernel_says_so_at_once(
        kept: FakeKeeper, kernel_km: KernelManager) -> None:
    kept.exit = {"code": 1, "signal": None, "at": time.time(), "log_tail": "ValueError: x"}
    session = _session(connection_info(kernel_km), kept, tail=5)
    started = time.monotonic()
    with pytest.raises(KernelDiedError, match="exited with code 1") as raised:
        await session.start(timeout=30)
    assert "ValueError: x" in str(raised.value)
    assert time.monotonic() - started < 5


async def test_a_big_message_read_in_many_chunks(keeper: FakeKeeper) -> None:
    big = [b"topic", b"<IDS|MSG>", bytes(range(256)) * 20_000]  # 5 MB: ~20 reads
    keeper.add(msg(1))
    keeper.add(big)
    keeper.add(msg(3))
    seen = Seen()
    feed = KeeperFeed(keeper.opener(), seen.on_frames, seen.on_event, since=0)
    feed.start()
    try:
        await feed.wait_replayed(10)
    finally:
        await feed.close()
    assert seen.frames == [msg(1), big, msg(3)]


async def test_a_lost_reply_ends_the_cell_on_its_kept_idle_status(
        kept: FakeKeeper, kernel_km: KernelManager) -> None:
    """After a reconnect the kernel's execute_reply may be gone with the link, while its
    output is all kept: the cell ends on its idle status, with the reply its output
    implies, instead of failing (or waiting for ever)."""
    session = _session(connection_info(kernel_km), kept, tail=0)
    await session.start(timeout=30)
    try:
        execution = session.execute("import time; time.sleep(0.5); print('kept'); 1/0")
        async with asyncio.timeout(10):
            while not execution.seen:
                await asyncio.sleep(0.01)
        session._drop_lost_executions(execution.seq)  # as wait_ready does: reply lost
        got: list[ev.KernelEvent] = []
        async with asyncio.timeout(10):
            async for event in execution:
                got.append(event)
        assert "kept" in _stdout(got)
        assert any(isinstance(e, ev.Error) for e in got)
        reply = got[-1]
        assert isinstance(reply, ev.ExecuteReply)
        assert reply.status == "error" and reply.execution_count is not None
    finally:
        await session.close()


async def test_input_is_asked_after_the_output_printed_before_it(
        kept: FakeKeeper, kernel_km: KernelManager) -> None:
    """stdin comes straight from the kernel, iopub a hop later through the keeper: the
    question waits until the output printed before it (flushed before asking) is in."""
    kept.lag = 0.3
    session = _session(connection_info(kernel_km), kept, tail=0)
    await session.start(timeout=30)
    try:
        execution = session.execute("print('before')\nanswer = input('q? ')\nprint(answer)")
        order: list[str] = []
        async for event in execution:
            if isinstance(event, ev.Stream):
                order.append(event.text.strip())
            elif isinstance(event, ev.InputRequest):
                order.append("asked")
                await session.input_reply("42")
        assert order[:2] == ["before", "asked"]
        assert "42" in order
    finally:
        await session.close()
