"""A kernel's kept output read without attaching to it (``rtui log``): no channels, no
heartbeat, only its keeper's stream, each message checked with the kernel's key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rtui.core.errors import KernelError
from rtui.core.kernels import wire
from rtui.core.kernels.events import (
    KernelEvent,
    KernelExited,
    event_from_keeper,
    event_from_message,
)
from rtui.core.kernels.keeper_feed import KeeperFeed
from rtui.core.kernels.keeper_link import keeper_opener

if TYPE_CHECKING:
    from rtui.core.kernels.service import HostKernels

__all__ = ["follow_output"]

log = logging.getLogger(__name__)


async def follow_output(
    kernels: HostKernels, spec: str, on_event: Callable[[KernelEvent], None], *,
    tail: int | None = None,
) -> KeeperFeed:
    """Start following the kept output of the kernel ``spec`` names (as ``attach`` takes
    it): everything kept (``tail`` None) or its last ``tail`` messages, then live output.

    ``on_event`` gets message events, then OutputReplayed (the kept part is all in), then
    live ones, OutputDropped and KernelExited. Close the returned feed to stop.
    """
    from jupyter_client.session import Session

    found = await kernels.locate(spec, alive=False)
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
        keeper_opener(kernels.routes, found.keeper), on_frames, on_keeper,
        since=0 if tail is None else None, tail=tail or 0, name=f"{kernels.name}:{found.id}")
    feed.start()
    return feed
