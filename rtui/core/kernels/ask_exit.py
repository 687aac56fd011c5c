"""``exit()`` and ``quit()`` in a kernel: what its execute_reply's ``ask_exit`` payload asks
of the client, and that done.

IPython's kernel shell answers ``exit()``/``quit()`` with the payload ``{"source":
"ask_exit", "keepkernel": bool}`` (``exit(keep_kernel=True)`` sets it); without
``keepkernel`` the kernel stops its own loop a moment later. jupyter console and qtconsole
honour it: they shut the kernel down, or leave it running and go. rtui does the same, so the
kernel's process, its keeper and its files on the host go as when a console is closed with
"Shut the kernel down" (no dead kernel left behind, no heartbeat alarm for an end that was
asked for), or the console detaches and the kernel stays listed for the next attach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rtui.core.kernels.events import ExecuteReply

if TYPE_CHECKING:  # the service pulls in asyncssh and zmq; this module is read per reply
    from rtui.core.kernels.host_api import KernelHost
    from rtui.core.kernels.records import RemoteKernel

__all__ = ["AskExit", "asked_exit", "honour_exit"]


@dataclass(frozen=True, slots=True)
class AskExit:
    """The code asked the client to end: shut the kernel down, or ``keep_kernel``."""

    keep_kernel: bool

    def note(self, host: str, kernel: str, *, attach: str) -> str:
        """The one line that says what became of ``kernel`` (its id as the caller shows
        it); ``attach``: how to attach to it again, said when it runs on."""
        if self.keep_kernel:
            return f"{host}: kernel {kernel} left running, as the code asked ({attach})"
        return f"{host}: kernel {kernel} exited, as the code asked, and was shut down"


def asked_exit(reply: ExecuteReply) -> AskExit | None:
    """The ``ask_exit`` item of ``reply``'s payload, or None when the code did not ask.
    ``keepkernel`` is True only when said so (IPython leaves it None for a plain exit())."""
    for item in reply.payload:
        if isinstance(item, dict) and item.get("source") == "ask_exit":
            return AskExit(keep_kernel=item.get("keepkernel") is True)
    return None


async def honour_exit(kernels: KernelHost, kernel: RemoteKernel, asked: AskExit) -> None:
    """Do what the code asked: detach (the kernel runs on, remembered for the next attach),
    or shut it down as closing a console does (shutdown_request, then the agent stops the
    process and its keeper and removes its files), whether rtui started it or not, as
    jupyter console does."""
    if asked.keep_kernel:
        await kernels.detach(kernel)
    else:
        await kernels.shutdown(kernel)
