"""The keeper's memory of a kernel's output: numbered iopub messages in a buffer bounded by
bytes, kept already encoded as the records clients receive, and one cursor per client.

Record = ``>I`` length L, then L bytes starting with ``>B`` kind:
- 1 MESSAGE: ``>Qd`` seq and the unix time received, ``>H`` frame count, then per frame ``>I``
  length + bytes (the zmq multipart as the kernel published it, topic frame included);
- 2 EVENT: a UTF-8 JSON object with an ``"event"`` key.

A record is encoded once, when the message arrives; sending it to any number of clients is a
slice of bytes. Followers read the buffer at their own pace: a slow one never holds the keeper
or another client up, and one that falls further behind than the buffer reaches is told how
many messages it lost (a ``dropped`` event) and carries on from the oldest kept.
"""

from __future__ import annotations

import json
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KIND_MESSAGE = 1
KIND_EVENT = 2
_HEAD = struct.Struct(">IBQdH")  # length, kind, seq, time, frame count
_FRAME = struct.Struct(">I")


def message_record(seq: int, received: float, frames: list[bytes]) -> bytes:
    """The MESSAGE record of one iopub message."""
    parts = [b""]
    length = 1 + 8 + 8 + 2
    for frame in frames:
        parts.append(_FRAME.pack(len(frame)))
        parts.append(frame)
        length += 4 + len(frame)
    parts[0] = _HEAD.pack(length, KIND_MESSAGE, seq, received, len(frames))
    return b"".join(parts)


def event_record(event: str, **fields: Any) -> bytes:
    """The EVENT record ``{"event": event, **fields}``."""
    body = bytes([KIND_EVENT]) + json.dumps(dict(fields, event=event)).encode()
    return _FRAME.pack(len(body)) + body


class OutputBuffer:
    """Messages ``first`` .. ``next - 1`` (seq from 1, never reused), at most ``limit`` bytes
    of records (the newest one is always kept); older ones are dropped and counted."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.first = 1
        self.next = 1
        self.bytes = 0
        self.dropped = 0
        self._records: list[tuple[float, bytes] | None] = []
        self._head = 0  # index in _records of seq ``first``

    def add(self, frames: list[bytes], received: float) -> int:
        """Number and keep one message; its seq."""
        seq = self.next
        record = message_record(seq, received, frames)
        self._records.append((received, record))
        self.next += 1
        self.bytes += len(record)
        while self.bytes > self.limit and self.first < self.next - 1:
            self._drop_oldest()
        return seq

    def _drop_oldest(self) -> None:
        entry = self._records[self._head]
        assert entry is not None
        self._records[self._head] = None
        self._head += 1
        self.first += 1
        self.bytes -= len(entry[1])
        self.dropped += 1
        if self._head >= 4096 and self._head * 2 >= len(self._records):
            del self._records[:self._head]
            self._head = 0

    def get(self, seq: int) -> tuple[float, bytes]:
        """(time received, record) of a kept message."""
        entry = self._records[self._head + seq - self.first]
        assert entry is not None
        return entry

    def __len__(self) -> int:
        return self.next - self.first


class Follower:
    """One client's cursor: the backlog it asked for, then live messages, with the events
    (``replayed``, ``dropped``, live lifecycle ones) placed between the messages they follow.
    Lifecycle events are not replayed: the header's ``state`` and ``exit`` say where the
    kernel is now, and an old ``exited`` replayed to a new client would read as a death.

    An event at position P comes before message P, after message P - 1."""

    def __init__(self, buffer: OutputBuffer, since: int | None, tail: int) -> None:
        self.buffer = buffer
        self.events: list[tuple[int, bytes]] = []
        lost = 0
        if since is None:
            self.cursor = max(buffer.first, buffer.next - max(0, tail))
        else:
            if since >= buffer.next:  # a seq from another keeper's life: send all it has
                since = 0
            self.cursor = since + 1
            if self.cursor < buffer.first:
                lost = buffer.first - self.cursor
                self.cursor = buffer.first
        count = buffer.next - self.cursor
        t0 = buffer.get(self.cursor)[0] if count else None
        t1 = buffer.get(buffer.next - 1)[0] if count else None
        self.replayed = count
        self.events.append((buffer.next, event_record(
            "replayed", count=count, t0=t0, t1=t1, dropped=lost)))

    def notify(self, position: int, record: bytes) -> None:
        """A live event, after the messages numbered below ``position``."""
        self.events.append((position, record))

    def has_more(self) -> bool:
        return bool(self.events) or self.cursor < self.buffer.next

    def fill(self, limit: int) -> bytes:
        """Up to about ``limit`` bytes of the next records for this client (b"": caught up)."""
        buffer = self.buffer
        out: list[bytes] = []
        size = 0
        while size < limit:
            if self.cursor < buffer.first:  # fell behind the buffer while it was slow
                lost = buffer.first - self.cursor
                self.cursor = buffer.first
                out.append(event_record("dropped", count=lost))
            while self.events and self.events[0][0] <= self.cursor:
                record = self.events.pop(0)[1]
                out.append(record)
                size += len(record)
            if self.cursor >= buffer.next:
                break
            record = buffer.get(self.cursor)[1]
            out.append(record)
            size += len(record)
            self.cursor += 1
        return b"".join(out)
