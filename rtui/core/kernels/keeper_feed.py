"""A kernel's iopub as its keeper on the host kept it: numbered messages, replay, live follow.

The keeper (``rtui/agent/keeper.py``) numbers every iopub message of its kernel and keeps
them; a client sends one ``follow`` line and reads records (protocol: DESIGN15.md). This
module parses that stream in batches (a flood is many records per read, handed on without a
per-message await) and follows again with ``since`` = the last seq it handed on whenever the
stream drops: nothing lost, nothing twice, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "EVENT",
    "MESSAGE",
    "FeedError",
    "KeeperFeed",
    "KeeperGone",
    "StreamOpener",
    "parse_records",
    "request_line",
]

log = logging.getLogger(__name__)

MESSAGE, EVENT = 1, 2
"""Record kinds: a kept iopub message, a keeper event (JSON)."""

_LEN = struct.Struct(">I")
_MSG_HEAD = struct.Struct(">BQdH")  # kind, seq, unix time received, frame count
_HEADER_MAX = 1 << 20  # the follow reply's JSON line (carries a log tail)
_RECORD_MAX = 1 << 30
_READ = 1 << 18  # bytes asked for per read: a flood arrives in big chunks
BATCH = 500
"""Messages handed on before the event loop gets a turn (as wire.pump does for zmq)."""

_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0


class FeedError(Exception):
    """The keeper's stream broke its protocol (a bug somewhere, not a network fault)."""


class KeeperGone(FeedError):
    """The keeper cannot be reached while the host can: it has stopped (kernel shut down)."""


class Reader(Protocol):
    async def read(self, n: int = -1, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes, /) -> None: ...

    def close(self) -> None: ...


StreamOpener = Callable[[], Awaitable[tuple[Any, Any]]]
"""Opens a new stream to the keeper's socket (waiting for the host link first if it is
down); raises KeeperGone when the link is up but the keeper is not there, anything else
(OSError, SSH errors) for a transient failure that is worth retrying."""


def request_line(op: str, **fields: Any) -> bytes:
    """One request to the keeper: a line of JSON."""
    return json.dumps({"op": op, **fields}, separators=(",", ":")).encode() + b"\n"


def parse_records(
    data: bytes, pos: int, on_message: Callable[[int, float, list[bytes]], None],
    on_event: Callable[[dict[str, Any]], None], limit: int = BATCH,
) -> tuple[int, int]:
    """Hand on the complete records of ``data`` from offset ``pos`` (at most ``limit``
    messages); returns (the offset after the last one handed on, messages handed on).

    ``data`` is immutable bytes: frames are plain slices of it (one copy each, no views),
    and the caller keeps the incomplete rest for the next read.
    """
    size = len(data)
    handed = 0
    unpack_len = _LEN.unpack_from
    unpack_head = _MSG_HEAD.unpack_from
    head_size = _MSG_HEAD.size
    try:
        while handed < limit and size - pos >= 4:
            (length,) = unpack_len(data, pos)
            end = pos + 4 + length
            if length < 1 or length > _RECORD_MAX:
                raise FeedError(f"a record of {length} bytes")
            if end > size:
                break
            kind = data[pos + 4]
            if kind == MESSAGE:
                _, seq, received, count = unpack_head(data, pos + 4)
                at = pos + 4 + head_size
                frames: list[bytes] = []
                for _ in range(count):
                    (flen,) = unpack_len(data, at)
                    at += 4
                    frames.append(data[at:at + flen])
                    at += flen
                if at != end:
                    raise FeedError(f"message {seq}: frames do not fill its record")
                pos = end
                handed += 1
                on_message(seq, received, frames)
            elif kind == EVENT:
                try:
                    event = json.loads(data[pos + 5:end])
                except ValueError as exc:
                    raise FeedError(f"an unreadable event: {exc}") from exc
                pos = end
                if isinstance(event, dict) and isinstance(event.get("event"), str):
                    on_event(event)
                else:
                    log.debug("keeper: ignored event %r", event)
            else:  # a kind from a newer keeper: skip it
                pos = end
    except struct.error as exc:
        raise FeedError(f"a truncated message record: {exc}") from exc
    return pos, handed


async def _more(reader: Reader, rest: bytes) -> bytes | None:
    """``rest`` (an incomplete record) and what is read after it, at least up to the end of
    that record (a big message read in many chunks is joined once, not once per chunk);
    None at the end of the stream."""
    parts = [rest] if rest else []
    have = len(rest)
    need = 4 + _LEN.unpack_from(rest)[0] if have >= 4 else 1
    while True:
        chunk = await reader.read(_READ)
        if not chunk:
            return None
        parts.append(chunk)
        have += len(chunk)
        if need < 4 and have >= 4:
            head = b"".join(parts)
            parts = [head]
            need = 4 + _LEN.unpack_from(head)[0]
        if have >= need:
            return b"".join(parts) if len(parts) > 1 else parts[0]


