"""Typed events decoded from Jupyter kernel messages, so the UI never touches raw dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

__all__ = [
    "ClearOutput",
    "DisplayData",
    "Error",
    "ExecuteInput",
    "ExecuteReply",
    "ExecuteResult",
    "InputRequest",
    "KernelAlive",
    "KernelEvent",
    "MessageEvent",
    "Status",
    "Stream",
    "event_from_message",
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


@dataclass(frozen=True, slots=True)
class KernelAlive:
    """A heartbeat transition: the kernel stopped (or resumed) answering pings."""

    alive: bool


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
)
"""Events decoded from a kernel message (all carry ``parent_id``)."""

KernelEvent: TypeAlias = MessageEvent | KernelAlive
"""Everything a KernelSession delivers: message events and heartbeat transitions."""


def _parent_id(msg: dict[str, Any]) -> str | None:
    parent = msg.get("parent_header") or {}
    msg_id = parent.get("msg_id")
    return msg_id if isinstance(msg_id, str) and msg_id else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def event_from_message(msg: dict[str, Any]) -> MessageEvent | None:
    """Decode one iopub/stdin (or execute_reply) message; ``None`` for types we do not show.

    Kept to one dict lookup and one constructor per message: output floods go through here.
    """
    msg_type = msg["header"]["msg_type"]
    c: dict[str, Any] = msg.get("content") or {}
    pid = _parent_id(msg)
    if msg_type == "stream":
        name: StreamName = "stderr" if c.get("name") == "stderr" else "stdout"
        return Stream(name, c.get("text", ""), pid)
    if msg_type == "status":
        return Status(c.get("execution_state", "unknown"), pid)
    if msg_type in ("display_data", "update_display_data"):
        return DisplayData(
            c.get("data") or {},
            c.get("metadata") or {},
            c.get("transient") or {},
            msg_type == "update_display_data",
            pid,
        )
    if msg_type == "execute_result":
        return ExecuteResult(
            _count(c.get("execution_count")), c.get("data") or {}, c.get("metadata") or {}, pid
        )
    if msg_type == "execute_input":
        return ExecuteInput(c.get("code", ""), _count(c.get("execution_count")), pid)
    if msg_type == "error":
        return Error(c.get("ename", ""), c.get("evalue", ""), list(c.get("traceback") or []), pid)
    if msg_type == "clear_output":
        return ClearOutput(bool(c.get("wait", False)), pid)
    if msg_type == "input_request":
        return InputRequest(c.get("prompt", ""), bool(c.get("password", False)), pid)
    if msg_type == "execute_reply":
        status = c.get("status", "error")
        return ExecuteReply(
            cast(ReplyStatus, status if status in ("ok", "error", "aborted") else "error"),
            _count(c.get("execution_count")),
            list(c.get("payload") or []),
            pid,
        )
    return None
