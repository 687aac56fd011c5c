"""Telling at once that a kernel cannot be talked to, instead of nudging it for 30 s.

A kernel that is gone (the agent knows its process exited, or nothing listens on its shell
socket any more) and a key that is not the kernel's (its messages fail our HMAC; it drops
ours unanswered) both looked like "no answer within 30 s". Each is named here as soon as it
is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

import asyncssh

from rtui.core.errors import (
    KernelDiedError,
    KernelError,
    RtuiError,
    SignatureMismatchError,
    TargetUnreachableError,
)
from rtui.core.kernels.routes import HostRoutes
from rtui.core.kernels.session import KernelSession
from rtui.core.kernels.tunnel import remote_target
from rtui.core.slurm.jobs import JobInfo, how_ended

__all__ = [
    "PROBE_AFTER", "describe_exit", "gone_error", "job_gone_error", "known_dead",
    "shell_listens", "start_session",
]

log = logging.getLogger(__name__)

PROBE_AFTER = 1.0
"""Seconds a kernel may take to answer before we look whether anything listens at all (a
live kernel on a fast link answers well before; the look costs one channel open)."""

_PROBE_TIMEOUT = 5.0


def describe_exit(exit_info: Any) -> str:
    """"exit code 1" / "killed by SIGKILL" from the agent's exit record (empty when none)."""
    if not isinstance(exit_info, dict):
        return ""
    sig, code = exit_info.get("signal"), exit_info.get("code")
    if isinstance(sig, int) and sig > 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(sig).name}"
        return f"killed by signal {sig}"
    if isinstance(sig, str) and sig:
        return f"killed by {sig}"
    return f"exit code {code}" if code is not None else ""


def known_dead(answer: dict[str, Any]) -> bool:
    """Whether the agent's resolve/list answer says for sure the kernel is not running: its
    liveness check, or the exit its keeper recorded (unless the kernel runs again)."""
    return answer.get("alive") is False or (
        isinstance(answer.get("exit"), dict) and answer.get("alive") is not True)


def gone_error(host: str, kernel_id: str, answer: dict[str, Any]) -> KernelDiedError:
    """The error for a kernel the agent knows is not running; ``answer`` is its resolve or
    list record (pid, exit, log tail when the keeper kept them). A kernel in a SLURM job:
    how the job ended (see :func:`job_gone_error`)."""
    if isinstance(answer.get("slurm"), dict) or (
            isinstance(answer.get("exit"), dict) and "slurm_state" in answer["exit"]):
        return job_gone_error(host, kernel_id, answer)
    exit_info = answer.get("exit")
    how = describe_exit(exit_info)
    pid = answer.get("pid")
    what = f"its process {pid} has exited" if pid else "nothing answers on its ports"
    message = (f"kernel {kernel_id} on {host} is not running ({what}"
               f"{', ' + how if how else ''})")
    tail = exit_info.get("log_tail") if isinstance(exit_info, dict) else None
    message += _ending(tail, "log")
    message += (f"`rtui kernel restart {host} {kernel_id}` starts it again, "
                f"`rtui kernel stop {host} {kernel_id}` removes it")
    return KernelDiedError(message, title="Kernel not running")


