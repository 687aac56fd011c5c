"""The code given to an attach or a start (``rtui run -k ID -c CODE``), sent once and never
on a guess; and the early session that already ran it."""

from __future__ import annotations

import asyncio
import logging

from rtui.core.kernels.events import Error, KernelEvent
from rtui.core.kernels.execution import Execution
from rtui.core.kernels.records import RemoteKernel
from rtui.core.kernels.session import KernelSession

__all__ = ["FirstCode", "ran_first", "send_quietly"]

log = logging.getLogger(__name__)


class FirstCode:
    """The code given to attach or start, sent once: right behind the session's first
    kernel_info (``nudged``), and, on a session opened on remembered info, not before the
    agent's answer or the kernel's has vouched for that info (``vouch``): code never runs
    on a guess (a kernel with another key would drop it, yet its log would fill)."""

    def __init__(self, code: str | None, *, vouched: bool = True,
                 prelude: str | None = None) -> None:
        self.code = code
        self.vouched = vouched
        # Set-up the kernel gets before any code (module reloading: see reloading.py),
        # sent silently; its output goes nowhere.
        self.prelude = prelude
        self.session: KernelSession | None = None
        self.execution: Execution | None = None
        self._nudged = False

    def nudged(self) -> None:
        self._nudged = True
        self._send()

    def vouch(self) -> None:
        self.vouched = True
        self._send()

    def _send(self) -> None:
        if not (self._nudged and self.vouched and self.session is not None):
            return
        if self.prelude is not None:
            send_quietly(self.session, self.prelude)
            self.prelude = None
        if self.code is not None and self.execution is None:
            self.execution = self.session.execute(self.code)


def send_quietly(session: KernelSession, code: str) -> Execution:
    """Run set-up ``code`` silently (no execution count, no history, no input); its
    events are dropped, an error in it is logged."""
    def on_event(event: KernelEvent) -> None:
        if isinstance(event, Error):
            log.warning("%s: the kernel's set-up failed: %s: %s", session.name, event.ename,
                        event.evalue)

    return session.execute(code, silent=True, store_history=False, allow_stdin=False,
                           on_event=on_event)


def ran_first(early: asyncio.Future[RemoteKernel] | None,
               first: FirstCode) -> RemoteKernel | None:
    """The early session when the kernel answered it and was sent the code (whatever the
    agent says next, the code ran there, and its output is to be shown), else None."""
    if (early is None or not early.done() or early.cancelled()
            or early.exception() is not None or first.execution is None):
        return None
    kernel = early.result()
    kernel.first = first.execution
    return kernel
