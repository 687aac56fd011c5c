"""Typed events and answers decoded from Jupyter kernel messages, so the UI never touches raw
dicts."""

from __future__ import annotations

import signal as signals
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

__all__ = [
    "OUTPUT_DECODERS",
    "ClearOutput",
    "CompleteResult",
    "DisplayData",
    "Error",
    "ExecuteInput",
    "ExecuteReply",
    "ExecuteResult",
    "InputRequest",
    "InspectResult",
    "IsCompleteResult",
    "KernelAlive",
    "KernelEvent",
    "KernelExited",
    "LinkLost",
    "Listener",
    "MalformedMessage",
    "MessageDropped",
    "MessageEvent",
    "OutputDropped",
    "OutputReplayed",
    "Status",
    "Stream",
    "decode_execute_reply",
    "decode_input_request",
    "decode_status",
    "decoded",
    "event_from_keeper",
    "event_from_message",
    "history_rows",
]

StreamName: TypeAlias = Literal["stdout", "stderr"]
ReplyStatus: TypeAlias = Literal["ok", "error", "aborted"]


@dataclass(frozen=True, slots=True)
class Stream:
    """A chunk of stdout/stderr; chunks are never joined here (floods stay cheap)."""

    name: StreamName
    text: str
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExecuteInput:
    """The kernel echoing code it is about to run (also for other clients' requests)."""

    code: str
    execution_count: int | None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    """The value of the last expression, as a mimebundle (``Out[n]``)."""

    execution_count: int | None
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class DisplayData:
    """``display()`` output; ``update`` replaces the output with the same display_id."""

    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    transient: dict[str, Any] = field(default_factory=dict)
    update: bool = False
    parent_id: str | None = None

    @property
    def display_id(self) -> str | None:
        """The id ``update_display_data`` targets, if the output has one."""
        value = self.transient.get("display_id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Error:
    """An exception in user code; traceback lines keep their ANSI colours."""

    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClearOutput:
    """Clear the output area; with ``wait`` only once the next output arrives."""

    wait: bool = False
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """Kernel execution state: ``busy``, ``idle``, ``starting`` (or a kernel's own)."""

    state: str
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputRequest:
    """The running code wants a line of input; answer with ``KernelSession.input_reply``."""

    prompt: str
    password: bool = False
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExecuteReply:
    """How an execution ended; always the last event of an ``Execution``."""

    status: ReplyStatus
    execution_count: int | None
    payload: list[dict[str, Any]] = field(default_factory=list)
    parent_id: str | None = None
    # What the request's user_expressions evaluated to ({name: {status, data, ...}}).
    user_expressions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """A kernel message of a type rtui shows whose content is not what that type holds (a
    stream without its text, a traceback that is no list of strings): not shown, said so."""

    msg_type: str
    reason: str
    parent_id: str | None = None

    def describe(self) -> str:
        """"a stream message from the kernel was malformed and dropped ('text' is ...)"."""
        return (f"a {self.msg_type[:40]} message from the kernel was malformed and dropped "
                f"({self.reason})")


@dataclass(frozen=True, slots=True)
class KernelAlive:
    """A heartbeat transition: the kernel stopped (or resumed) answering pings."""

    alive: bool


@dataclass(frozen=True, slots=True)
class LinkLost:
    """The link to the kernel dropped (a Jupyter server's websocket) and is being made
    again: an OutputReplayed with ``reconnected`` says it is back. SSH hosts tell this by
    their connection's states instead."""

    reason: str


@dataclass(frozen=True, slots=True)
class OutputReplayed:
    """The kernel's kept output since this client last saw it has been handed on (the events
    before this one): ``count`` messages received between ``t0`` and ``t1`` (unix times, None
    when there were none); ``dropped`` were no longer kept (the keeper's buffer is bounded).
    Everything after it is live."""

    count: int
    t0: float | None = None
    t1: float | None = None
    dropped: int = 0
    buffer_mb: float | None = None  # what the host's keeper holds, when known
    reconnected: bool = False  # after a dropped link (a websocket's), not at attach

    def describe(self) -> str:
        """"replayed 1,204 messages, 10:02:11-10:07:40; 12 were dropped ..." ("" if none;
        "link lost, reconnected" for a reconnect that missed nothing)."""
        parts = []
        if self.count:
            span = ""
            if self.t0 is not None and self.t1 is not None:
                span = f", {_clock(self.t0)}\u2013{_clock(self.t1)}"
            parts.append(f"replayed {self.count:,} message{'s' * (self.count != 1)}{span}")
        if self.dropped:
            were = "were" if self.dropped != 1 else "was"
            parts.append(f"{self.dropped:,} earlier message{'s' * (self.dropped != 1)} "
                         f"{were} dropped: {_buffer(self.buffer_mb)} was full")
        if not parts and self.reconnected:
            return "link lost, reconnected"
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class OutputDropped:
    """Live output this client fell too far behind on: ``count`` messages are lost to it."""

    count: int
    buffer_mb: float | None = None  # what the host's keeper holds, when known

    def describe(self) -> str:
        were = "were" if self.count != 1 else "was"
        return (f"{self.count:,} message{'s' * (self.count != 1)} of output {were} dropped: "
                f"this client fell behind by more than {_buffer(self.buffer_mb)}")


@dataclass(frozen=True, slots=True)
class KernelExited:
    """The kernel process ended: its exit ``code`` or the ``signal`` that killed it (either
    may be None when unknown) and the last lines of its log."""

    code: int | None
    signal: int | None
    log_tail: str = ""

    def describe(self) -> str:
        """"exited with code 1", "was killed by signal 9 (SIGKILL)", "exited"."""
        if self.signal is not None:
            try:
                name = f" ({signals.Signals(self.signal).name})"
            except ValueError:
                name = ""
            return f"was killed by signal {self.signal}{name}"
        if self.code is not None:
            return f"exited with code {self.code}"
        return "exited"


MessageEvent: TypeAlias = (
    Stream
    | ExecuteInput
    | ExecuteResult
    | DisplayData
    | Error
    | ClearOutput
    | Status
    | InputRequest
    | ExecuteReply
    | MessageDropped
)
"""Events decoded from a kernel message (all carry ``parent_id``)."""

KernelEvent: TypeAlias = (
    MessageEvent | KernelAlive | LinkLost | OutputReplayed | OutputDropped | KernelExited
)
"""Everything a KernelSession delivers: message events, heartbeat transitions, the link's
drops and what the kernel's keeper (or the link) says (output replayed or dropped, the
kernel's exit)."""

Listener: TypeAlias = Callable[[KernelEvent], None]
"""Takes events as they arrive, inside a session's reader task: keep it quick."""


# -- answers to shell requests ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompleteResult:
    """Completions for the text between ``cursor_start`` and ``cursor_end``."""

    matches: list[str]
    cursor_start: int
    cursor_end: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_content(cls, c: dict[str, Any], pos: int) -> CompleteResult:
        """From a complete_reply's content; ``pos``: the cursor the request was made at."""
        return cls(
            [str(m) for m in c.get("matches") or []],
            int(c.get("cursor_start", pos)),
            int(c.get("cursor_end", pos)),
            dict(c.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True)
class InspectResult:
    """Help for the object at the cursor; ``data["text/plain"]`` carries ANSI colours."""

    found: bool
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_content(cls, c: dict[str, Any]) -> InspectResult:
        return cls(bool(c.get("found")), dict(c.get("data") or {}), dict(c.get("metadata") or {}))


@dataclass(frozen=True, slots=True)
class IsCompleteResult:
    """Whether Enter should run the code or open a continuation line with ``indent``."""

    status: str
    indent: str = ""

    @classmethod
    def from_content(cls, c: dict[str, Any]) -> IsCompleteResult:
        return cls(str(c.get("status", "unknown")), str(c.get("indent") or ""))


def history_rows(c: dict[str, Any], *, dedupe: bool) -> list[tuple[int, int, str]]:
    """A history_reply's (session, line, source) rows, oldest first; ``dedupe`` keeps only
    the most recent occurrence of each source."""
    rows = [(int(s), int(line), str(src)) for s, line, src in c.get("history") or []]
    if not dedupe:
        return rows
    seen: set[str] = set()
    kept: list[tuple[int, int, str]] = []
    for row in reversed(rows):
        if row[2] not in seen:
            seen.add(row[2])
            kept.append(row)
    return kept[::-1]


class MalformedMessage(ValueError):
    """A message's content lacks a field its type needs, or holds one of the wrong type."""


def _parent_id(msg: dict[str, Any]) -> str | None:
    parent = msg.get("parent_header")
    msg_id = parent.get("msg_id") if isinstance(parent, dict) else None
    return msg_id if isinstance(msg_id, str) and msg_id else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# What a message type's content must hold (the links check the envelope: envelope.py).
# Missing or of the wrong type, the message is dropped with a note (``decoded``).


def _content(msg: dict[str, Any]) -> dict[str, Any]:
    c = msg.get("content")
    if not isinstance(c, dict):
        raise MalformedMessage("its content is not an object")
    return c


def _text(c: dict[str, Any], key: str, default: str | None = None) -> str:
    value = c.get(key, default)
    if value is None:
        raise MalformedMessage(f"no {key!r}")
    if not isinstance(value, str):
        raise MalformedMessage(f"{key!r} is not a string")
    return value


def _object(c: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = c.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise MalformedMessage(f"{key!r} is not an object" if value is not None else
                               f"no {key!r}")
    return value


def _texts(c: dict[str, Any], key: str) -> list[str]:
    value = c.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedMessage(f"{key!r} is not a list of strings")
    return value


# One decoder per message type: a session looks one up once per message (output floods go
# through here), so each is one constructor over the content.


def decode_stream(msg: dict[str, Any]) -> Stream:
    c = _content(msg)
    name: StreamName = "stderr" if c.get("name") == "stderr" else "stdout"
    return Stream(name, _text(c, "text"), _parent_id(msg))


def decode_status(msg: dict[str, Any]) -> Status:
    """Lenient (a status is never shown; it ends executions): no state is ``unknown``."""
    c = msg.get("content")
    state = c.get("execution_state") if isinstance(c, dict) else None
    return Status(state if isinstance(state, str) else "unknown", _parent_id(msg))


def _display(msg: dict[str, Any], update: bool) -> DisplayData:
    c = _content(msg)
    return DisplayData(
        _object(c, "data", required=True), _object(c, "metadata"), _object(c, "transient"),
        update, _parent_id(msg),
    )


def decode_display_data(msg: dict[str, Any]) -> DisplayData:
    return _display(msg, False)


def decode_update_display_data(msg: dict[str, Any]) -> DisplayData:
    return _display(msg, True)


def decode_execute_result(msg: dict[str, Any]) -> ExecuteResult:
    c = _content(msg)
    return ExecuteResult(
        _count(c.get("execution_count")), _object(c, "data", required=True),
        _object(c, "metadata"), _parent_id(msg),
    )


def decode_execute_input(msg: dict[str, Any]) -> ExecuteInput:
    c = _content(msg)
    return ExecuteInput(_text(c, "code"), _count(c.get("execution_count")), _parent_id(msg))


def decode_error(msg: dict[str, Any]) -> Error:
    c = _content(msg)
    return Error(_text(c, "ename", ""), _text(c, "evalue", ""), _texts(c, "traceback"),
                 _parent_id(msg))


def decode_clear_output(msg: dict[str, Any]) -> ClearOutput:
    c = _content(msg)
    return ClearOutput(c.get("wait") is True, _parent_id(msg))


def decode_input_request(msg: dict[str, Any]) -> InputRequest:
    c = _content(msg)
    return InputRequest(_text(c, "prompt", ""), c.get("password") is True, _parent_id(msg))


def decode_execute_reply(msg: dict[str, Any]) -> ExecuteReply:
    """Lenient (a reply ends its execution, whatever it holds): what is not as it should
    be is taken as absent, a status not known as ``error``."""
    c = msg.get("content")
    if not isinstance(c, dict):
        c = {}
    status = c.get("status", "error")
    payload = c.get("payload")
    expressions = c.get("user_expressions")
    return ExecuteReply(
        cast(ReplyStatus, status if status in ("ok", "error", "aborted") else "error"),
        _count(c.get("execution_count")),
        [p for p in payload if isinstance(p, dict)] if isinstance(payload, list) else [],
        _parent_id(msg),
        expressions if isinstance(expressions, dict) else {},
    )


def decoded(decode: Callable[[dict[str, Any]], MessageEvent],
            msg: dict[str, Any]) -> MessageEvent:
    """``decode(msg)``, or the MessageDropped that says why it could not be."""
    try:
        return decode(msg)
    except MalformedMessage as exc:
        return MessageDropped(_msg_type(msg) or "kernel", str(exc), _parent_id(msg))


OUTPUT_DECODERS: dict[str, Callable[[dict[str, Any]], MessageEvent]] = {
    "stream": decode_stream,
    "display_data": decode_display_data,
    "update_display_data": decode_update_display_data,
    "execute_result": decode_execute_result,
    "execute_input": decode_execute_input,
    "error": decode_error,
    "clear_output": decode_clear_output,
}
"""iopub message types that carry output (``status`` is decoded on its own: it also ends
executions)."""

_DECODERS: dict[str, Callable[[dict[str, Any]], MessageEvent]] = {
    **OUTPUT_DECODERS,
    "status": decode_status,
    "input_request": decode_input_request,
    "execute_reply": decode_execute_reply,
}


def event_from_message(msg: dict[str, Any]) -> MessageEvent | None:
    """Decode one iopub/stdin (or execute_reply) message; ``None`` for types we do not show
    (the Jupyter protocol: a client ignores types it does not know), MessageDropped for one
    whose content is not what its type holds."""
    msg_type = _msg_type(msg)
    decode = _DECODERS.get(msg_type) if msg_type is not None else None
    return None if decode is None else decoded(decode, msg)


def _msg_type(msg: dict[str, Any]) -> str | None:
    """The message's type: as the links lift it from the header, or in the header."""
    header = msg.get("header")
    msg_type = msg.get("msg_type") or (header.get("msg_type") if isinstance(header, dict)
                                       else None)
    return msg_type if isinstance(msg_type, str) else None


KeeperEvent: TypeAlias = OutputReplayed | OutputDropped | KernelExited


def event_from_keeper(
    event: dict[str, Any], buffer_mb: float | None = None,
) -> KeeperEvent | None:
    """A keeper's ``replayed``, ``dropped`` or ``exited`` event; None for any other.
    ``buffer_mb``: the size its buffer was asked for (for the messages)."""
    kind = event.get("event")
    if kind == "replayed":
        return OutputReplayed(_whole(event.get("count")) or 0, _unix_time(event.get("t0")),
                              _unix_time(event.get("t1")), _whole(event.get("dropped")) or 0,
                              buffer_mb, event.get("reconnected") is True)
    if kind == "dropped":
        return OutputDropped(_whole(event.get("count")) or 0, buffer_mb)
    if kind == "exited":
        return KernelExited(_whole(event.get("code")), _whole(event.get("signal")),
                            str(event.get("log_tail") or ""))
    return None


def _buffer(mb: float | None) -> str:
    return "the host's output buffer" if mb is None else (
        f"the host's output buffer ({mb:g} MB, settings.output_buffer_mb)")


def _clock(unix_time: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(unix_time))


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _unix_time(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