async def _read_line(reader: Reader, buf: bytearray) -> bytes:
    """The keeper's one-line JSON answer, taken off the front of ``buf`` (what follows it
    stays there: a follow's first records may come in the same read)."""
    while (end := buf.find(b"\n")) < 0:
        if len(buf) > _HEADER_MAX:
            raise FeedError("the keeper's answer is not a line of JSON")
        chunk = await reader.read(_READ)
        if not chunk:
            raise FeedError("the keeper closed the stream before answering")
        buf += chunk
    line = bytes(buf[:end])
    del buf[:end + 1]
    return line


@dataclass(frozen=True, slots=True)
class FollowHeader:
    """The keeper's answer to ``follow``: what it keeps and the kernel's state."""

    first: int
    next: int
    state: str
    exit: dict[str, Any] | None
    stdin: bool = False
    """The keeper holds the identity this feed named on the kernel's stdin (an older
    keeper does not: the client then connects stdin itself)."""


class KeeperFeed:
    """Follows one kernel's keeper until closed, across dropped streams.

    ``on_frames(frames)`` gets each message's raw zmq frames, in seq order, exactly once
    (``last_seq`` is updated before the call); ``on_event(event)`` gets the keeper's events
    (``replayed``, ``dropped``, ``exited``, ``restarted``) and the feed's own:
    ``{"event": "lost", "reason"}`` when the stream dropped (it follows again by itself) and
    ``{"event": "gone", "reason"}`` when the keeper is no more (the feed then ends).
    Both run inside the feed's task: keep them quick.

    ``stdin``: the client's shell identity, for the keeper to hold on the kernel's stdin
    (see rtui/agent/keeper_stdin.py); questions then come as ``input_request`` events.
    """

    def __init__(
        self,
        opener: StreamOpener,
        on_frames: Callable[[list[bytes]], None],
        on_event: Callable[[dict[str, Any]], None],
        *,
        since: int | None = None,
        tail: int = 200,
        name: str = "kernel",
        stdin: str | None = None,
    ) -> None:
        self.name = name
        self._open = opener
        self._on_frames = on_frames
        self._on_event = on_event
        self.last_seq: int | None = since
        """The seq of the last message handed on (None: none yet, a tail is asked for)."""
        self._tail = tail
        self._floor: int | None = None
        """Before any message came: the seq just before the first one this feed was sent
        (its tail's start), so a stream dropped before then follows on from there, not from
        the keeper's newest (which lost every message printed in between)."""
        self._stdin = stdin
        self._headed: asyncio.Future[FollowHeader] | None = None
        self.live = False
        """True between a ``replayed`` event and the stream's end: messages are live."""
        self.header: FollowHeader | None = None
        self._task: asyncio.Task[None] | None = None
        self._writer: Any = None
        self._closed = False
        self._replayed_once: asyncio.Future[None] | None = None
        self._seq_waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        return f"<KeeperFeed {self.name} last={self.last_seq} live={self.live}>"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start following (in a task of its own); returns the task."""
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._replayed_once = loop.create_future()
            self._headed = loop.create_future()
            self._task = loop.create_task(self._run(), name=f"{self.name}-feed")
        return self._task

    async def wait_replayed(self, timeout: float) -> None:
        """Wait for the first ``replayed`` event (the backlog is in, output is live)."""
        if self._replayed_once is None:
            raise RuntimeError("the feed is not started")
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._replayed_once)

    def headed(self) -> asyncio.Future[FollowHeader]:
        """Done with the first follow header (the keeper holds our stdin identity by then:
        a cell sent after it cannot ask a question nobody receives)."""
        if self._headed is None:
            raise RuntimeError("the feed is not started")
        return self._headed

    async def ask(self, op: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """One request to the keeper on a stream of its own; its one-line answer."""
        async with asyncio.timeout(timeout):
            reader, writer = await self._open()
            try:
                writer.write(request_line(op, **fields))
                line = await _read_line(reader, bytearray())
            finally:
                with contextlib.suppress(Exception):
                    writer.close()
        try:
            answer = json.loads(line)
        except ValueError as exc:
            raise FeedError(f"the keeper's answer to {op} is not JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise FeedError(f"the keeper's answer to {op} is not a JSON object")
        return answer

    async def close(self) -> None:
        """Stop following and close the stream."""
        self._closed = True
        self._close_stream()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._replayed_once is not None and not self._replayed_once.done():
            self._replayed_once.cancel()
        if self._headed is not None and not self._headed.done():
            self._headed.cancel()

    @property
    def closed(self) -> bool:
        return self._closed

    async def caught_up(self, timeout: float) -> bool:
        """Wait until this feed has handed on every message the keeper holds now.

        For what arrives by another path and must come after the output before it (an
        ``input()`` question comes straight from the kernel, its prompt's output a hop later
        through the keeper). One status question to the keeper, then a wait for that seq;
        False when ``timeout`` passed first (the caller goes on anyway).
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                target = await self._kept_seq()
                if (self.last_seq or 0) >= target:
                    return True
                reached: asyncio.Future[None] = loop.create_future()
                self._seq_waiters.append((target, reached))
                try:
                    await reached
                finally:
                    with contextlib.suppress(ValueError):
                        self._seq_waiters.remove((target, reached))
                return True
        except TimeoutError:
            return False
        except (OSError, FeedError, KeeperGone) as exc:
            log.debug("%s: cannot ask the keeper how far it is: %s", self.name, exc)
            return False

    async def _kept_seq(self) -> int:
        answer = await self.ask("status")
        try:
            return int(answer["next"]) - 1
        except (ValueError, TypeError, KeyError) as exc:
            raise FeedError(f"the keeper's status is malformed: {exc}") from exc

    # -- internals ------------------------------------------------------------------------------

    def _close_stream(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()

    async def _run(self) -> None:
        delay = _RETRY_FIRST
        while not self._closed:
            try:
                reader, writer = await self._open()
            except KeeperGone as exc:
                self._gone(exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the link is down or flapping: try again, calmly
                log.debug("%s: cannot open the keeper stream: %s", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            self._writer = writer
            reason = "the keeper closed the stream"
            try:
                if await self._follow(reader, writer):
                    continue  # asked again for a tail (a new keeper): no "lost"
                delay = _RETRY_FIRST
            except asyncio.CancelledError:
                raise
            except KeeperGone as exc:
                self._gone(exc)
                return
            except FeedError as exc:  # a keeper bug: say it, and do not spin on it
                log.warning("%s: %s", self.name, exc)
                reason = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
            except Exception as exc:  # asyncssh and OS errors: the stream broke
                reason = str(exc) or type(exc).__name__
                delay = _RETRY_FIRST
            finally:
                self._close_stream()
                self.live = False
            if self._closed:
                return
            self._event({"event": "lost", "reason": reason})

    def _gone(self, exc: KeeperGone) -> None:
        self._fail_first(exc)
        self._event({"event": "gone", "reason": str(exc)})

    async def _follow(self, reader: Reader, writer: Writer) -> bool:
        """One stream: ask, read the header, then records until it ends.

        Returns True when the keeper turned out to be a new one (our ``since`` is past its
        numbering): the caller follows again for its tail.
        """
        since = self.last_seq if self.last_seq is not None else self._floor
        stdin = {} if self._stdin is None else {"stdin": self._stdin}
        writer.write(request_line("follow", since=since, tail=self._tail, **stdin))
        buf = bytearray()
        header = await self._read_header(reader, buf)
        if since is not None and header.next <= since:
            log.info("%s: the keeper numbers from 1 again (a new keeper): following its tail",
                     self.name)
            self.last_seq = self._floor = None
            return True
        if since is None:  # the keeper sends from its tail's start (keeper_buffer.Follower)
            self._floor = max(0, max(header.first, header.next - max(0, self._tail)) - 1)
        self.header = header
        if self._headed is not None and not self._headed.done():
            self._headed.set_result(header)
        on_message = self._message
        on_event = self._event
        data, pos = bytes(buf), 0  # after the header: the first records, if any came with it
        while True:
            pos, handed = parse_records(data, pos, on_message, on_event)
            if handed >= BATCH:
                await asyncio.sleep(0)  # a flood: let the loop (and the UI) have a turn
                continue
            more = await _more(reader, data[pos:] if pos < len(data) else b"")
            if more is None:
                return False
            data, pos = more, 0

    async def _read_header(self, reader: Reader, buf: bytearray) -> FollowHeader:
        line = await _read_line(reader, buf)
        try:
            answer = json.loads(line)
        except ValueError as exc:
            raise FeedError(f"the keeper's answer is not JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise FeedError("the keeper's answer is not a JSON object")
        if not answer.get("ok"):
            error = str(answer.get("error") or "no reason given")
            raise KeeperGone(f"the keeper refused to follow: {error}")
        try:
            return FollowHeader(int(answer.get("first") or 0), int(answer.get("next") or 0),
                                str(answer.get("state") or "unknown"), answer.get("exit"),
                                answer.get("stdin") is True)
        except (TypeError, ValueError) as exc:
            raise FeedError(f"the keeper's answer is malformed: {exc}") from exc

    def _message(self, seq: int, received: float, frames: list[bytes]) -> None:
        last = self.last_seq
        if last is not None and seq <= last:
            return  # already handed on (never twice)
        self.last_seq = seq
        self._on_frames(frames)
        if self._seq_waiters:
            for target, reached in self._seq_waiters:
                if seq >= target and not reached.done():
                    reached.set_result(None)

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "replayed":
            self.live = True
            first = self._replayed_once
            if first is not None and not first.done():
                first.set_result(None)
        self._hand_on(event)
        header = self.header
        if event.get("event") == "replayed" and header is not None and header.state == "exited":
            # A kernel that died while nobody followed: said after its last output.
            self._hand_on({**(header.exit or {}), "event": "exited"})

    def _hand_on(self, event: dict[str, Any]) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("%s: a keeper event handler failed on %r", self.name, event)

    def _fail_first(self, exc: BaseException) -> None:
        for first in (self._replayed_once, self._headed):
            if first is not None and not first.done():
                first.set_exception(exc)
                first.exception()
