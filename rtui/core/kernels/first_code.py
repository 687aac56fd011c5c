"""The code given to an attach or a start (``rtui run -k ID -c CODE``), sent once and never
on a guess; and the early session that already ran it."""

from __future__ import annotations

import asyncio

from rtui.core.kernels.execution import Execution
from rtui.core.kernels.records import RemoteKernel
from rtui.core.kernels.session import KernelSession

__all__ = ["FirstCode", "ran_first"]


class FirstCode:
    """The code given to attach or start, sent once: right behind the session's first
    kernel_info (``nudged``), and, on a session opened on remembered info, not before the
    agent's answer or the kernel's has vouched for that info (``vouch``): code never runs
    on a guess (a kernel with another key would drop it, yet its log would fill)."""

    def __init__(self, code: str | None, *, vouched: bool = True) -> None:
        self.code = code
        self.vouched = vouched
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
        if (self.code is not None and self.execution is None and self._nudged
                and self.vouched and self.session is not None):
            self.execution = self.session.execute(self.code)


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
