"""A kernel rtui launches, reached while it boots: the client picks its id and key.

The agent's ``launch`` answers once the kernel is up; only then did the client learn where
the kernel listens, and then it opened its SSH channels, did ZMTP's handshake and asked
``kernel_info``: about 3.7 round trips after the kernel was up. A kernel on Unix sockets
listens at paths that follow from its id (``<sockets root>/k/<id>/k-1`` ... ``k-5``, its
keeper at ``.../keeper``; the root is in the agent's greeting), so a client that picks the
id and the key knows the whole connection info before it asks: its forwards, the keeper's
stream and the first ``kernel_info`` start with the ``launch`` request, and the channels
connect as soon as the kernel's sockets are there (a forward to a socket not there yet fails
and zmq tries again within 50 ms; the keeper's stream tries again too, see keeper_link).

The key travels inside the agent's stdin protocol (never a command line) and is written only
to the kernel's 0600 connection file on the host.
"""

from __future__ import annotations

import asyncio
import posixpath
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rtui.core.errors import KernelError
from rtui.core.kernels.connection_info import check_connection_info
from rtui.core.kernels.tunnel import IPC_NAME, PORT_NAMES

__all__ = ["AFTER_LAUNCH", "LaunchPlan", "PlanMismatch", "alongside", "plan_launch", "same_place"]

AFTER_LAUNCH = 30.0
"""Seconds the session may still take once the agent said the kernel is up."""

_MAX_SOCKET_PATH = 100  # as the agent's sockets.MAX_SOCKET_PATH: it refuses longer paths
_KEEPER_NAME = "keeper"
_SAME = ("transport", "ip", "key", "signature_scheme", *PORT_NAMES)


@dataclass(frozen=True)
class LaunchPlan:
    """Where a kernel about to be launched will listen, and its key."""

    kernel_id: str
    key: str = field(repr=False)
    info: dict[str, Any] = field(repr=False)  # its connection info, checked
    keeper: str  # its keeper's socket on the host


class PlanMismatch(KernelError):
    """The agent started the kernel elsewhere than planned (``record`` is its answer)."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("the kernel was not launched where it was planned")
        self.record = record


def plan_launch(hello: dict[str, Any], transport: str) -> LaunchPlan | None:
    """A fresh id and key and where that kernel will listen; None when that cannot be
    known beforehand (a TCP kernel's ports are the agent's pick; an agent that did not say
    where its socket root is; a path the agent would refuse as too long: it says why)."""
    root = hello.get("sockets_root")
    if transport != "ipc" or not isinstance(root, str) or not posixpath.isabs(root):
        return None
    kernel_id = str(uuid.uuid4())
    directory = posixpath.join(root, "k", kernel_id)
    keeper = posixpath.join(directory, _KEEPER_NAME)
    if len(keeper.encode()) > _MAX_SOCKET_PATH:
        return None
    key = secrets.token_hex(32)
    info: dict[str, Any] = {name: n for n, name in enumerate(PORT_NAMES, start=1)}
    info.update(transport="ipc", ip=posixpath.join(directory, IPC_NAME), key=key,
                signature_scheme="hmac-sha256", kernel_name="python3")
    checked = check_connection_info(info, f"kernel {kernel_id} (planned)")
    return LaunchPlan(kernel_id, key, checked, keeper)


def same_place(plan: LaunchPlan, answered: dict[str, Any]) -> bool:
    """Whether the launched kernel's connection info is the planned one."""
    return all(plan.info.get(name) == answered.get(name) for name in _SAME)


async def alongside(
    launching: asyncio.Future[dict[str, Any]], starting: Awaitable[None], *,
    on_launched: Callable[[dict[str, Any]], Awaitable[None]], what: str,
    after: float = AFTER_LAUNCH,
) -> dict[str, Any]:
    """Start a session (``starting``) while the agent launches its kernel; the launch's
    answer. The launch's failure is the one told (the agent's message has the exit and the
    log's tail), and it ends the session's start at once rather than leaving it nudging
    channels that will never answer. ``on_launched`` runs on the answer, while the session
    starts (it may raise); after it the session has ``after`` seconds more."""
    start = asyncio.ensure_future(starting)
    try:
        record = await launching
        await on_launched(record)
        done, _ = await asyncio.wait({start}, timeout=after)
        if not done:
            raise KernelError(f"{what}: the kernel started, but did not answer through its "
                              f"channels within {after:g} s of its start")
        start.result()
        return record
    finally:
        if not start.done():
            start.cancel()
        await asyncio.gather(start, return_exceptions=True)
