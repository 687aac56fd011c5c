"""One execute_request and everything the kernel sends for it, ending with its reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from rtui.core.errors import KernelError
from rtui.core.kernels.events import (
    Error,
    ExecuteInput,
    ExecuteReply,
    KernelEvent,
    Listener,
    MessageEvent,
    Status,
)

__all__ = ["Execution"]

log = logging.getLogger(__name__)

_End = None
_QueueItem = KernelEvent | BaseException | None


class Execution:
    """One execute_request: its own events in order, ending with the ExecuteReply.

    Each event goes one way, chosen when the request is sent: to ``on_event`` as it arrives
    (called inside the session's reader task: keep it quick), or, without one, into a buffer
    that iterating drains. Buffered events wait until they are consumed, so iterate (or call
    :meth:`reply`) promptly; meant for one consumer, and iterating again after the end
    yields nothing.

    The session drives it through the ``on_*`` methods, :meth:`fail` and :meth:`watch`; its
    state changes there and nowhere else. It ends once both the reply and the kernel's idle
    status for it are in (or the idle status is given up on, or it fails).
    """

    __slots__ = (
        "_count", "_discard", "_done", "_errored", "_grace", "_idle", "_iterating", "_lost",
        "_msg_id", "_on_event", "_queue", "_reply", "_seen", "_seq",
    )

    def __init__(
        self, msg_id: str, seq: int, loop: asyncio.AbstractEventLoop,
        on_event: Listener | None = None,
    ) -> None:
        self._msg_id = msg_id
        self._seq = seq
        self._on_event = on_event
        self._queue: asyncio.Queue[_QueueItem] | None = None if on_event else asyncio.Queue()
        self._done: asyncio.Future[ExecuteReply] = loop.create_future()
        # Nobody may await a failure (fire-and-forget executions): mark it retrieved.
        self._done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._reply: ExecuteReply | None = None
        self._idle = False
        self._iterating = False
        self._discard = False
        self._grace: asyncio.TimerHandle | None = None
        self._seen = False  # any event of it arrived (the kernel got the request)
        self._errored = False  # an Error was among them
        self._count: int | None = None  # its execution_count, from its ExecuteInput
        self._lost = False  # its reply was lost: its output's end stands for it

    def __repr__(self) -> str:
        return f"<Execution {self._msg_id} done={self.done}>"

    @property
    def msg_id(self) -> str:
        """The request's msg_id: the parent id of every message that belongs to it."""
        return self._msg_id

    @property
    def seq(self) -> int:
        """Its place in the session's send order (to tell which replies were lost)."""
        return self._seq

    @property
    def replied(self) -> bool:
        """True once the execute_reply is in (the idle status may still be on its way), or
        known lost."""
        return self._reply is not None or self._lost

    @property
    def done(self) -> bool:
        """True once the reply and the idle status have both arrived (or it failed)."""
        return self._done.done()

    def __aiter__(self) -> AsyncIterator[KernelEvent]:
        if self._queue is None:
            raise TypeError(f"{self!r} hands its events to its on_event handler")
        return self._events(self._queue)

    async def _events(self, queue: asyncio.Queue[_QueueItem]) -> AsyncIterator[KernelEvent]:
        self._iterating = True
        while True:
            item = await queue.get()
            if item is None or isinstance(item, BaseException):
                queue.put_nowait(item)  # later iterations end the same way
                if item is None:
                    return
                raise item
            yield item

    def drain(self) -> list[KernelEvent]:
        """The events buffered for iterating and not yet taken, taken now (a consumer that
        is stopped shows what it had received)."""
        queue = self._queue
        events: list[KernelEvent] = []
        while queue is not None and not queue.empty():
            item = queue.get_nowait()
            if item is None or isinstance(item, BaseException):
                queue.put_nowait(item)
                break
            events.append(item)
        return events

    async def reply(self) -> ExecuteReply:
        """Wait for the end; if nobody iterates, stop buffering events meanwhile."""
        queue = self._queue
        if queue is not None and not self._iterating:
            self._discard = True
            while not queue.empty():
                queue.get_nowait()
        return await asyncio.shield(self._done)

    # -- driven by the session's reader tasks ------------------------------------------------

    def on_output(self, event: MessageEvent) -> None:
        """An output or an input request of this execution: pass it on."""
        self._seen = True
        if isinstance(event, Error):
            self._errored = True
        elif isinstance(event, ExecuteInput):
            self._count = event.execution_count
        handler = self._on_event
        if handler is not None:
            self._call(handler, event)
        elif not self._discard:
            assert self._queue is not None
            self._queue.put_nowait(event)

    def on_status(self, status: Status) -> bool:
        """The kernel's busy/idle for this execution; True if it ended the execution."""
        if self._done.done():
            return False
        self.on_output(status)
        if status.state != "idle":
            return False
        self._idle = True
        return self._end()

    def on_reply(self, reply: ExecuteReply) -> bool:
        """The execute_reply (kept for last); True if it ended the execution."""
        if self._reply is not None or self._done.done():
            return False
        self._reply = reply
        return self._end()

    @property
    def seen(self) -> bool:
        """True once any event of this execution arrived (the kernel got the request)."""
        return self._seen

    def reply_lost(self) -> bool:
        """Its execute_reply was lost with a dropped link while its output is not (a kernel
        keeper has it all): end, once its idle status is in, with the reply its output
        implies. True if that ended it."""
        if self._reply is not None or self._done.done():
            return False
        self._lost = True
        return self._end()

    def idle_missing(self) -> bool:
        """Give up on the idle status (the kernel's PUB socket dropped it); True if ended."""
        self._idle = True
        return self._end()

    def watch(self, timer: asyncio.TimerHandle) -> None:
        """A timer of the session's that may end this execution; cancelled when it ends."""
        if self._grace is not None:
            self._grace.cancel()
        self._grace = timer

    def fail(self, exc: KernelError) -> None:
        """End with ``exc`` (iterating raises it, so does :meth:`reply`); no-op once ended."""
        if self._done.done():
            return
        if self._grace is not None:
            self._grace.cancel()
        if self._queue is not None:
            self._queue.put_nowait(exc)
        self._done.set_exception(exc)

    # -- internals -----------------------------------------------------------------------------

    def _end(self) -> bool:
        if self._reply is None and self._lost and self._idle:
            self._reply = ExecuteReply("error" if self._errored else "ok", self._count, [],
                                       self._msg_id)
        reply = self._reply
        if reply is None or not self._idle or self._done.done():
            return False
        if self._grace is not None:
            self._grace.cancel()
        if self._on_event is not None:
            self._call(self._on_event, reply)
        else:
            assert self._queue is not None
            self._queue.put_nowait(reply)
            self._queue.put_nowait(_End)
        self._done.set_result(reply)
        return True

    def _call(self, handler: Listener, event: KernelEvent) -> None:
        try:
            handler(event)
        except Exception:  # a broken handler must not stop the session's reader
            log.exception("%s: on_event failed on %r", self._msg_id, event)
