"""exit() and quit() in a kernel: the ``ask_exit`` payload read, and honoured on a real
kernel through the real sshd (core and ``rtui run``): the kernel shut down with nothing left
on the host, or, with keep_kernel=True, left running and listed."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from rtui.core.kernels import events as ev
from rtui.core.kernels.ask_exit import AskExit, asked_exit, honour_exit
from rtui.core.kernels.service import HostKernels
from tests.conftest import run_rtui
from tests.harness.sshd import SSHD
from tests.host_leftovers import until_gone
from tests.ssh_helpers import host_for
from tests.tui_helpers import store_with

PY = sys.executable


def reply(*payload: dict[str, object]) -> ev.ExecuteReply:
    return ev.ExecuteReply("ok", 1, list(payload))


def test_the_payload_read() -> None:
    assert asked_exit(reply()) is None
    assert asked_exit(reply({"source": "page", "data": {"text/plain": "help"}})) is None
    # IPython leaves keepkernel None for a plain exit(): that is no keep.
    assert asked_exit(reply({"source": "ask_exit", "keepkernel": None})) == AskExit(False)
    assert asked_exit(reply({"source": "ask_exit", "keepkernel": False})) == AskExit(False)
    assert asked_exit(reply({"source": "ask_exit"})) == AskExit(False)
    assert asked_exit(reply({"source": "page"}, {"source": "ask_exit", "keepkernel": True})
                      ) == AskExit(True)
    assert asked_exit(reply({"source": "ask_exit", "keepkernel": "yes"})) == AskExit(False)
    assert AskExit(True).note("lab", "ab12", attach="k attaches again") == (
        "lab: kernel ab12 left running, as the code asked (k attaches again)")
    assert AskExit(False).note("lab", "ab12", attach="-") == (
        "lab: kernel ab12 exited, as the code asked, and was shut down")


async def test_rtui_run_keeps_the_kernel_then_quit_shuts_it_down(
    sshd: SSHD, config_file: Path, kernels: HostKernels,
) -> None:
    """``rtui run`` with exit(keep_kernel=True) leaves its kernel running (exit code 0, one
    line on stderr that says how to attach); attached again, its namespace is there, and
    quit() through the service shuts it down: nothing of it is left on the host."""
    store_with(config_file.parent, host_for(sshd, "lab", python=PY))  # where rtui reads it
    kept = await asyncio.to_thread(run_rtui, "run", "lab", "-c", "x = 6\nexit(keep_kernel=True)")
    assert kept.returncode == 0, kept.stderr
    match = re.fullmatch(r"rtui: lab: kernel (\S+) left running, as the code asked "
                         r"\(rtui run lab -k \1 attaches again\)\n", kept.stderr)
    assert match, kept.stderr
    kid = match.group(1)
    assert {r.id: r.alive for r in await kernels.list()}.get(kid) is True

    kernel = await kernels.attach(kid)
    events = [e async for e in kernel.session.execute("print(x * 7)\nquit()")]
    assert [e.text for e in events if isinstance(e, ev.Stream)] == ["42\n"]
    assert isinstance(events[-1], ev.ExecuteReply)
    asked = asked_exit(events[-1])
    assert asked == AskExit(keep_kernel=False)
    await honour_exit(kernels, kernel, asked)
    await until_gone(kid, kernel.connection_file, kernel.keeper)
    assert kid not in {r.id for r in await kernels.list()}
