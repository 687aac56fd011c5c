"""The client side of spyder-kernels' own comm (target ``spyder_api``), as Spyder opens it.

Calls go as ``remote_call`` comm messages on shell; the kernel answers a call that asks for
a reply with ``remote_call_reply`` on iopub, matched here by ``call_id``. Once the namespace
view's settings are set, the kernel pushes its state (``update_state``: the namespace view
and the variables' properties) after every cell by itself: no request, no round trip.
See spyder_kernels/comms/commbase.py for the protocol.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from rtui.core.errors import KernelError
from rtui.core.kernels.session import KernelSession

__all__ = ["NAMESPACE_SETTINGS", "SpyderComm"]

log = logging.getLogger(__name__)

TARGET = "spyder_api"

# What the namespace view leaves out, as Spyder's defaults, with upper-case names shown
# (constants are variables a person made too).
NAMESPACE_SETTINGS: dict[str, Any] = {
    "check_all": False, "exclude_private": True, "exclude_uppercase": False,
    "exclude_capitalized": False, "exclude_unsupported": False, "excluded_names": [],
    "minmax": False, "show_callable_attributes": False, "show_special_attributes": False,
    "exclude_callables_and_modules": True, "filter_on": True,
}

StateListener = Callable[[dict[str, Any]], None]


class SpyderComm:
    """One comm to a spyder kernel: blocking calls with a bound, and the state it pushes."""

    def __init__(self, session: KernelSession, on_state: StateListener) -> None:
        self.session = session
        self.comm_id = uuid.uuid4().hex
        self._on_state = on_state
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._unwatch: Callable[[], None] | None = None
        self.states = 0
        """How many ``update_state`` pushes came (one per cell once it is set up)."""

    @property
    def opened(self) -> bool:
        return self._unwatch is not None

    def open(self) -> None:
        """Open the comm (no wait: calls sent right behind it find it open)."""
        if self._unwatch is None:
            self._unwatch = self.session.watch_comms(self._on_comm)
            self.session.send_comm("comm_open", {
                "comm_id": self.comm_id, "target_name": TARGET, "data": {}})

    def close(self) -> None:
        unwatch, self._unwatch = self._unwatch, None
        if unwatch is None:
            return
        unwatch()
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        self._waiting.clear()
        try:
            self.session.send_comm("comm_close", {"comm_id": self.comm_id, "data": {}})
        except KernelError:
            pass  # the session is closed: so is the comm

    def send(self, name: str, *args: Any, reply: bool = False) -> str:
        """Send the call ``name(*args)``; its call_id (``reply``: the kernel answers)."""
        call_id = uuid.uuid4().hex
        self._message("remote_call", {
            "call_name": name, "call_id": call_id,
            "settings": {"blocking": reply, "send_reply": reply, "display_error": False},
            "call_args": list(args), "call_kwargs": {},
            "buffered_args": [], "buffered_kwargs": [],
        })
        return call_id

    async def call(self, name: str, *args: Any, timeout: float) -> Any:
        """``name(*args)`` in the kernel, its return value (KernelError: failed, or no
        answer within ``timeout``: a cell still running holds shell)."""
        loop = asyncio.get_running_loop()
        call_id = self.send(name, *args, reply=True)
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting[call_id] = future
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise KernelError(f"{self.session.name}: the spyder kernel did not answer "
                              f"{name} within {timeout:g} s (is a cell still running?)") from None
        finally:
            self._waiting.pop(call_id, None)

    # -- from the kernel ---------------------------------------------------------------------

    def _message(self, kind: str, content: dict[str, Any]) -> None:
        self.session.send_comm("comm_msg", {
            "comm_id": self.comm_id, "data": {"spyder_msg_type": kind, "content": content}})

    def _on_comm(self, msg: dict[str, Any]) -> None:
        content = msg.get("content") or {}
        if content.get("comm_id") != self.comm_id:
            return
        if msg["msg_type"] == "comm_close":  # the kernel closed it (a restart, a shutdown)
            self._unwatch, unwatch = None, self._unwatch
            if unwatch is not None:
                unwatch()
            return
        data = content.get("data") or {}
        kind, body = data.get("spyder_msg_type"), data.get("content") or {}
        if kind == "remote_call_reply":
            future = self._waiting.get(str(body.get("call_id")))
            if future is None or future.done():
                return
            if body.get("is_error"):
                error = body.get("call_return_value") or {}
                future.set_exception(KernelError(
                    f"{self.session.name}: {body.get('call_name')} failed in the spyder kernel:"
                    f" {error.get('etype', 'error')}: "
                    f"{' '.join(str(a) for a in error.get('args') or ())}"))
            else:
                future.set_result(body.get("call_return_value"))
        elif kind == "remote_call":
            self._on_call(body)

    def _on_call(self, call: dict[str, Any]) -> None:
        """The kernel calls us: its state (kept), its check that we hear it (answered)."""
        name = call.get("call_name")
        if name == "update_state":
            args = call.get("call_args") or [{}]
            self.states += 1
            if isinstance(args[0], dict):
                self._on_state(args[0])
        if (call.get("settings") or {}).get("send_reply"):
            known = name in ("_comm_ready", "update_state")
            self._message("remote_call_reply", {
                "is_error": not known, "call_id": call.get("call_id"), "call_name": name,
                "call_return_value": None if known else {
                    "call_name": name, "call_id": call.get("call_id"), "etype": "CommError",
                    "args": [f"rtui does not handle {name}"], "error_name": None, "tb": []},
            })