def job_gone_error(host: str, kernel_id: str, answer: dict[str, Any]) -> KernelDiedError:
    """A kernel whose SLURM job ended: "killed at its time limit", "preempted", "cancelled",
    "failed (exit N)", with the tail of the job's output; its kept output stays readable."""
    exit_info, job = (d if isinstance(d, dict) else {}
                      for d in (answer.get("exit"), answer.get("slurm")))
    state = str(exit_info.get("slurm_state") or job.get("state") or "")
    how = how_ended(state) if state else "ended"
    if JobInfo("", state).running:  # its kernel exited, and the runner ends the job
        how = f"is ending ({state.lower()}; its kernel exited)"
    code, reason = exit_info.get("code"), exit_info.get("reason") or job.get("reason")
    if state.startswith("FAILED") and isinstance(code, int):
        how += f" (exit {code})"
    elif state.startswith("COMPLETED") and isinstance(code, int):
        how = f"ended: its kernel exited with code {code}"
    elif reason and reason not in ("None", "(null)") and not state.startswith(
            ("TIMEOUT", "CANCELLED", "PREEMPTED")):
        how += f" ({reason})"
    job_id = job.get("job_id") or exit_info.get("job_id")
    message = (f"kernel {kernel_id} on {host} is not running: its job"
               f"{f' {job_id}' if job_id else ''} {how}")
    message += _ending(exit_info.get("log_tail"), "output")
    message += (f"`rtui log {host} {kernel_id}` shows its kept output, "
                f"`rtui kernel stop {host} {kernel_id}` removes it")
    return KernelDiedError(message, title="Job ended")


def _ending(tail: Any, what: str) -> str:
    """What goes between a dead kernel's message and its commands: the last 5 lines of its
    log (or its job's output), else just the separator."""
    if not (isinstance(tail, str) and tail.strip()):
        return "; "
    lines = tail.strip().splitlines()[-5:]
    return f"; the end of its {what}:\n" + "\n".join(f"  {line}" for line in lines) + "\n"


async def shell_listens(routes: HostRoutes, info: dict[str, Any]) -> bool | None:
    """Whether something accepts on the kernel's shell socket on the host, by the host's
    routes (direct channels or the relay): False when the host says nothing does (refused,
    no such socket), None when it cannot be told (the link is down, no answer in time)."""
    try:
        _, writer = await routes.open_stream(
            remote_target(info, "shell_port"), timeout=_PROBE_TIMEOUT, connect=False)
    except TargetUnreachableError as exc:
        log.debug("probing the kernel's shell socket: %s", exc)
        return False
    except (RtuiError, asyncssh.Error, OSError, TimeoutError, ValueError):
        return None
    writer.close()
    return True


async def start_session(
    session: KernelSession, *, where: str, host: str, kernel_id: str,
    routes: HostRoutes, remote_info: dict[str, Any], known: bool, running: bool = False,
    timeout: float = 30, then: Callable[[], None] | None = None, booting: bool = False,
) -> None:
    """``session.start`` with two early ends: nothing listens on the kernel's shell socket
    (looked at after :data:`PROBE_AFTER` s without an answer), and a signature mismatch,
    named with the file the key came from. ``known``: the host has this kernel's connection
    file (so `rtui kernel restart` can start it again); ``running``: the agent saw its
    process, so a socket not there yet means it is still booting, not gone; ``then`` and
    ``booting``: see :meth:`KernelSession.start`."""
    start = asyncio.ensure_future(session.start(timeout=timeout, then=then, booting=booting))
    listens: bool | None = None
    try:
        done, _ = await asyncio.wait({start}, timeout=PROBE_AFTER)
        if not done:
            listens = await shell_listens(routes, remote_info)
        if listens is False and not running:
            if known:
                raise gone_error(host, kernel_id, {})
            raise KernelDiedError(
                f"the kernel of {where} is not running: nothing answers on its shell socket "
                f"on {host}", title="Kernel not running")
        await start
    except SignatureMismatchError as exc:
        raise SignatureMismatchError(
            f"signature mismatch: the key in {where} is not this kernel's key "
            "(its messages fail the check with it; the kernel ignores ours)") from exc
    except KernelError as exc:
        if type(exc) is not KernelError or not listens or "did not answer" not in str(exc):
            raise
        # No answer, yet something listens, and nothing it sent failed our check (it sent
        # nothing): a kernel drops requests signed with another key without a word.
        raise KernelError(
            f"{exc}; something listens on the kernel's shell socket, so the key in {where} "
            "may not be this kernel's (a kernel ignores requests signed with another key)"
        ) from exc
    finally:
        if not start.done():
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
