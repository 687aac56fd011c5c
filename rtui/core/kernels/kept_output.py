"""A kernel's kept output read without attaching to it (``rtui log``): no channels, no
heartbeat, only its keeper's stream, each message checked with the kernel's key.

A kernel on a Jupyter server has no keeper: its output is read over a websocket of its own
with a session id remembered for ``rtui log`` (never a console's: the server would close
the console's socket). When it is the last client to leave, the server keeps what comes
for its session id (until another session connects), so the next ``rtui log`` gets it
first; what ran before the first is not kept, which is said once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rtui.core.errors import KernelError
from rtui.core.kernels import wire
from rtui.core.kernels.events import (
    KernelEvent,
    KernelExited,
    OutputReplayed,
    event_from_keeper,
    event_from_message,
)
from rtui.core.kernels.keeper_feed import KeeperFeed
from rtui.core.kernels.keeper_link import keeper_opener

if TYPE_CHECKING:
    from rtui.core.jupyter.service import ServerKernels
    from rtui.core.jupyter.ws_channels import WebSocketChannels
    from rtui.core.kernels.host_api import KernelHost

__all__ = ["ServerOutputFeed", "follow_output"]

log = logging.getLogger(__name__)


async def follow_output(
    kernels: KernelHost, spec: str, on_event: Callable[[KernelEvent], None], *,
    tail: int | None = None,
) -> KeeperFeed | ServerOutputFeed:
    """Start following the kept output of the kernel ``spec`` names (as ``attach`` takes
    it): everything kept (``tail`` None) or its last ``tail`` messages, then live output.

    ``on_event`` gets message events, then OutputReplayed (the kept part is all in), then
    live ones, OutputDropped and KernelExited. Close the returned feed to stop.
    """
    from jupyter_client.session import Session

    from rtui.core.kernels.host_api import ssh_kernels

    ssh = ssh_kernels(kernels)
    if ssh is None:
        from rtui.core.jupyter.service import ServerKernels

        assert isinstance(kernels, ServerKernels)
        return await _follow_server(kernels, spec, on_event, tail=tail)
    found = await ssh.locate(spec, alive=False)
    if found.keeper is None:
        raise KernelError(
            f"kernel {found.id} on {kernels.name} has no output keeper (the host's rtui agent "
            "predates them): its output was not kept")
    info = found.info
    key = str(info.get("key") or "").encode()
    scheme = str(info.get("signature_scheme") or "hmac-sha256")
    session = Session(key=key, signature_scheme=scheme, check_pid=False)

    def on_frames(frames: list[bytes]) -> None:
        try:
            msg = wire.decode(session, frames)
        except Exception as exc:
            log.warning("%s: dropped an undecodable kept message: %s", found.id, exc)
            return
        event = event_from_message(msg)
        if event is not None:
            on_event(event)

    def on_keeper(event: dict[str, Any]) -> None:
        typed = event_from_keeper(event)
        if typed is None and event.get("event") == "gone":  # stopped: the kernel is no more
            typed = KernelExited(None, None, "")
        if typed is not None:
            on_event(typed)

    feed = KeeperFeed(
        keeper_opener(ssh.routes, found.keeper), on_frames, on_keeper,
        since=0 if tail is None else None, tail=tail or 0, name=f"{kernels.name}:{found.id}")
    feed.start()
    return feed


async def _follow_server(kernels: ServerKernels, spec: str,
                         on_event: Callable[[KernelEvent], None], *,
                         tail: int | None) -> ServerOutputFeed:
    found = await kernels.locate(spec, alive=False)
    session_id, new = kernels.memory.log_session(kernels.name, found.id)
    channels = kernels.channels(found.id, session_id)
    await channels.open()  # a refused token or a kernel gone is told here
    feed = ServerOutputFeed(channels, on_event, tail=tail)
    if new:
        feed.note = (f"kernel {found.id} runs on the Jupyter server {kernels.name}, which "
                     "keeps no output: what it printed before this first `rtui log` of it is "
                     "not kept (when this log is the last client to leave, the server keeps "
                     "what comes next for the next one)")
    feed.start()
    return feed


class ServerOutputFeed:
    """``rtui log`` over a kernel's websocket: what the server kept for this session id
    (all in once the reply to a kernel_info sent after connecting comes: the server writes
    its whole replay before any live message), then live output. ``note``: what to tell
    once, if anything."""

    def __init__(self, channels: WebSocketChannels, on_event: Callable[[KernelEvent], None], *,
                 tail: int | None) -> None:
        self.channels = channels
        self.note: str | None = None
        self._on_event = on_event
        self._tail = tail
        self._kept: list[KernelEvent] | None = []  # the replay, until its end is known
        self._count = 0
        self._t0: float | None = None
        self._t1: float | None = None
        self._marker: str | None = None
        self._replayed: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._replayed = asyncio.get_running_loop().create_future()
        self._tasks = self.channels.start(
            {"iopub": self._on_iopub, "control": self._on_control}, self._on_channels)
        # On control: ipykernel answers it at once, a running cell or not (shell would wait
        # for the cell to end).
        self._marker = self.channels.send("control", "kernel_info_request", {})

    async def wait_replayed(self, timeout: float) -> None:
        """Wait until what the server kept is handed on (output is live from then)."""
        if self._replayed is None:
            raise RuntimeError("the feed is not started")
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._replayed)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.channels.close()
        if self._replayed is not None and not self._replayed.done():
            self._replayed.cancel()

    def _on_iopub(self, msg: dict[str, Any]) -> None:
        if (msg.get("parent_header") or {}).get("msg_id") == self._marker:
            return  # the statuses of our own kernel_info: not the kernel's output
        event = event_from_message(msg)
        if event is None:
            return
        if self._kept is None:
            self._on_event(event)
            return
        self._kept.append(event)
        self._count += 1
        sent = _sent_at(msg)
        self._t0 = self._t0 if self._t0 is not None else sent
        self._t1 = sent

    def _on_control(self, msg: dict[str, Any]) -> None:
        parent = msg.get("parent_header") or {}
        if self._kept is None or parent.get("msg_id") != self._marker:
            return  # a replayed reply to some earlier request of this session: not output
        kept, self._kept = self._kept, None
        if self._tail is not None:
            kept = kept[-self._tail:] if self._tail > 0 else []
        for event in kept:
            self._on_event(event)
        self._on_event(OutputReplayed(self._count, self._t0, self._t1))
        if self._replayed is not None and not self._replayed.done():
            self._replayed.set_result(None)

    def _on_channels(self, event: dict[str, Any]) -> None:
        if event.get("event") == "gone":
            self._on_event(KernelExited(None, None, ""))


def _sent_at(msg: dict[str, Any]) -> float | None:
    """When the kernel sent ``msg`` (its header's ISO date), as a unix time."""
    try:
        return datetime.fromisoformat(str(msg["header"]["date"])).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
