"""One client connection to a Jupyter kernel: a reader task per channel, typed events, heartbeat."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import zmq
import zmq.asyncio
from jupyter_client.adapter import adapt
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.session import Session

from rtui.core.errors import KernelDiedError, KernelError
from rtui.core.kernels.events import (
    ExecuteReply,
    InputRequest,
    KernelAlive,
    KernelEvent,
    Status,
    event_from_message,
)

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "CompleteResult",
    "Execution",
    "InspectResult",
    "IsCompleteResult",
    "KernelSession",
]

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 10.0
"""Seconds to wait for a shell/control reply (completion, inspection, history...)."""

_NUDGE_FIRST, _NUDGE_MAX = 0.05, 0.5
# Re-send kernel_info after 50 ms, backing off to every 0.5 s, until the kernel answers and
# iopub carries traffic: a running kernel is ready at once, a booting one is not hammered.

_NUDGE_CONTROL_AFTER = 2.0
# Seconds of silence on shell before kernel_info also goes to control (a busy kernel).

_IDLE_GRACE = 2.0
# After an execute_reply, how long iopub may stay silent before we stop waiting for the
# matching "idle" status (the kernel's PUB socket drops messages past its high-water mark).

_IOPUB_BATCH = 500
# iopub messages handled per turn of the event loop during a flood.

_RECONNECT_FIRST_MS, _RECONNECT_MAX_MS = 10, 50
# zmq's retry of a channel whose connection is refused (see KernelSession.__init__).

_IOPUB_RCVHWM = 100_000
# Queue this many iopub messages locally before the kernel's PUB starts dropping output;
# zmq's default (1000) loses output when the UI briefly lags behind a flood.

Channel = Literal["shell", "control"]
Listener = Callable[[KernelEvent], None]


@dataclass(frozen=True, slots=True)
class CompleteResult:
    """Completions for the text between ``cursor_start`` and ``cursor_end``."""

    matches: list[str]
    cursor_start: int
    cursor_end: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InspectResult:
    """Help for the object at the cursor; ``data["text/plain"]`` carries ANSI colours."""

    found: bool
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IsCompleteResult:
    """Whether Enter should run the code or open a continuation line with ``indent``."""

    status: str
    indent: str = ""


def _decode(session: Session, frames: list[bytes]) -> dict[str, Any]:
    """Session.deserialize without parsing header dates (dateutil: ~75% of its cost).

    Same checks: HMAC signature and replay history. Dates stay ISO strings; no event uses them.
    """
    _idents, found = session.feed_identities(frames)
    parts = cast(list[bytes], found)
    if len(parts) < 5:
        raise ValueError(f"malformed message: {len(parts)} parts")
    if session.auth is not None:
        signature = parts[0]
        if not signature:
            raise ValueError("unsigned message")
        if signature in session.digest_history:
            raise ValueError("duplicate signature (replayed message)")
        session._add_digest(signature)
        if not hmac.compare_digest(signature, session.sign(parts[1:5])):
            raise ValueError("invalid signature")
    unpack = session.unpack
    header: dict[str, Any] = unpack(parts[1])
    msg: dict[str, Any] = {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": unpack(parts[2]),
        "metadata": unpack(parts[3]),
        "content": unpack(parts[4]),
        "buffers": [memoryview(b) for b in parts[5:]],
    }
    if not str(header.get("version", "5")).startswith("5"):
        msg = adapt(msg)  # protocol 4 kernels (very old)
    return msg


_End = None
_QueueItem = KernelEvent | BaseException | None


class Execution:
    """One execute_request: its own events in order, ending with the ExecuteReply.

    Events are buffered until they are consumed, so iterate (or call :meth:`reply`) promptly.
    Meant for one consumer; iterating again after the end yields nothing.
    """

    def __init__(self, msg_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.msg_id = msg_id
        self._queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self._done: asyncio.Future[ExecuteReply] = loop.create_future()
        # Nobody may await a failure (fire-and-forget executions): mark it retrieved.
        self._done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._reply: ExecuteReply | None = None
        self._idle = False
        self._iterating = False
        self._discard = False
        self._grace: asyncio.TimerHandle | None = None
        self._seq = 0  # KernelSession's send order, to tell which replies were lost

    def __repr__(self) -> str:
        return f"<Execution {self.msg_id} done={self.done}>"

    @property
    def done(self) -> bool:
        """True once the reply and the idle status have both arrived (or it failed)."""
        return self._done.done()

    def __aiter__(self) -> AsyncIterator[KernelEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[KernelEvent]:
        self._iterating = True
        while True:
            item = await self._queue.get()
            if item is None or isinstance(item, BaseException):
                self._queue.put_nowait(item)  # later iterations end the same way
                if item is None:
                    return
                raise item
            yield item

    async def reply(self) -> ExecuteReply:
        """Wait for the end; if nobody iterates, stop buffering events meanwhile."""
        if not self._iterating:
            self._discard = True
            while not self._queue.empty():
                self._queue.get_nowait()
        return await asyncio.shield(self._done)

    # -- fed by KernelSession's reader tasks -------------------------------------------------

    def _feed(self, event: KernelEvent) -> None:
        if not self._discard:
            self._queue.put_nowait(event)

    def _finish_if_complete(self) -> bool:
        if self._reply is None or not self._idle or self._done.done():
            return False
        if self._grace is not None:
            self._grace.cancel()
        self._queue.put_nowait(self._reply)
        self._queue.put_nowait(_End)
        self._done.set_result(self._reply)
        return True

    def _fail(self, exc: KernelError) -> None:
        if self._done.done():
            return
        if self._grace is not None:
            self._grace.cancel()
        self._queue.put_nowait(exc)
        self._done.set_exception(exc)


class KernelSession:
    """A client of one running kernel whose ports are reachable (usually forwarded to loopback).

    Owns an :class:`AsyncKernelClient` but reads its sockets itself: one task per channel
    routes messages (replies by ``parent_header.msg_id`` to futures, output to executions and
    subscribers), so any number of requests can be in flight at once.
    """

    def __init__(
        self,
        connection_info: dict[str, Any],
        *,
        name: str = "kernel",
        heartbeat_interval: float = 1.0,
        heartbeat_misses: int = 3,
    ) -> None:
        self.name = name
        self._hb_interval = heartbeat_interval
        self._hb_misses = max(1, heartbeat_misses)
        self._client = AsyncKernelClient()
        # Every socket of this context closes at once: a context left to the garbage
        # collector (a session nobody closed) must not block in term() on unsent messages.
        self._client.context.setsockopt(zmq.LINGER, 0)
        # A channel whose forward is gone (the link dropped) retries every 10 ms at first,
        # backing off to 50 ms, not zmq's fixed 100 ms: after a reconnect the forwards come
        # back ~90 ms in, and the channels waited for the next retry (half of a reattach;
        # a cell sent meanwhile lost its output to an iopub not yet subscribed). Forcing a
        # reconnect instead (disconnect + connect) made libzmq abort the process now and
        # then when a message was still arriving.
        self._client.context.setsockopt(zmq.RECONNECT_IVL, _RECONNECT_FIRST_MS)
        self._client.context.setsockopt(zmq.RECONNECT_IVL_MAX, _RECONNECT_MAX_MS)
        self._client.load_connection_info(cast(KernelConnectionInfo, connection_info))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: tuple[Listener, ...] = ()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._executions: dict[str, Execution] = {}
        self._input_parent: dict[str, Any] | None = None
        self._iopub_waiter: asyncio.Future[None] | None = None
        self._iopub_count = 0
        self._send_seq = 0
        self._alive: bool | None = None
        self._execution_state = "unknown"
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<KernelSession {self.name} state={self._execution_state} alive={self._alive}>"

    # -- properties ---------------------------------------------------------------------------

    @property
    def alive(self) -> bool | None:
        """Heartbeat verdict: None until the first ping settles it."""
        return self._alive

    @property
    def execution_state(self) -> str:
        """The last status the kernel published (for anyone's request); "unknown" at first."""
        return self._execution_state

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, timeout: float = 30) -> dict[str, Any]:
        """Open the channels and wait until the kernel answers; returns kernel_info content.

        On failure the session is closed (nothing leaks) and KernelError says why.
        """
        if self._closed:
            raise KernelError(f"{self.name}: this kernel session is closed")
        if self._started:
            return await self.kernel_info()
        self._started = True
        self._loop = asyncio.get_running_loop()
        # hb=False: jupyter_client's HBChannel is a thread with its own loop; ours is a task.
        self._client.start_channels(hb=False)
        self._socket("iopub").setsockopt(zmq.RCVHWM, _IOPUB_RCVHWM)
        self._tasks = [
            asyncio.create_task(self._read_iopub(), name=f"{self.name}-iopub"),
            asyncio.create_task(self._read_replies("shell"), name=f"{self.name}-shell"),
            asyncio.create_task(self._read_replies("control"), name=f"{self.name}-control"),
            asyncio.create_task(self._read_stdin(), name=f"{self.name}-stdin"),
        ]
        try:
            info = await self._nudge(timeout, "start")
        except BaseException:
            await self.close()
            raise
        # Only now: a kernel still booting would otherwise be reported dead first.
        self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"{self.name}-heartbeat"))
        return info

    async def wait_ready(self, timeout: float) -> None:
        """After a restart or a reconnect: nudge with kernel_info until the kernel answers.

        Executions whose reply was lost meanwhile (sent before the kernel_info that shell
        answered, yet unanswered: shell replies come in order) then fail with KernelError
        instead of waiting forever.
        """
        self._check_open()
        await self._nudge(timeout, "restart")

    async def close(self) -> None:
        """Stop every task, fail whatever still waits, close the sockets and the zmq context."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._fail_pending(KernelError(f"{self.name}: the kernel session was closed"))
        self._listeners = ()
        if self._started:
            # Closes each socket (linger 0) and destroys the context this client created.
            self._client.stop_channels()

    # -- events -----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event: all iopub output (any client's), stdin requests,
        our execute replies and heartbeat changes. Returns an unsubscribe function.

        Listeners run inside the reader task: keep them quick (buffer, don't render).
        """
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    # -- requests -----------------------------------------------------------------------------

    def execute(
        self,
        code: str,
        *,
        silent: bool = False,
        store_history: bool = True,
        allow_stdin: bool = True,
    ) -> Execution:
        """Send an execute_request; the returned Execution streams its events."""
        loop = self._check_open()
        msg = self._client.session.msg(
            "execute_request",
            {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": {},
                "allow_stdin": allow_stdin,
                "stop_on_error": True,
            },
        )
        execution = Execution(msg["header"]["msg_id"], loop)
        self._send_seq += 1
        execution._seq = self._send_seq
        self._executions[execution.msg_id] = execution
        self._channel("shell").send(msg)
        return execution

    async def input_reply(self, value: str) -> None:
        """Answer the pending InputRequest (the kernel blocks until we do)."""
        self._check_open()
        parent = self._input_parent
        if parent is None:
            raise KernelError(f"{self.name}: the kernel is not waiting for input")
        self._input_parent = None
        msg = self._client.session.msg("input_reply", {"value": value}, parent=parent)
        self._channel("stdin").send(msg)

    async def complete(
        self, code: str, cursor_pos: int | None = None, *, timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> CompleteResult:
        """Tab completion at ``cursor_pos`` (default: end of ``code``)."""
        pos = len(code) if cursor_pos is None else cursor_pos
        c = await self._request(
            "shell", "complete_request", {"code": code, "cursor_pos": pos}, timeout, "completion"
        )
        return CompleteResult(
            [str(m) for m in c.get("matches") or []],
            int(c.get("cursor_start", pos)),
            int(c.get("cursor_end", pos)),
            dict(c.get("metadata") or {}),
        )

    async def inspect(
        self,
        code: str,
        cursor_pos: int | None = None,
        detail_level: int = 0,
        *,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> InspectResult:
        """Help for the name at ``cursor_pos``; ``detail_level=1`` asks for source too."""
        pos = len(code) if cursor_pos is None else cursor_pos
        c = await self._request(
            "shell",
            "inspect_request",
            {"code": code, "cursor_pos": pos, "detail_level": detail_level},
            timeout,
            "inspection",
        )
        return InspectResult(
            bool(c.get("found")), dict(c.get("data") or {}), dict(c.get("metadata") or {})
        )

    async def is_complete(
        self, code: str, *, timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> IsCompleteResult:
        """Ask the kernel whether ``code`` is ready to run (for Enter in a multi-line prompt)."""
        c = await self._request(
            "shell", "is_complete_request", {"code": code}, timeout, "is_complete"
        )
        return IsCompleteResult(str(c.get("status", "unknown")), str(c.get("indent") or ""))

    async def history(
        self,
        *,
        n: int = 100,
        pattern: str | None = None,
        unique: bool = True,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> list[tuple[int, int, str]]:
        """The last ``n`` inputs (fewer once de-duplicated), oldest first: (session, line, source).

        With ``pattern`` (a glob, e.g. ``"*import*"``) the kernel searches; ``unique`` drops
        repeats (kernels only honour it for searches, so tails are de-duplicated here).
        """
        content: dict[str, Any] = {"output": False, "raw": True, "n": n}
        if pattern is None:
            content["hist_access_type"] = "tail"
        else:
            content.update(hist_access_type="search", pattern=pattern, unique=unique)
        c = await self._request("shell", "history_request", content, timeout, "history")
        rows = [(int(s), int(line), str(src)) for s, line, src in c.get("history") or []]
        if unique and pattern is None:
            seen: set[str] = set()
            kept: list[tuple[int, int, str]] = []
            for row in reversed(rows):  # keep the most recent occurrence
                if row[2] not in seen:
                    seen.add(row[2])
                    kept.append(row)
            rows = kept[::-1]
        return rows

    async def kernel_info(self, *, timeout: float = DEFAULT_REQUEST_TIMEOUT) -> dict[str, Any]:
        """The kernel's kernel_info_reply content (language, versions, banner)."""
        return await self._request("shell", "kernel_info_request", {}, timeout, "kernel_info")

    async def interrupt_request(self, *, timeout: float = 5) -> None:
        """Interrupt the running code via the control channel (no signals: the kernel is remote)."""
        await self._request("control", "interrupt_request", {}, timeout, "interrupt")

    async def shutdown_request(self, *, restart: bool = False, timeout: float = 5) -> bool:
        """Ask the kernel to exit (``restart``: its manager will start it again).

        Returns whether it acknowledged; then in-flight requests fail with KernelDiedError,
        because their replies will never come.
        """
        try:
            await self._request(
                "control", "shutdown_request", {"restart": restart}, timeout, "shutdown"
            )
        except KernelError:
            return False
        what = "restarted" if restart else "shut down"
        self._fail_pending(KernelDiedError(f"{self.name}: the kernel was {what}"))
        return True

    # -- internals: requests ------------------------------------------------------------------

    def _check_open(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise KernelError(f"{self.name}: this kernel session is closed")
        if self._loop is None:
            raise KernelError(f"{self.name}: the kernel session is not started")
        return self._loop

    def _channel(self, name: str) -> AsyncZMQSocketChannel:
        return cast(AsyncZMQSocketChannel, getattr(self._client, f"{name}_channel"))

    def _socket(self, name: str) -> zmq.asyncio.Socket:
        return self._channel(name).socket

    def _no_reply_error(self, what: str, timeout: float) -> KernelError:
        if self._alive is False:
            return KernelDiedError(
                f"{self.name}: no reply to {what}: the kernel stopped answering its heartbeat"
            )
        return KernelError(f"{self.name}: the kernel did not reply to {what} within {timeout:g} s")

    async def _request(
        self,
        channel: Channel,
        msg_type: str,
        content: dict[str, Any],
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        """Send one request and wait for the reply routed back by its msg_id."""
        loop = self._check_open()
        msg = self._client.session.msg(msg_type, content)
        msg_id: str = msg["header"]["msg_id"]
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[msg_id] = future
        try:
            self._channel(channel).send(msg)
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            raise self._no_reply_error(what, timeout) from None
        finally:
            self._pending.pop(msg_id, None)
        reply_content: dict[str, Any] = reply.get("content") or {}
        if reply_content.get("status", "ok") == "error":
            ename = reply_content.get("ename", "error")
            evalue = reply_content.get("evalue", "")
            raise KernelError(f"{self.name}: {what} failed in the kernel: {ename}: {evalue}")
        return reply_content

    async def _nudge(self, timeout: float, what: str) -> dict[str, Any]:
        """Send kernel_info until the kernel replies and iopub shows traffic.

        Like jupyter_server's nudge: the iopub message proves our subscription is live (else
        the first outputs are lost). If shell stays silent (a long cell is running) the
        control channel is nudged too, which ipykernel answers even while busy; not at once,
        because ipykernel 6 drops control messages that arrive while it boots, with a
        traceback in its log.
        """
        loop = self._check_open()
        reply: asyncio.Future[dict[str, Any]] = loop.create_future()
        iopub: asyncio.Future[None] = loop.create_future()
        self._iopub_waiter = iopub
        sent: dict[str, tuple[Channel, int]] = {}
        channels: tuple[Channel, ...] = ("shell",)
        delay = _NUDGE_FIRST
        control_at = loop.time() + _NUDGE_CONTROL_AFTER
        try:
            async with asyncio.timeout(timeout):
                while not (reply.done() and iopub.done()):
                    for channel in channels:
                        msg = self._client.session.msg("kernel_info_request", {})
                        sent[msg["header"]["msg_id"]] = (channel, self._send_seq)
                        self._pending[msg["header"]["msg_id"]] = reply
                        self._channel(channel).send(msg)
                    await asyncio.wait((reply, iopub), timeout=delay)
                    delay = min(delay * 2, _NUDGE_MAX)
                    if reply.done():
                        # Keep poking (for iopub) only the channel that answered.
                        answered = reply.result()["parent_header"].get("msg_id", "")
                        channels = (sent.get(answered, ("shell", 0))[0],)
                    elif loop.time() >= control_at:
                        channels = ("shell", "control")
        except TimeoutError:
            if reply.done():
                raise KernelError(
                    f"{self.name}: the kernel answered but nothing arrived on its iopub channel "
                    f"within {timeout:g} s (is the iopub port forwarded?)"
                ) from None
            if self._alive is False:
                raise KernelDiedError(
                    f"{self.name}: the kernel does not answer its heartbeat ({what})"
                ) from None
            raise KernelError(
                f"{self.name}: the kernel did not answer within {timeout:g} s ({what}); "
                "it is not running, still booting, or its ports are unreachable"
            ) from None
        finally:
            for msg_id in sent:
                self._pending.pop(msg_id, None)
            self._iopub_waiter = None
            if not reply.done():
                reply.cancel()
        answer = reply.result()
        channel, seq = sent.get(answer["parent_header"].get("msg_id", ""), ("control", 0))
        if channel == "shell":
            self._drop_lost_executions(seq)
        content: dict[str, Any] = answer.get("content") or {}
        return content

    def _drop_lost_executions(self, seq: int) -> None:
        for execution in list(self._executions.values()):
            if execution._seq <= seq and execution._reply is None:
                execution._fail(
                    KernelError(
                        f"{self.name}: this execution's reply was lost "
                        "(the connection dropped or the kernel restarted)"
                    )
                )
                self._finished(execution)

    def _fail_pending(self, exc: KernelError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)
                future.exception()  # a nudge shares futures; avoid "never retrieved" noise
        executions, self._executions = self._executions, {}
        for execution in executions.values():
            execution._fail(exc)
        self._input_parent = None

    # -- internals: reader tasks --------------------------------------------------------------

    def _emit(self, event: KernelEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("%s: kernel event listener failed on %r", self.name, event)

    def _decode(self, frames: list[bytes]) -> dict[str, Any] | None:
        """Check and unpack one message; None (logged) if it is not a valid message."""
        try:
            return _decode(self._client.session, frames)
        except Exception:
            log.warning("%s: dropped an undecodable kernel message", self.name, exc_info=True)
            return None

    def _finished(self, execution: Execution) -> None:
        self._executions.pop(execution.msg_id, None)
        parent = self._input_parent
        if parent is not None and parent.get("msg_id") == execution.msg_id:
            self._input_parent = None  # interrupted while waiting for input

    async def _read_iopub(self) -> None:
        """Await one message, then drain what is already queued without futures, in batches.

        An awaited recv that finds data completes without yielding to the loop, so a flood
        would starve the UI; after each batch we yield explicitly.
        """
        asocket = self._socket("iopub")
        # A plain view of the same socket (it does not own it): NOBLOCK reads skip the
        # per-message Future of zmq.asyncio. Only used inside this task, which close() ends
        # before the socket is closed.
        burst: zmq.Socket[bytes] = zmq.Socket.shadow(asocket.underlying)
        on_message = self._on_iopub
        while True:
            on_message(await _next_frames(asocket, burst))
            for _ in range(_IOPUB_BATCH):
                try:
                    frames = burst.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                on_message(frames)
            else:
                await asyncio.sleep(0)

    def _on_iopub(self, frames: list[bytes]) -> None:
        msg = self._decode(frames)
        if msg is None:
            return
        self._iopub_count += 1
        waiter = self._iopub_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        event = event_from_message(msg)
        if event is None:
            return
        if isinstance(event, Status):
            self._execution_state = event.state
        if event.parent_id is not None:
            execution = self._executions.get(event.parent_id)
            if execution is not None:
                execution._feed(event)
                if isinstance(event, Status) and event.state == "idle":
                    execution._idle = True
                    if execution._finish_if_complete():
                        self._finished(execution)
        self._emit(event)

    async def _read_replies(self, channel: Channel) -> None:
        asocket = self._socket(channel)
        burst: zmq.Socket[bytes] = zmq.Socket.shadow(asocket.underlying)
        while True:
            msg = self._decode(await _next_frames(asocket, burst))
            if msg is None:
                continue
            parent_id = (msg.get("parent_header") or {}).get("msg_id")
            if msg["header"]["msg_type"] == "execute_reply":
                self._on_execute_reply(msg)
                continue
            future = self._pending.pop(parent_id, None) if parent_id else None
            if future is not None and not future.done():
                future.set_result(msg)
            else:
                log.debug("%s: unmatched %s reply", self.name, msg["header"]["msg_type"])

    def _on_execute_reply(self, msg: dict[str, Any]) -> None:
        event = event_from_message(msg)
        if not isinstance(event, ExecuteReply):
            return
        execution = self._executions.get(event.parent_id or "")
        if execution is not None and execution._reply is None:
            execution._reply = event
            if execution._finish_if_complete():
                self._finished(execution)
            else:
                self._watch_idle(execution, self._iopub_count)
        self._emit(event)

    def _watch_idle(self, execution: Execution, seen: int) -> None:
        """Finish an execution whose idle status went missing once iopub has gone quiet."""
        loop = self._loop
        if loop is None or execution.done:
            return

        def check() -> None:
            if execution.done or self._executions.get(execution.msg_id) is not execution:
                return
            if self._iopub_count != seen:
                self._watch_idle(execution, self._iopub_count)
                return
            log.warning("%s: no idle status for %s; finishing it", self.name, execution.msg_id)
            execution._idle = True
            if execution._finish_if_complete():
                self._finished(execution)

        execution._grace = loop.call_later(_IDLE_GRACE, check)

    async def _read_stdin(self) -> None:
        asocket = self._socket("stdin")
        burst: zmq.Socket[bytes] = zmq.Socket.shadow(asocket.underlying)
        while True:
            msg = self._decode(await _next_frames(asocket, burst))
            if msg is None:
                continue
            event = event_from_message(msg)
            if not isinstance(event, InputRequest):
                log.debug("%s: ignored stdin %s", self.name, msg["header"]["msg_type"])
                continue
            self._input_parent = msg["header"]
            execution = self._executions.get(event.parent_id or "")
            if execution is not None:
                execution._feed(event)
            self._emit(event)

    # -- internals: heartbeat -----------------------------------------------------------------

    def _new_hb_socket(self) -> zmq.asyncio.Socket:
        # connect_hb applies CurveZMQ keys when the connection info has them.
        return cast(zmq.asyncio.Socket, self._client.connect_hb())

    def _set_alive(self, alive: bool) -> None:
        if self._alive is not alive:
            self._alive = alive
            self._emit(KernelAlive(alive))

    async def _heartbeat(self) -> None:
        """Ping the hb port every interval; a REQ socket that missed a reply is replaced.

        REQ is lockstep: after a lost reply it can never send again, and a fresh socket is
        also what rides over a forwarded port that was re-created underneath us.
        """
        loop = asyncio.get_running_loop()
        interval = self._hb_interval
        socket = self._new_hb_socket()
        misses = 0
        try:
            while True:
                started = loop.time()
                answered = False
                try:
                    await socket.send(b"ping", zmq.NOBLOCK)
                    if await socket.poll(int(interval * 1000)):  # POLLIN
                        await socket.recv(zmq.NOBLOCK)
                        answered = True
                except zmq.ZMQError as exc:
                    log.debug("%s: heartbeat socket error: %s", self.name, exc)
                if answered:
                    misses = 0
                    self._set_alive(True)
                    await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
                    continue
                misses += 1
                socket.close(linger=0)
                socket = self._new_hb_socket()
                if misses >= self._hb_misses:
                    self._set_alive(False)
                # A send that failed at once must still pace the loop.
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        finally:
            socket.close(linger=0)


_REPOLL = 0.25  # seconds between looks at a socket whose wakeup may have been missed


async def _next_frames(asocket: zmq.asyncio.Socket, burst: zmq.Socket[bytes]) -> list[bytes]:
    """The next message on a socket, never trusting a single wakeup.

    pyzmq's asyncio layer can miss the edge-triggered wakeup of a socket when messages arrive
    while it is busy (seen over a slow SSH link: replies sat in the socket while the reader
    slept; pyzmq #2173). So read without blocking first, and wait on ``poll`` with a timeout:
    a missed wakeup then costs at most ``_REPOLL`` seconds instead of a hang. ``poll``
    consumes nothing, so no message is lost when it times out.
    """
    while True:
        try:
            return burst.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            pass
        await asocket.poll(timeout=int(_REPOLL * 1000))  # POLLIN
