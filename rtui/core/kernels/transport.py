"""A kernel's five sockets, set up for forwarded ports: open, send, read, close.

``ZmqChannels`` is the KernelChannels of a kernel reached over zmq (its ports forwarded over
SSH, or local): it reads each socket itself (``wire.pump``) and hands the session decoded
messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.connect import KernelConnectionInfo

from rtui.core.kernels import wire
from rtui.core.kernels.channels import Channel, ChannelsEventHandler, MessageHandler

__all__ = ["Channel", "KernelTransport", "ZmqChannels"]

log = logging.getLogger(__name__)

_NOT_IOPUB: tuple[Channel, ...] = ("shell", "stdin", "control")

_RECONNECT_FIRST_MS, _RECONNECT_MAX_MS = 10, 50
# zmq's retry of a channel whose connection is refused (see ZmqChannels.__init__).

_IOPUB_RCVHWM = 100_000
# Queue this many iopub messages locally before the kernel's PUB starts dropping output;
# zmq's default (1000) loses output when the UI briefly lags behind a flood.


class ZmqChannels:
    """jupyter_client's sockets and message signing, without its channel threads or readers:
    one ``wire.pump`` task per socket decodes and hands each message to the session's
    handler for its channel, which decides what it means."""

    def __init__(self, connection_info: dict[str, Any], *, name: str = "kernel") -> None:
        self.name = name
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
        self._opened = False
        self._hb: zmq.asyncio.Socket | None = None  # the heartbeat's REQ socket (see ping)
        self.decoded = 0  # messages that passed the signature check
        self.bad_signatures = 0  # well-formed messages signed with another key
        self.undecodable = 0  # anything else dropped

    @property
    def closed(self) -> bool:
        """True once the sockets and their zmq context are closed."""
        return bool(self._client.context.closed)

    @property
    def identity(self) -> str:
        """The routing identity of our shell (and stdin) socket: the session id."""
        return str(self._client.session.session)

    def open(self, *, iopub: bool = True, stdin: bool = True) -> None:
        """Connect the shell, control and (unless its keeper serves them) stdin and iopub
        sockets; the heartbeat has its own."""
        self._opened = True
        # hb=False: jupyter_client's HBChannel is a thread with its own loop; ours is a task.
        self._client.start_channels(hb=False, iopub=iopub, stdin=stdin)
        if iopub:
            self.socket("iopub").setsockopt(zmq.RCVHWM, _IOPUB_RCVHWM)

    def start(self, handlers: Mapping[Channel, MessageHandler],
              on_event: ChannelsEventHandler) -> list[asyncio.Task[None]]:
        """Open the sockets ``handlers`` names (shell and control always; iopub and stdin
        unless a keeper serves them) and read each in its own task. zmq tells no events:
        its sockets reconnect on their own, and a keeper tells what it replayed."""
        self.open(iopub="iopub" in handlers, stdin="stdin" in handlers)
        return [self._reader(channel, handler) for channel, handler in handlers.items()]

    def open_stdin(self, handler: MessageHandler) -> asyncio.Task[None]:
        """Connect stdin now and read it (its keeper turned out not to hold it for us)."""
        self._client.stdin_channel.start()
        return self._reader("stdin", handler)

    def _reader(self, channel: Channel, handler: MessageHandler) -> asyncio.Task[None]:
        return asyncio.create_task(wire.pump(self.socket(channel), self.frames_handler(handler)),
                                   name=f"{self.name}-{channel}")

    def frames_handler(self, handler: MessageHandler) -> Callable[[list[bytes]], None]:
        """``handler`` for raw frames read elsewhere (a keeper's stream): checked and
        decoded here first, as the sockets' own messages are."""
        decode = self.decode

        def on_frames(frames: list[bytes]) -> None:
            msg = decode(frames)
            if msg is None:
                return
            try:
                handler(msg)
            except Exception:  # the reader (the socket's pump) must outlive a handler's bug
                log.exception("%s: a message handler failed on %s", self.name, msg["msg_type"])

        return on_frames

    async def ping(self, timeout: float) -> bool:
        """One heartbeat ping on a REQ socket; whether the kernel answered within ``timeout``.

        REQ is lockstep: after a lost reply it can never send again, so a socket that
        missed is replaced at once (a fresh one also rides over a forwarded port that was
        re-created underneath us)."""
        socket = self._hb
        if socket is None:
            socket = self._hb = self.connect_hb()
        try:
            await socket.send(b"ping", zmq.NOBLOCK)
            if await socket.poll(int(timeout * 1000)):  # POLLIN
                await socket.recv(zmq.NOBLOCK)
                return True
        except zmq.ZMQError as exc:
            log.debug("%s: heartbeat socket error: %s", self.name, exc)
        socket.close(linger=0)
        self._hb = self.connect_hb()
        return False

    async def close(self) -> None:
        """Close each socket (linger 0) and the context; readers must be stopped first."""
        hb, self._hb = self._hb, None
        if hb is not None:
            hb.close(linger=0)
        if not self._opened:
            return
        # Not stop_channels(): it would make (and connect) a socket not opened just to stop it.
        for name in (*_NOT_IOPUB, "iopub"):
            channel = getattr(self._client, f"_{name}_channel", None)
            if channel is not None and channel.is_alive():
                channel.stop()
        if not self._client.context.closed:
            self._client.context.destroy(linger=100)

    def socket(self, channel: Channel) -> zmq.asyncio.Socket:
        return self._channel(channel).socket

    def connect_hb(self) -> zmq.asyncio.Socket:
        """A new REQ socket to the heartbeat port (CurveZMQ keys applied when there are)."""
        return cast(zmq.asyncio.Socket, self._client.connect_hb())

    def send(
        self, channel: Channel, msg_type: str, content: dict[str, Any],
        parent: dict[str, Any] | None = None,
    ) -> str:
        """Sign and send one message; returns its msg_id (the parent id of its answers)."""
        msg = self._client.session.msg(msg_type, content, parent=parent)
        self._channel(channel).send(msg)
        msg_id: str = msg["header"]["msg_id"]
        return msg_id

    def decode(self, frames: list[bytes]) -> dict[str, Any] | None:
        """Check and unpack one message; None if it is not a valid message.

        Counted, and logged once per kind without a traceback: a client with the wrong key
        sees every message of a busy kernel fail, and one line says all there is to say."""
        try:
            msg = wire.decode(self._client.session, frames)
        except wire.InvalidSignature:
            self.bad_signatures += 1
            if self.bad_signatures == 1:
                log.warning("%s: a kernel message failed the signature check (its key is not "
                            "ours); such messages are dropped", self.name)
            return None
        except Exception as exc:
            self.undecodable += 1
            log.log(logging.WARNING if self.undecodable == 1 else logging.DEBUG,
                    "%s: dropped an undecodable kernel message: %s", self.name, exc)
            return None
        self.decoded += 1
        return msg

    def _channel(self, name: Channel) -> AsyncZMQSocketChannel:
        return cast(AsyncZMQSocketChannel, getattr(self._client, f"{name}_channel"))


KernelTransport = ZmqChannels
"""The old name (until the callers outside this package have moved to ZmqChannels)."""
