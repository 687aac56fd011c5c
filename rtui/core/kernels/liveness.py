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
from typing import Any

import asyncssh

from rtui.core.errors import KernelDiedError, SignatureMismatchError
from rtui.core.kernels.session import KernelSession

__all__ = [
    "PROBE_AFTER", "describe_exit", "gone_error", "known_dead", "nobody_listens", "start_session",
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
    list record (pid, exit, log tail when the keeper kept them)."""
    exit_info = answer.get("exit")
    how = describe_exit(exit_info)
    pid = answer.get("pid")
    what = f"its process {pid} has exited" if pid else "nothing answers on its ports"
    message = (f"kernel {kernel_id} on {host} is not running ({what}"
               f"{', ' + how if how else ''})")
    tail = exit_info.get("log_tail") if isinstance(exit_info, dict) else None
    if isinstance(tail, str) and tail.strip():
        lines = tail.strip().splitlines()[-5:]
        message += "; the end of its log:\n" + "\n".join(f"  {line}" for line in lines)
        message += "\n"
    else:
        message += "; "
    message += (f"`rtui kernel restart {host} {kernel_id}` starts it again, "
                f"`rtui kernel stop {host} {kernel_id}` removes it")
    return KernelDiedError(message, title="Kernel not running")


async def nobody_listens(conn: asyncssh.SSHClientConnection, info: dict[str, Any]) -> bool:
    """True when the host says nothing accepts on the kernel's shell socket (connection
    refused, no such socket); False when something does or when it cannot be told (the
    server forbids such channels, no answer in time)."""
    port = info.get("shell_port")
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            if info.get("transport") == "ipc":
                _, writer = await conn.open_unix_connection(f"{info.get('ip')}-{port}")
            else:
                ip = str(info.get("ip") or "127.0.0.1")
                host = "127.0.0.1" if ip in ("0.0.0.0", "*") else ip
                _, writer = await conn.open_connection(host, int(str(port)))
    except asyncssh.ChannelOpenError as exc:
        log.debug("probing the kernel's shell socket: %s (%s)", exc.reason, exc.code)
        return exc.code == asyncssh.OPEN_CONNECT_FAILED
    except (asyncssh.Error, OSError, TimeoutError, ValueError):
        return False
    writer.close()
    return False


async def start_session(
    session: KernelSession, *, where: str, host: str, kernel_id: str,
    conn: asyncssh.SSHClientConnection | None, remote_info: dict[str, Any],
    known: bool, timeout: float = 30,
) -> None:
    """``session.start`` with two early ends: nothing listens on the kernel's shell socket
    (looked at after :data:`PROBE_AFTER` s without an answer), and a signature mismatch,
    named with the file the key came from. ``known``: the host has this kernel's connection
    file (so `rtui kernel restart` can start it again)."""
    start = asyncio.ensure_future(session.start(timeout=timeout))
    try:
        done, _ = await asyncio.wait({start}, timeout=PROBE_AFTER)
        if not done and conn is not None and await nobody_listens(conn, remote_info):
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
    finally:
        if not start.done():
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
