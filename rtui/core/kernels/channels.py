"""What a KernelSession needs of the link to a kernel, whatever carries it: zmq sockets
(forwarded over SSH: ZmqChannels) or a Jupyter server's kernel websocket.

The session sends requests and gets decoded messages, one handler per channel; the link
does the packing, signing, checking and reading (and reconnecting, for a websocket).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

__all__ = ["Channel", "ChannelsEventHandler", "KernelChannels", "MessageHandler"]

Channel = Literal["shell", "control", "stdin", "iopub"]

MessageHandler = Callable[[dict[str, Any]], None]
"""Gets one decoded message: ``header``, ``parent_header``, ``metadata``, ``content``,
``buffers`` (memoryviews), ``msg_id``, ``msg_type``; header dates stay ISO strings."""

ChannelsEventHandler = Callable[[dict[str, Any]], None]
"""Gets what the link itself tells, with a keeper's meaning (see keeper_feed):
``{"event": "lost", "reason": str}`` the link dropped and is being made again;
``{"event": "replayed", "count": N, "t0": unix|None, "t1": unix|None, "reconnected": True}``
it is back and what the far end kept while it was down came before this (N may be 0);
``{"event": "restarted", "reason": str}`` the kernel was started again (running cells
will never end); ``{"event": "gone", "reason": str}`` the kernel is no more."""


class KernelChannels(Protocol):
    """A kernel's shell, control, stdin and iopub channels and its liveness ping."""

    @property
    def name(self) -> str:
        """How messages name the kernel ("host:id")."""
        ...

    @property
    def identity(self) -> str:
        """This client's session id (zmq routing identity; the websocket's session_id)."""
        ...

    @property
    def decoded(self) -> int:
        """Messages that passed the checks so far."""
        ...

    @property
    def bad_signatures(self) -> int:
        """Well-formed messages signed with another key (always 0 where the far end signs)."""
        ...

    def start(self, handlers: Mapping[Channel, MessageHandler],
              on_event: ChannelsEventHandler) -> list[asyncio.Task[None]]:
        """Connect and start reading: each message goes to its channel's handler, in the
        order it came, inside the returned reader tasks (the session cancels them before
        ``close``). A channel missing from ``handlers`` is not read (a keeper serves it).
        Called once, in the running loop; never blocks."""
        ...

    def send(self, channel: Channel, msg_type: str, content: dict[str, Any],
             parent: dict[str, Any] | None = None) -> str:
        """Pack (and sign) one message and send it (or queue it, in order, while the link
        is down); returns its msg_id, the parent id of its answers. Never blocks."""
        ...

    async def ping(self, timeout: float) -> bool:
        """Whether the far end answered a liveness ping within ``timeout`` (Heartbeat)."""
        ...

    async def close(self) -> None:
        """Close the link; after the reader tasks are ended. Idempotent."""
        ...
