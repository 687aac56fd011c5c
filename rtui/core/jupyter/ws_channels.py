"""A kernel's channels over a Jupyter Server's kernel websocket, as a KernelSession uses them.

One websocket carries shell, control, stdin and iopub; one reader task demuxes it by channel
and one writer task sends in order. Its session id is fixed for the channels' life: when the
socket drops, it is opened again with the same id, so the server replays what it buffered
meanwhile (shell replies too). A duplicate filter keeps what came twice out, and events tell
the session where the seam is, in the shape the keeper's feed uses (keeper_feed.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from jupyter_client.session import Session

from rtui.core.errors import RtuiError
from rtui.core.jupyter import wire
from rtui.core.kernels.channels import (
    Channel,
    ChannelsEventHandler,
    KernelChannels,
    MessageHandler,
)

__all__ = ["Connect", "LinkGone", "WebSocketChannels", "quickacker", "tcp_socket"]

log = logging.getLogger(__name__)

Connect = Callable[[tuple[str, ...]], Awaitable[aiohttp.ClientWebSocketResponse]]
"""Opens one kernel websocket (the session id baked into its URL) offering these
subprotocols, with ``max_msg_size=0`` (aiohttp's 4 MiB default cuts a big image off);
raises on failure (an exception with ``status`` 401/403/404, or ``error_kind``
"token"/"gone"/"tls", is final, anything else is retried)."""

BATCH = 500
"""Messages handled per turn of the event loop during a flood (as kernels/wire.BATCH)."""

RECENT_IDS = 2000
"""msg_ids remembered for the duplicate filter: the server's replay is all or nothing."""

_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0
_REPLAY_WAIT = 3.0  # bound on the marker's reply that ends a replay (a restarting kernel)
_STALL_MISSES = 3  # pings unanswered in a row (and nothing else came): the socket is dead
_FINAL_STATUS = frozenset((401, 403, 404))
_FINAL_KINDS = frozenset(("token", "gone", "tls"))  # jupyter/errors.py error_kind
_WS_DATA = (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)


class LinkGone(RtuiError):
    """The kernel's websocket is gone for good: refused, or not back within the bound."""

    default_title = "Connection lost"


def tcp_socket(ws: aiohttp.ClientWebSocketResponse) -> socket.socket | None:
    """The TCP socket under a websocket (TLS or not); None over a Unix socket (the --via
    route) or when the transport does not tell."""
    sock = ws.get_extra_info("socket")
    if sock is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return None
    return cast(socket.socket, sock)


def quickacker(ws: aiohttp.ClientWebSocketResponse) -> Callable[[], None] | None:
    """A call that makes the socket ACK at once, for after every receive; None when there is
    no TCP socket or no TCP_QUICKACK (macOS: its 40 ms delayed ACK stays).

    jupyter_server never sets TCP_NODELAY on the kernel websocket, so a reply's second small
    write waits for our delayed ACK (40 ms) under Nagle; acking at once makes 1+1 ~10 ms
    instead of ~50 (DESIGN20 §2). Linux clears the flag as it goes: set it every time.
    """
    option = getattr(socket, "TCP_QUICKACK", None)
    sock = tcp_socket(ws)
    if option is None or sock is None:
        return None
    setsockopt = sock.setsockopt

    def ack() -> None:
        with contextlib.suppress(OSError):
            setsockopt(socket.IPPROTO_TCP, option, 1)

    return ack


class _Replay:
    """What came on a reopened socket before the reply to our marker request."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.count = 0
        self.first: str | None = None  # header dates (ISO) of the first and last replayed
        self.last: str | None = None
        self.timer: asyncio.TimerHandle | None = None


class WebSocketChannels:
    """KernelChannels over one kernel websocket (DESIGN20 §1-2).

    ``connect(protocols)`` opens the socket; messages are packed with jupyter_client's
    Session without a key (v1 carries no signature: the server signs toward the kernel).
    The events (``start``'s ``on_event``, in the reader: keep it quick):
    ``{"event": "lost", "reason"}`` when the socket drops; ``{"event": "replayed", "count",
    "t0", "t1", "reconnected": True}`` once it is back and the server's replay is in;
    ``{"event": "restarted", "reason"}`` when iopub says the server restarts the kernel;
    ``{"event": "gone", "reason"}`` when it cannot come back (the server refuses, the kernel
    is dead, or ``give_up`` seconds passed). ``quickack`` False: for measuring what it saves.
    """

    def __init__(
        self, connect: Connect, *, name: str, session_id: str, quickack: bool = True,
        give_up: float = 60.0,
    ) -> None:
        self.name = name
        self.identity = session_id
        self._connect = connect
        # Only Session.msg is used (headers, ids): nothing is signed here, the server signs
        # toward the kernel. A key all the same: an empty one makes traitlets warn on stderr.
        self._session = Session(key=b"unsigned", session=session_id, username="rtui")
        self._quickack = quickack
        self._give_up = give_up
        self.decoded = 0  # messages handed on (or swallowed as ours)
        self.bad_signatures = 0  # always 0: the server checks signatures, not us
        self.undecodable = 0
        self.duplicates = 0
        self.reconnects = 0
        self.protocol: str | None = None
        """"v1" or "legacy" once a socket is open (legacy is then kept for reconnects)."""
        self.failure: LinkGone | None = None
        self._legacy = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_socket = asyncio.Event()  # set (and replaced) as each socket opens
        self._opened = asyncio.Event()
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._handlers: dict[str, MessageHandler] = {}
        self._on_event: ChannelsEventHandler | None = None
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._replay: _Replay | None = None
        self._frames = 0  # frames received (data or pong), for the ping's verdict
        self._pongs: list[asyncio.Future[None]] = []
        self._misses = 0
        self._dropped: str | None = None  # why we dropped the socket ourselves
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def __repr__(self) -> str:
        return (f"<WebSocketChannels {self.name} {self.protocol or 'unopened'} "
                f"reconnects={self.reconnects}>")

    @property
    def connected(self) -> bool:
        ws = self._ws
        return ws is not None and not ws.closed

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the first socket now, so a refused token or a missing kernel raises here
        (as ``connect`` raises it) instead of coming later as a ``gone`` event."""
        if self._ws is None:
            self._attach(await self._open_socket())

    def start(self, handlers: Mapping[Channel, MessageHandler],
              on_event: ChannelsEventHandler) -> list[asyncio.Task[None]]:
        """Read (and reconnect: the first socket too, unless ``open`` made it) in one task
        and write in another; returns both. A channel not in ``handlers`` is dropped."""
        if self._tasks:
            raise RuntimeError(f"{self.name}: the channels are started already")
        self._handlers = {str(channel): handler for channel, handler in handlers.items()}
        self._on_event = on_event
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name=f"{self.name}-ws-reader"),
                       loop.create_task(self._write(), name=f"{self.name}-ws-writer")]
        return list(self._tasks)

    async def close(self) -> None:
        """Stop both tasks and close the socket; no event after this."""
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._end_replay_timer()
        for waiter in self._pongs:
            waiter.cancel()
        self._pongs.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await ws.close()

    # -- sending ------------------------------------------------------------------------------

    def send(self, channel: Channel, msg_type: str, content: dict[str, Any],
             parent: dict[str, Any] | None = None) -> str:
        """Queue one message (sent in order, after a reconnect if the socket is down);
        returns its msg_id. LinkGone once the channels gave up."""
        if self.failure is not None:
            raise self.failure
        msg = self._session.msg(msg_type, content, parent=parent)
        self._outbox.put_nowait((channel, msg))
        msg_id: str = msg["header"]["msg_id"]
        return msg_id

    async def _write(self) -> None:
        while True:
            channel, msg = await self._outbox.get()
            while True:
                await self._opened.wait()
                ws, next_socket = self._ws, self._next_socket
                if ws is None:  # pragma: no cover (opened is cleared with it)
                    continue
                try:
                    if self._legacy:
                        await _send(ws, wire.to_legacy(channel, msg))
                    else:
                        await ws.send_bytes(wire.encode_v1(channel, msg))
                    break
                except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                    # Not written (the transport was closing): send it on the next socket.
                    log.debug("%s: a send failed (%s); it waits for the socket to be back",
                              self.name, exc)
                    await next_socket.wait()

    # -- heartbeat ----------------------------------------------------------------------------

    async def ping(self, timeout: float) -> bool:
        """For Heartbeat: a websocket PING answered (or any frame received: a flood can be
        ahead of the PONG) within ``timeout``. A socket silent for several pings in a row is
        dropped and reopened (a link that died without a FIN or RST is never noticed
        otherwise)."""
        ws = self._ws
        if ws is None or ws.closed:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(waiter)
        frames = self._frames
        try:
            await ws.ping(b"rtui")
            async with asyncio.timeout(timeout):
                await waiter
        except (TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError):
            if self._frames > frames:  # busy: a flood is still ahead of our PONG
                return True
            self._misses += 1
            if self._misses >= _STALL_MISSES and self._ws is ws:
                log.info("%s: the websocket answered no ping for %d s; opening it again",
                         self.name, round(self._misses * timeout))
                self._misses = 0
                self._dropped = f"no answer to {_STALL_MISSES} pings"
                _abort(ws)
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._pongs.remove(waiter)
        self._misses = 0
        return True

    def _pong(self) -> None:
        pongs, self._pongs = self._pongs, []
        for waiter in pongs:
            if not waiter.done():
                waiter.set_result(None)

    # -- the socket ---------------------------------------------------------------------------

    async def _open_socket(self) -> aiohttp.ClientWebSocketResponse:
        """Offer v1; a reply that names no protocol may come from a proxy that dropped the
        header while the server speaks v1 (PyPI configurable-http-proxy does): reopen
        offering nothing, which is surely legacy, and keep legacy from then on."""
        if not self._legacy:
            ws = await self._connect((wire.V1_PROTOCOL,))
            if ws.protocol == wire.V1_PROTOCOL:
                self.protocol = "v1"
                return ws
            log.info("%s: the server named no websocket protocol; using the legacy one",
                     self.name)
            with contextlib.suppress(Exception):
                await ws.close()
            self._legacy = True
        ws = await self._connect(())
        self.protocol = "legacy"
        return ws

    def _attach(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # PONGs come to our reader (autoping would swallow them); it answers PINGs itself.
        # (aiohttp has no public switch for it after the connect)
        ws._autoping = False
        self._ws = ws
        self._next_socket.set()
        self._next_socket = asyncio.Event()
        self._misses = 0
        self._opened.set()

    async def _run(self) -> None:
        try:
            if self._ws is None and not await self._reopen(first=True):
                return
            while not self._closed:
                ws = self._ws
                assert ws is not None
                reason = await self._read(ws)
                if self._closed:
                    return
                reason, self._dropped = self._dropped or reason, None
                self._opened.clear()
                self._ws = None
                with contextlib.suppress(Exception):
                    await ws.close()
                self._end_replay_timer()
                self._replay = None
                self._event({"event": "lost", "reason": reason})
                if not await self._reopen(first=False):
                    return
                self.reconnects += 1
                self._begin_replay()
        finally:
            self._opened.clear()

    async def _reopen(self, *, first: bool) -> bool:
        """Open a socket again (same session id), backing off 0.1 -> 2 s; False (after a
        ``gone`` event) when the server refuses for good or ``give_up`` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up
        delay = _RETRY_FIRST
        while not self._closed:
            try:
                self._attach(await self._open_socket())
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                what = _describe(exc)
                if _final(exc):  # rtui's typed errors are whole sentences already
                    self._gone(what if isinstance(exc, RtuiError) else
                               f"{self.name}: the server refused the kernel's websocket: {what}")
                    return False
                log.debug("%s: cannot open the kernel's websocket: %s", self.name, what)
                if loop.time() + delay > deadline:
                    verb = "open" if first else "reopen"
                    self._gone(f"{self.name}: could not {verb} the kernel's websocket within "
                               f"{self._give_up:g} s (last: {what})")
                    return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
        return False

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Hand on every message of one socket; returns why it ended."""
        receive = ws.receive
        ack = quickacker(ws) if self._quickack else None
        on_frame = self._on_frame
        handled = 0
        while True:
            try:
                frame = await receive()
            except (aiohttp.ClientError, ConnectionError) as exc:
                return _describe(exc)
            if ack is not None:
                ack()
            kind = frame.type
            if kind in _WS_DATA:
                self._frames += 1
                on_frame(frame.data)
                handled += 1
                if handled >= BATCH:
                    handled = 0
                    await asyncio.sleep(0)  # a flood: let the loop (and the UI) have a turn
            elif kind is aiohttp.WSMsgType.PONG:
                self._frames += 1
                self._pong()
            elif kind is aiohttp.WSMsgType.PING:
                with contextlib.suppress(Exception):
                    await ws.pong(frame.data)
            elif kind is aiohttp.WSMsgType.ERROR:
                return _describe(frame.data) if frame.data else "websocket error"
            else:  # CLOSE, CLOSING, CLOSED
                code = ws.close_code
                return "the server closed the websocket" + (f" (code {code})" if code else "")

    # -- what arrives ---------------------------------------------------------------------------

    def _on_frame(self, data: bytes | str) -> None:
        try:
            if isinstance(data, str) or self._legacy:
                channel, msg = wire.from_legacy(data)
            else:
                channel, msg = wire.decode_v1(data)
        except ValueError as exc:
            self.undecodable += 1
            log.log(logging.WARNING if self.undecodable == 1 else logging.DEBUG,
                    "%s: dropped an undecodable websocket message: %s", self.name, exc)
            return
        msg_id = msg["msg_id"]
        if msg_id in self._seen:
            self.duplicates += 1
            return
        self._remember(msg_id)
        self.decoded += 1
        replay = self._replay
        if replay is not None:
            if msg["parent_header"].get("msg_id") == replay.marker:
                if channel == "control":  # its reply: what came before was the replay
                    self._end_replay()
                return  # the marker's own statuses are ours, not the session's
            replay.count += 1
            date = msg["header"].get("date")
            if isinstance(date, str):
                replay.first = replay.first or date
                replay.last = date
        handler = self._handlers.get(channel)
        if handler is not None:
            try:
                handler(msg)
            except Exception:  # the reader (and its reconnects) must outlive a handler's bug
                log.exception("%s: a message handler failed on %s", self.name, msg["msg_type"])
        if channel == "iopub":
            self._lifecycle(msg)

    def _lifecycle(self, msg: dict[str, Any]) -> None:
        """What iopub says of the kernel's life: the server restarted it after it died
        (``status: restarting``, the server's own), could not (``dead``), or it was shut
        down (ipykernel publishes its ``shutdown_reply``; the server keeps the socket open)."""
        msg_type = msg["msg_type"]
        if msg_type == "status":
            state = msg["content"].get("execution_state")
            if state == "restarting":
                self._event({"event": "restarted",
                             "reason": "the kernel died and the server restarted it"})
            elif state == "dead":
                self._gone(f"{self.name}: the server could not restart the kernel (dead)")
        elif msg_type == "shutdown_reply" and msg["content"].get("restart") is False:
            self._gone(f"{self.name}: the kernel was shut down")

    def _remember(self, msg_id: str) -> None:
        self._seen.add(msg_id)
        order = self._seen_order
        order.append(msg_id)
        if len(order) > RECENT_IDS:
            self._seen.discard(order.popleft())

    # -- the seam after a reconnect -----------------------------------------------------------

    def _begin_replay(self) -> None:
        """Ask the kernel something on control: the server writes its replay before any live
        message, so everything before that reply is what it kept while we were away."""
        marker = self.send("control", "kernel_info_request", {})
        replay = self._replay = _Replay(marker)
        replay.timer = asyncio.get_running_loop().call_later(_REPLAY_WAIT, self._end_replay)

    def _end_replay(self) -> None:
        replay, self._replay = self._replay, None
        if replay is None:
            return
        if replay.timer is not None:
            replay.timer.cancel()
        self._event({"event": "replayed", "count": replay.count,
                     "t0": _unix_time(replay.first), "t1": _unix_time(replay.last),
                     "reconnected": True})

    def _end_replay_timer(self) -> None:
        if self._replay is not None and self._replay.timer is not None:
            self._replay.timer.cancel()

    def _gone(self, reason: str) -> None:
        if self.failure is None:
            self.failure = LinkGone(reason)
        self._event({"event": "gone", "reason": reason})
        ws = self._ws
        if ws is not None:
            _abort(ws)
        self._closed = True  # the reader ends with this socket; nothing is retried

    def _event(self, event: dict[str, Any]) -> None:
        if self._closed or self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("%s: a channels event handler failed on %r", self.name, event)


async def _send(ws: aiohttp.ClientWebSocketResponse, data: str | bytes) -> None:
    if isinstance(data, str):
        await ws.send_str(data)
    else:
        await ws.send_bytes(data)


def _abort(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Drop a socket at once (its reader sees it closed and the channels reopen)."""
    conn = ws._response.connection  # no public abort on aiohttp's client side
    if conn is not None and conn.transport is not None:
        conn.transport.abort()


def _final(exc: BaseException) -> bool:
    """No use trying again: refused, gone, or a certificate rtui does not trust. A reset
    only guessed to be http spoken to https (``certain`` False) is a drop: retried."""
    return (getattr(exc, "status", None) in _FINAL_STATUS
            or (getattr(exc, "error_kind", None) in _FINAL_KINDS
                and getattr(exc, "certain", True)))


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _unix_time(iso: str | None) -> float | None:
    if iso is None:
        return None
    try:
        return datetime.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


if TYPE_CHECKING:  # mypy checks that WebSocketChannels is a KernelChannels
    def _conforms(channels: WebSocketChannels) -> KernelChannels:
        return channels
