"""One client connection to a Jupyter kernel: a reader per channel, one handler per message type.

The link (KernelChannels: zmq sockets, or a Jupyter server's websocket) decodes each message
once and hands it to the session's handler for its channel, then the one handler for its type
(``_on_<channel>_<msg_type>``); the event it becomes then goes one way: into the Execution it
belongs to, or, when no Execution of this session claims it, to the subscribers.

Iopub comes from the kernel's keeper on the host when it has one (:mod:`keeper_feed`: every
message, numbered, replayed after a dropped link), else from the link.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rtui.core.errors import KernelDiedError, KernelError, SignatureMismatchError
from rtui.core.kernels.channels import Channel, KernelChannels, MessageHandler
from rtui.core.kernels.events import (
    OUTPUT_DECODERS,
    CompleteResult,
    InputRequest,
    InspectResult,
    IsCompleteResult,
    KernelAlive,
    KernelEvent,
    KernelExited,
    LinkLost,
    Listener,
    MessageEvent,
    decode_execute_reply,
    decode_input_request,
    decode_status,
    decoded,
    event_from_keeper,
    history_rows,
)
from rtui.core.kernels.execution import Execution
from rtui.core.kernels.heartbeat import Heartbeat
from rtui.core.kernels.keeper_feed import FeedError, KeeperFeed, StreamOpener
from rtui.core.kernels.transport import ZmqChannels

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "KeeperSource", "KernelSession"]

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

_HELD_MAX = 20_000

_INPUT_CATCH_UP = 2.0
# With a keeper, iopub takes one hop more than stdin: output printed just before input()
# (the kernel flushes it before asking) may still be on its way when the question comes.
# The question is handed on once the feed has what the keeper held then (at most this long).
# Events kept for the first subscriber (the backlog a keeper replays at attach arrives
# before anyone could subscribe); beyond this the oldest are forgotten.

RequestChannel = Literal["shell", "control"]
Handler = Callable[[dict[str, Any]], None]
CommListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class KeeperSource:
    """Where a session reads iopub from: the kernel's keeper, and what to ask it for.

    ``since``: the last seq this machine's console saw (None: a new console, ``tail`` last
    messages); ``opener`` opens a stream to the keeper's socket (see keeper_feed).
    """

    opener: StreamOpener
    since: int | None = None
    tail: int = 200
    buffer_mb: float | None = None  # the keeper's buffer size, for the messages


class KernelSession:
    """A client of one running kernel, over any KernelChannels (usually zmq ports forwarded
    to loopback: ``over_zmq``).

    The link reads each channel in its own task: replies go by ``parent_header.msg_id`` to
    the request that waits for them, output to the Execution it belongs to, so any number of
    requests can be in flight at once.
    """

    def __init__(
        self,
        channels: KernelChannels,
        *,
        name: str = "kernel",
        heartbeat_interval: float = 1.0,
        heartbeat_misses: int = 3,
        keeper: KeeperSource | None = None,
    ) -> None:
        self.name = name
        self._channels = channels
        self._feed: KeeperFeed | None = None
        self._buffer_mb = keeper.buffer_mb if keeper is not None else None
        if keeper is not None:
            if not isinstance(channels, ZmqChannels):
                raise TypeError("a keeper keeps the output of a kernel reached over zmq")
            # The keeper holds our identity on the kernel's stdin (a question asked once we
            # are gone waits there for the next client): questions come through it. Its
            # messages are the kernel's own frames, checked with our key as the sockets' are.
            self._feed = KeeperFeed(
                keeper.opener, channels.frames_handler(self._on_iopub), self._on_keeper_event,
                since=keeper.since, tail=keeper.tail, name=name, stdin=channels.identity)
        self.exited: KernelExited | None = None
        """Set when the keeper (or the link) said the kernel process ended (cleared by a
        restart)."""
        self._held: deque[KernelEvent] | None = deque(maxlen=_HELD_MAX)
        self._heartbeat = Heartbeat(
            channels.ping, self._on_alive, interval=heartbeat_interval,
            misses=heartbeat_misses,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: tuple[Listener, ...] = ()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._executions: dict[str, Execution] = {}
        self._input_parent: dict[str, Any] | None = None  # a question on our own stdin
        self._asked: str | None = None  # the msg_id of a question the keeper passed on
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._iopub_waiter: asyncio.Future[None] | None = None
        self._iopub_count = 0
        self._send_seq = 0
        # Shell kernel_infos of a nudge answered elsewhere first (control), by msg_id: the
        # send order behind them, so their late replies can tell which replies were lost.
        self._late_shell: dict[str, int] = {}
        self._execution_state = "unknown"
        self._started = False
        self._closed = False
        # One handler per channel and message type; a type missing here is not shown.
        self._iopub_handlers: dict[str, Handler] = {
            msg_type: self._output_handler(decode) for msg_type, decode in OUTPUT_DECODERS.items()
        }
        self._iopub_handlers["status"] = self._on_iopub_status
        for comm_type in ("comm_open", "comm_msg", "comm_close"):
            self._iopub_handlers[comm_type] = self._on_iopub_comm
        self._comm_listeners: tuple[CommListener, ...] = ()
        self._reply_handlers: dict[str, Handler] = {"execute_reply": self._on_shell_execute_reply}
        self._stdin_handlers: dict[str, Handler] = {"input_request": self._on_stdin_input_request}

    @classmethod
    def over_zmq(
        cls, connection_info: dict[str, Any], *, name: str = "kernel", **kwargs: Any,
    ) -> KernelSession:
        """A session on a kernel's zmq ports (``connection_info`` as in its connection
        file, the ports where this machine reaches them); ``kwargs`` as the constructor's."""
        return cls(ZmqChannels(connection_info, name=name), name=name, **kwargs)

    def __repr__(self) -> str:
        return f"<KernelSession {self.name} state={self._execution_state} alive={self.alive}>"

    # -- properties ---------------------------------------------------------------------------

    @property
    def alive(self) -> bool | None:
        """Heartbeat verdict: None until the first ping settles it."""
        return self._heartbeat.alive

    @property
    def last_seq(self) -> int | None:
        """The keeper's number of the last iopub message handed on (None: no keeper, or
        nothing yet)."""
        return None if self._feed is None else self._feed.last_seq

    @property
    def execution_state(self) -> str:
        """The last status the kernel published (for anyone's request); "unknown" at first."""
        return self._execution_state

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(
        self, *, timeout: float = 30, then: Callable[[], None] | None = None,
        booting: bool = False,
    ) -> dict[str, Any]:
        """Open the channels and wait until the kernel answers; returns kernel_info content.

        ``then`` is called right after the first kernel_info is sent: a request it sends
        (an execution) travels right behind it rather than a round trip after its reply.
        ``booting``: the kernel is being started now, so control is never nudged (ipykernel
        drops, with a traceback in its log, a control message that comes while it boots).
        On failure the session is closed (nothing leaks) and KernelError says why.
        """
        if self._closed:
            raise KernelError(f"{self.name}: this kernel session is closed")
        if self._started:
            return await self.kernel_info()
        self._started = True
        self._loop = asyncio.get_running_loop()
        feed = self._feed
        # Dispatch in one place: the handler of each channel the link reads (iopub and
        # stdin come through the keeper when there is one).
        handlers: dict[Channel, MessageHandler] = {
            "shell": self._on_reply,
            "control": self._on_reply,
        }
        if feed is None:
            handlers["iopub"] = self._on_iopub
            handlers["stdin"] = self._on_stdin
        self._tasks = self._channels.start(handlers, self._on_channels_event)
        if feed is not None:
            self._tasks.append(feed.start())
            feed.headed().add_done_callback(self._on_headed)
        try:
            info = await self._nudge(timeout, "start", then, control=not booting)
            if self.exited is not None:  # the keeper says the kernel is gone: say so now
                raise self._died_error(self.exited)
        except BaseException:
            await self.close()
            raise
        # Only now: a kernel still booting would otherwise be reported dead first.
        self._tasks.append(
            asyncio.create_task(self._heartbeat.run(), name=f"{self.name}-heartbeat"))
        return info

    async def wait_ready(self, timeout: float) -> None:
        """After a restart or a reconnect: nudge with kernel_info until the kernel answers.

        Executions whose reply was lost meanwhile (sent before the kernel_info that shell
        answered, yet unanswered: shell replies come in order) then fail with KernelError
        instead of waiting forever.
        """
        self._check_open()
        await self._nudge(timeout, "restart")

    async def wait_stdin_held(self, timeout: float) -> None:
        """Until a question asked by a cell sent now reaches us: with a keeper, once its
        first follow header came (it holds our identity on the kernel's stdin by then); at
        once without one. For code sent while the session starts, not through ``then``."""
        self._check_open()
        if self._feed is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._feed.headed())
        except TimeoutError:
            raise KernelError(f"{self.name}: the kernel's output keeper did not answer "
                              f"within {timeout:g} s") from None
        except FeedError as exc:
            raise KernelError(f"{self.name}: {exc}") from exc

    async def stop_output(self) -> None:
        """Stop reading the keeper's stream: nothing more is handed on (``last_seq`` is then
        final), so a consumer that stops can show all it was handed and remember that."""
        if self._feed is not None:
            await self._feed.close()

    async def close(self) -> None:
        """Stop every task, fail whatever still waits, close the sockets and the zmq context."""
        if self._closed:
            return
        self._closed = True
        if self._feed is not None:
            await self._feed.close()
        tasks = [*self._tasks, *self._side_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._fail_pending(KernelError(f"{self.name}: the kernel session was closed"))
        self._listeners = ()
        await self._channels.close()

    # -- events -----------------------------------------------------------------------------

    def subscribe(self, listener: Listener, *, held: bool = True) -> Callable[[], None]:
        """Call ``listener`` for every event that no Execution of this session takes: other
        clients' output and statuses, heartbeat changes. Returns an unsubscribe function.

        An event goes one way only: what belongs to an Execution of ours goes to it alone.
        Listeners run inside the reader task: keep them quick (buffer, don't render).
        ``held``: the first such listener (one that shows output) also gets, at once, what
        came before anyone took it (the backlog a keeper replays at attach); a watcher that
        only looks for some events passes False and leaves them for it.
        """
        self._listeners = (*self._listeners, listener)
        if held:
            events, self._held = self._held, None
            for event in events or ():
                self._call(listener, event)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def watch_comms(self, listener: CommListener) -> Callable[[], None]:
        """Call ``listener`` with every comm message the kernel publishes (comm_open,
        comm_msg, comm_close: whole messages, whoever's request they answer); they are
        nobody's output. Returns an unsubscribe function."""
        self._comm_listeners = (*self._comm_listeners, listener)

        def unsubscribe() -> None:
            self._comm_listeners = tuple(x for x in self._comm_listeners if x is not listener)

        return unsubscribe

    def send_comm(self, msg_type: Literal["comm_open", "comm_msg", "comm_close"],
                  content: dict[str, Any]) -> str:
        """Send a comm message on shell; the kernel answers, if at all, on iopub (see
        :meth:`watch_comms`). Returns its msg_id."""
        self._check_open()
        return self._channels.send("shell", msg_type, content)

    # -- requests -----------------------------------------------------------------------------

    def execute(
        self,
        code: str,
        *,
        silent: bool = False,
        store_history: bool = True,
        allow_stdin: bool = True,
        on_event: Listener | None = None,
        user_expressions: dict[str, str] | None = None,
    ) -> Execution:
        """Send an execute_request; the returned Execution takes every event that belongs
        to it: handed to ``on_event`` as they arrive, or, without one, buffered for iterating.
        ``user_expressions`` are evaluated after the code (their values in the reply).
        """
        loop = self._check_open()
        exited = self.exited
        if exited is not None:  # the kernel is gone: say so now rather than wait for ever
            execution = Execution(f"dead-{self._send_seq}", self._send_seq, loop, on_event)
            execution.fail(self._died_error(exited))
            return execution
        msg_id = self._channels.send("shell", "execute_request", {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": user_expressions or {},
            "allow_stdin": allow_stdin,
            "stop_on_error": True,
        })
        self._send_seq += 1
        execution = Execution(msg_id, self._send_seq, loop, on_event)
        self._executions[msg_id] = execution
        return execution

    async def input_reply(self, value: str) -> None:
        """Answer the pending InputRequest (the kernel blocks until we do)."""
        self._check_open()
        asked = self._asked
        if asked is not None and self._feed is not None:  # through the keeper that asked
            self._asked = None
            try:
                answer = await self._feed.ask("input_reply", msg_id=asked, value=value)
            except (OSError, FeedError, TimeoutError) as exc:
                raise KernelError(f"{self.name}: cannot pass the answer to the kernel's "
                                  f"keeper: {exc}") from exc
            if not answer.get("ok"):
                raise KernelError(f"{self.name}: the answer was not taken: "
                                  f"{answer.get('error') or 'no reason given'}")
            return
        parent = self._input_parent
        if parent is None:
            raise KernelError(f"{self.name}: the kernel is not waiting for input")
        self._input_parent = None
        self._channels.send("stdin", "input_reply", {"value": value}, parent=parent)

    async def complete(
        self, code: str, cursor_pos: int | None = None, *, timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> CompleteResult:
        """Tab completion at ``cursor_pos`` (default: end of ``code``)."""
        pos = len(code) if cursor_pos is None else cursor_pos
        c = await self._request(
            "shell", "complete_request", {"code": code, "cursor_pos": pos}, timeout, "completion"
        )
        return CompleteResult.from_content(c, pos)

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
        return InspectResult.from_content(c)

    async def is_complete(
        self, code: str, *, timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> IsCompleteResult:
        """Ask the kernel whether ``code`` is ready to run (for Enter in a multi-line prompt)."""
        c = await self._request(
            "shell", "is_complete_request", {"code": code}, timeout, "is_complete"
        )
        return IsCompleteResult.from_content(c)

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
        return history_rows(c, dedupe=unique and pattern is None)

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

    def _no_reply_error(self, what: str, timeout: float) -> KernelError:
        if self.alive is False:
            return KernelDiedError(
                f"{self.name}: no reply to {what}: the kernel stopped answering its heartbeat"
            )
        return KernelError(f"{self.name}: the kernel did not reply to {what} within {timeout:g} s")

    async def _request(
        self,
        channel: RequestChannel,
        msg_type: str,
        content: dict[str, Any],
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        """Send one request and wait for the reply routed back by its msg_id."""
        loop = self._check_open()
        msg_id = self._channels.send(channel, msg_type, content)
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[msg_id] = future
        try:
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
    async def _nudge(self, timeout: float, what: str, then: Callable[[], None] | None = None,
                     *, control: bool = True) -> dict[str, Any]:
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
        # Code sent at the start waits for the keeper's header: it holds our identity on
        # stdin by then, so an input() right away is not asked of nobody.
        headed = self._feed.headed() if self._feed is not None and then is not None else None
        self._iopub_waiter = iopub
        if self._feed is not None and self._feed.live:
            iopub.set_result(None)  # the keeper's stream is live: nothing can be missed
        sent: dict[str, tuple[RequestChannel, int]] = {}
        channels: tuple[RequestChannel, ...] = ("shell",)
        delay = _NUDGE_FIRST
        control_at = loop.time() + (_NUDGE_CONTROL_AFTER if control else timeout + 1)
        try:
            async with asyncio.timeout(timeout):
                while not (reply.done() and iopub.done()):
                    for channel in channels:
                        msg_id = self._channels.send(channel, "kernel_info_request", {})
                        sent[msg_id] = (channel, self._send_seq)
                        self._pending[msg_id] = reply
                    if then is not None and (headed is None or headed.done()):
                        first, then = then, None
                        first()
                    await asyncio.wait((reply, iopub) if then is None or headed is None
                                       else (reply, iopub, headed), timeout=delay)
                    if then is not None and headed is not None and headed.done():
                        first, then = then, None
                        first()
                    self._check_key()
                    delay = min(delay * 2, _NUDGE_MAX)
                    if reply.done():
                        # Keep poking (for iopub) only the channel that answered.
                        answered = reply.result()["parent_header"].get("msg_id", "")
                        channels = (sent.get(answered, ("shell", 0))[0],)
                    elif loop.time() >= control_at:
                        channels = ("shell", "control")
        except TimeoutError:
            if self.exited is not None:
                raise self._died_error(self.exited) from None
            if reply.done() and self._feed is not None:
                raise KernelError(
                    f"{self.name}: the kernel answered but its output keeper did not "
                    f"within {timeout:g} s"
                ) from None
            if reply.done():
                raise KernelError(
                    f"{self.name}: the kernel answered but nothing arrived on its iopub channel "
                    f"within {timeout:g} s (is the iopub port forwarded?)"
                ) from None
            if self.alive is False:
                raise KernelDiedError(
                    f"{self.name}: the kernel does not answer its heartbeat ({what})"
                ) from None
            raise KernelError(
                f"{self.name}: the kernel did not answer within {timeout:g} s ({what}); "
                "it is not running, still booting, or its ports are unreachable"
            ) from None
        finally:
            answered = reply.result()["parent_header"].get("msg_id") if reply.done() and \
                not reply.cancelled() else None
            for msg_id, (channel, seq) in sent.items():
                self._pending.pop(msg_id, None)
                if channel == "shell" and msg_id != answered and len(self._late_shell) < 64:
                    self._late_shell[msg_id] = seq
            self._iopub_waiter = None
            if not reply.done():
                reply.cancel()
        answer = reply.result()
        channel, seq = sent.get(answer["parent_header"].get("msg_id", ""), ("control", 0))
        if channel == "shell":
            self._drop_lost_executions(seq)
        content: dict[str, Any] = answer.get("content") or {}
        return content

    def _check_key(self) -> None:
        """Messages from the kernel that fail the HMAC while none passes: our key is not
        the kernel's (the kernel drops our requests unanswered, so waiting cannot help)."""
        channels = self._channels
        if channels.bad_signatures and not channels.decoded:
            raise SignatureMismatchError(
                f"{self.name}: signature mismatch: the kernel's messages fail the check with "
                "our key")

    def _drop_lost_executions(self, seq: int) -> None:
        for execution in list(self._executions.values()):
            if execution.seq > seq or execution.replied:
                continue
            if self._feed is not None and execution.seen:
                # Its output (idle status included) is kept by the keeper and comes: end it
                # on that, with the reply its output implies.
                if execution.reply_lost():
                    self._finished(execution)
                else:
                    self._watch_idle(execution, self._iopub_count)
                continue
            execution.fail(
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
        self._fail_executions(exc)

    def _fail_executions(self, exc: KernelError) -> None:
        executions, self._executions = self._executions, {}
        for execution in executions.values():
            execution.fail(exc)
        self._input_parent = self._asked = None

    def _finished(self, execution: Execution) -> None:
        self._executions.pop(execution.msg_id, None)
        parent = self._input_parent
        if parent is not None and parent.get("msg_id") == execution.msg_id:
            self._input_parent = None  # interrupted while waiting for input

    # -- internals: one reader per channel, one handler per message type -----------------------

    def _emit(self, event: KernelEvent) -> None:
        """An event no Execution of ours takes: to the subscribers (and held for the first
        one that takes what was held, until there is one)."""
        held = self._held
        if held is not None:
            held.append(event)
        for listener in self._listeners:
            self._call(listener, event)

    def _call(self, listener: Listener, event: KernelEvent) -> None:
        try:
            listener(event)
        except Exception:
            log.exception("%s: kernel event listener failed on %r", self.name, event)

    def _on_iopub(self, msg: dict[str, Any]) -> None:
        self._iopub_count += 1
        waiter = self._iopub_waiter
        if waiter is not None and not waiter.done() and (self._feed is None or self._feed.live):
            waiter.set_result(None)
        handler = self._iopub_handlers.get(msg["msg_type"])
        if handler is not None:
            handler(msg)

    def _output_handler(self, decode: Callable[[dict[str, Any]], MessageEvent]) -> Handler:
        """The iopub handler of one output type: decode, then to its Execution or else out."""
        def on_iopub_output(msg: dict[str, Any]) -> None:
            event = decoded(decode, msg)  # or what says it was malformed (MessageDropped)
            execution = self._executions.get(event.parent_id or "")
            if execution is not None:
                execution.on_output(event)
            else:
                self._emit(event)

        return on_iopub_output

    def _on_iopub_status(self, msg: dict[str, Any]) -> None:
        status = decode_status(msg)
        self._execution_state = status.state
        execution = self._executions.get(status.parent_id or "")
        if execution is None:
            self._emit(status)
        elif execution.on_status(status):
            self._finished(execution)

    def _on_iopub_comm(self, msg: dict[str, Any]) -> None:
        for listener in self._comm_listeners:
            try:
                listener(msg)
            except Exception:
                log.exception("%s: comm listener failed on %s", self.name, msg["msg_type"])

    def _on_reply(self, msg: dict[str, Any]) -> None:
        """shell and control: an execute_reply ends an Execution, any other reply a request."""
        self._reply_handlers.get(msg["msg_type"], self._on_request_reply)(msg)

    def _on_shell_execute_reply(self, msg: dict[str, Any]) -> None:
        reply = decode_execute_reply(msg)
        execution = self._executions.get(reply.parent_id or "")
        if execution is None or execution.replied:
            self._emit(reply)  # not (or no longer) one of ours
        elif execution.on_reply(reply):
            self._finished(execution)
        else:
            self._watch_idle(execution, self._iopub_count)

    def _on_request_reply(self, msg: dict[str, Any]) -> None:
        parent_id = msg["parent_header"].get("msg_id")
        if not isinstance(parent_id, str):
            parent_id = None
        future = self._pending.pop(parent_id, None) if parent_id else None
        if future is not None and not future.done():
            future.set_result(msg)
            return
        late = self._late_shell.pop(parent_id, None) if parent_id else None
        if late is not None and self._feed is not None:
            self._replies_passed(late)
        else:
            log.debug("%s: unmatched %s reply", self.name, msg["msg_type"])

    def _replies_passed(self, seq: int) -> None:
        """Shell answered a request sent behind executions ``seq`` and before (a nudge's,
        once the cell that kept shell busy ended): shell replies come in order, so theirs
        that are not in were lost with a dropped link. Their output is kept by the keeper
        (idle status included) and ends them when it comes."""
        for execution in list(self._executions.values()):
            if execution.seq <= seq and not execution.replied and execution.reply_lost():
                self._finished(execution)

    def _watch_idle(self, execution: Execution, seen: int) -> None:
        """Finish an execution whose idle status went missing once iopub has gone quiet."""
        loop = self._loop
        if loop is None or execution.done:
            return

        def check() -> None:
            if execution.done or self._executions.get(execution.msg_id) is not execution:
                return
            if self._iopub_count != seen or (self._feed is not None and not self._feed.live):
                # Output still comes, or the keeper's stream is being followed again (it
                # will bring the idle status: a keeper drops nothing).
                self._watch_idle(execution, self._iopub_count)
                return
            log.warning("%s: no idle status for %s; finishing it", self.name, execution.msg_id)
            if execution.idle_missing():
                self._finished(execution)

        execution.watch(loop.call_later(_IDLE_GRACE, check))

    def _on_stdin(self, msg: dict[str, Any]) -> None:
        handler = self._stdin_handlers.get(msg["msg_type"])
        if handler is None:
            log.debug("%s: ignored stdin %s", self.name, msg["msg_type"])
        else:
            handler(msg)

    def _on_stdin_input_request(self, msg: dict[str, Any]) -> None:
        request = decoded(decode_input_request, msg)
        if not isinstance(request, InputRequest):  # malformed: said, never answered
            self._hand_on_question(request)
            return
        self._input_parent = msg["header"]
        feed = self._feed
        if feed is None:
            self._hand_on_input_request(msg)
            return

        async def after_output() -> None:
            await feed.caught_up(_INPUT_CATCH_UP)
            if not self._closed and self._input_parent is msg["header"]:
                self._hand_on_input_request(msg)  # else answered, interrupted or closed

        task = asyncio.get_running_loop().create_task(after_output())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _hand_on_input_request(self, msg: dict[str, Any]) -> None:
        self._hand_on_question(decoded(decode_input_request, msg))

    def _hand_on_question(self, question: MessageEvent) -> None:
        """An InputRequest (or the MessageDropped of a malformed one) to its cell, or out."""
        execution = self._executions.get(question.parent_id or "")
        if execution is not None:
            execution.on_output(question)
        else:
            self._emit(question)

    def _on_headed(self, headed: asyncio.Future[Any]) -> None:
        """The keeper does not hold our stdin identity (an older keeper): connect stdin
        ourselves, as without a keeper."""
        if (self._closed or headed.cancelled() or headed.exception() is not None
                or headed.result().stdin):
            return
        log.info("%s: the keeper does not hold stdin; connecting it directly", self.name)
        channels = self._channels
        assert isinstance(channels, ZmqChannels)  # a keeper means zmq (see __init__)
        self._tasks.append(channels.open_stdin(self._on_stdin))

    def _on_kept_question(self, event: dict[str, Any]) -> None:
        """The keeper passed on a question: our cell's, or one asked while nobody was
        attached (asked of whoever attaches)."""
        msg_id = event.get("msg_id")
        if not isinstance(msg_id, str) or msg_id == self._asked:
            return  # passed on again after the stream was followed again: once is enough
        self._asked = msg_id
        parent = event.get("parent_id")
        self._hand_on_question(InputRequest(str(event.get("prompt") or ""),
                                            event.get("password") is True,
                                            parent if isinstance(parent, str) else None))

    def _on_alive(self, alive: bool) -> None:
        self._emit(KernelAlive(alive))

    # -- the keeper's and the link's events -----------------------------------------------------

    def _on_keeper_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "input_request":
            self._on_kept_question(event)
        elif kind == "input_cleared":
            if event.get("msg_id") == self._asked:
                self._asked = None  # answered elsewhere, or its cell ended
        elif kind == "lost":  # the keeper's stream: the SSH connection tells its own drops
            log.info("%s: the output stream dropped (%s); following again", self.name,
                     event.get("reason"))
        else:
            self._on_channels_event(event)

    def _on_channels_event(self, event: dict[str, Any]) -> None:
        """What the keeper or the link says (channels.py: ChannelsEventHandler): a replay
        after a reconnect becomes the console's seam (OutputReplayed), a restart fails the
        running cells, a kernel gone fails everything."""
        kind = event.get("event")
        if kind == "replayed":
            waiter = self._iopub_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == "restarted":
            self.exited = None
            reason = event.get("reason")
            log.info("%s: the kernel was started again", self.name)
            # What ran before will never end now (nor say so): fail it.
            self._fail_executions(KernelDiedError(
                f"{self.name}: the kernel was restarted{f' ({reason})' if reason else ''}"))
            return
        elif kind == "gone":
            if self.exited is None:
                self._kernel_exited(KernelExited(None, None, ""), why=str(event.get("reason")))
            return
        elif kind == "lost":
            reason = str(event.get("reason") or "the link dropped")
            log.info("%s: the link dropped (%s); reconnecting", self.name, reason)
            self._emit(LinkLost(reason))
            return
        typed = event_from_keeper(event, self._buffer_mb)
        if isinstance(typed, KernelExited):
            if typed != self.exited:  # said again after a reconnect: once is enough
                self._kernel_exited(typed)
        elif typed is not None:
            self._emit(typed)

    def _kernel_exited(self, exited: KernelExited, *, why: str = "") -> None:
        """The kernel process is gone: fail what waits for it, tell the subscribers."""
        self.exited = exited
        self._execution_state = "dead"
        self._fail_pending(self._died_error(exited, why))
        self._emit(exited)

    def _died_error(self, exited: KernelExited, why: str = "") -> KernelDiedError:
        message = f"{self.name}: the kernel {exited.describe()}"
        if why:
            message += f" ({why})"
        tail = exited.log_tail.rstrip()
        if tail:
            message += "; the end of its log:\n" + "\n".join(
                f"  {line}" for line in tail.splitlines())
        return KernelDiedError(message, title="Kernel died")

