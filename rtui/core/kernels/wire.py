"""Kernel messages on the wire: checked decoding of frames and a reader loop per socket."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any, cast

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from rtui.core.kernels import envelope

__all__ = ["BATCH", "InvalidSignature", "decode", "next_frames", "pump"]

BATCH = 500
"""Messages handled per turn of the event loop during a flood (then the loop gets a turn)."""

_REPOLL = 0.25
"""Seconds between looks at a socket whose wakeup may have been missed (see next_frames)."""


class InvalidSignature(ValueError):
    """A well-formed message whose HMAC does not match: signed with another key than ours."""


def decode(session: Session, frames: list[bytes]) -> dict[str, Any]:
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
            raise InvalidSignature("invalid signature")
    unpack = session.unpack
    return envelope.message(unpack(parts[1]), unpack(parts[2]), unpack(parts[3]),
                            unpack(parts[4]), [memoryview(b) for b in parts[5:]])


async def pump(asocket: zmq.asyncio.Socket, on_frames: Callable[[list[bytes]], None]) -> None:
    """Hand every message of a socket to ``on_frames``, for ever (cancel to stop).

    Awaits one message, then drains what is already queued without futures, in batches: an
    awaited recv that finds data completes without yielding to the loop, so a flood would
    starve the UI; after each batch the loop gets a turn. ``on_frames`` runs in this task.
    """
    # A plain view of the same socket (it does not own it): NOBLOCK reads skip the
    # per-message Future of zmq.asyncio. Only used inside this task, which its owner ends
    # before the socket is closed.
    burst: zmq.Socket[bytes] = zmq.Socket.shadow(asocket.underlying)
    while True:
        on_frames(await next_frames(asocket, burst))
        for _ in range(BATCH):
            try:
                frames = burst.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            on_frames(frames)
        else:
            await asyncio.sleep(0)


async def next_frames(asocket: zmq.asyncio.Socket, burst: zmq.Socket[bytes]) -> list[bytes]:
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
