"""Execute round trip of ``1+1`` to ONE kernel through four paths (issue 4).

``python -m benchmarks.roundtrip [--samples N] [--quick]``

A round trip is: send execute_request, wait for the execute_reply AND the iopub ``idle``
status for it (``KernelSession.execute`` iterated to its end). Paths, all to the same kernel:

1. **direct**: a KernelSession on the kernel's own ports (the "remote" is this machine).
2. **rtui**: rtui's SSH path: HostConnection (with the PTY session that makes sshd set
   TCP_NODELAY) + HostKernels; ``kernel.session`` runs over rtui's forwards.
3. **openssh -L**: one ``ssh -N -L ... (x5)`` process, a KernelSession on its local ports.
4. **asyncssh, no PTY**: a second plain asyncssh connection with ``forward_local_port`` x5
   and no PTY session: what rtui would get without holding one (MEASURED.md).
5. **jupyter_client tunnel_to_kernel**: what ``jupyter console --existing --ssh`` uses: one
   ``ssh -f ... -L ... sleep 60`` per port, started through pexpect (opened for each block;
   the figure is the round trip once open). If it fails, its row says why; that is a
   finding about the peer, not a crash of this benchmark. On Linux its tunnels are usually
   gone by the time it returns: each ``ssh -f`` forks into the background while its parent,
   the leader of pexpect's pty session, exits, and the kernel's SIGHUP to the pty's
   foreground group reaches the child before ``daemon()`` has moved it to its own session.
6. **tunnel_to_kernel, SIGHUP ignored**: the same, with ``ssh`` started with SIGHUP ignored
   (``trap '' HUP`` in the wrapper), so the tunnels live and the path gets a figure.

The samples are taken in rounds (10 by default), each path in turn and in a different order
each round, so the drift of a shared machine (±20% between blocks of a few hundred samples)
hits every path alike and the ratios mean something. Each path's session is opened for its
block and closed after it (rtui's own lives as long as the kernel), so no idle session of a
slow path receives late copies of the measured path's iopub output meanwhile.

Everything is started here on 127.0.0.1 and stopped at the end: a real OpenSSH sshd (the test
harness), the kernel, the `ssh -L` processes. The client side runs with a throwaway HOME and XDG
dirs and no ssh-agent. Exit 0 whatever the figures; non-zero if a path crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncssh

from benchmarks.common import (
    LOOPBACK,
    STOP_TIMEOUT,
    bench_host,
    close_rtui,
    describe,
    fmt_ratio,
    goal_met,
    isolated_env,
    kill_leftovers,
    machine_line,
    markdown_table,
    openssh_forward,
    percentile,
    pids_mentioning,
    remote_host,
    rtui_kernels,
    trust,
)
from rtui.core.kernels.events import ExecuteReply, ExecuteResult
from rtui.core.kernels.service import RemoteKernel
from rtui.core.kernels.session import KernelSession
from rtui.core.kernels.tunnel import PORT_NAMES
from tests.harness.sshd import SSHD, start_sshd

__all__ = ["main"]

CODE = "1+1"
DEFAULT_SAMPLES = 300
QUICK_SAMPLES = 30
WARMUP = 10  # discarded round trips before a path's first block
ROUNDS = 10  # samples are taken in rounds, each path in turn, so drift hits every path alike
BLOCK_WARMUP = 3  # discarded round trips before each later block (the path was just opened)
GOAL_RATIO = 1.25  # issue 7 (issue 4 asked 1.5x): rtui p50 within 1.25x of direct
SAMPLE_TIMEOUT = 10.0  # seconds for one round trip before the path counts as crashed
START_TIMEOUT = 120.0  # seconds to connect and launch the kernel through rtui
SESSION_START_TIMEOUT = 30.0
PEER_START_TIMEOUT = 10.0  # tunnel_to_kernel's tunnels: they are up or they are not

DIRECT, RTUI, OPENSSH, ASYNCSSH_NO_PTY = "direct", "rtui", "openssh -L", "asyncssh, no PTY"
TUNNEL_TO_KERNEL = "jupyter_client tunnel_to_kernel"
TUNNEL_NO_HUP = "tunnel_to_kernel, ssh with SIGHUP ignored"
PEERS = frozenset({TUNNEL_TO_KERNEL, TUNNEL_NO_HUP})  # their failure is a figure, not a crash

SessionOpener = Callable[[], AbstractAsyncContextManager[KernelSession]]


@dataclass
class Row:
    path: str
    times: list[float] | None = None  # seconds
    error: str | None = None
    goal_ratio: float | None = None

    @property
    def p50(self) -> float:
        return percentile(self.times or [], 50)

    @property
    def p95(self) -> float:
        return percentile(self.times or [], 95)


# ------------------------------------------------------------------------------ running


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.roundtrip", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--samples", type=int, default=None,
        help=f"round trips measured per path (default {DEFAULT_SAMPLES}, --quick {QUICK_SAMPLES})",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples")
    args = parser.parse_args(argv)
    samples = args.samples or (QUICK_SAMPLES if args.quick else DEFAULT_SAMPLES)
    if samples < 2:
        parser.error("--samples must be at least 2")

    print(machine_line(), flush=True)
    started = time.perf_counter()
    rows = measure(samples)
    print(
        f"\nExecute round trip of `{CODE}` (execute_reply + idle on iopub), same kernel: "
        f"{samples} samples per path in {len(_blocks(samples))} rounds taking the paths in "
        f"turn, each block after {WARMUP} (first) or {BLOCK_WARMUP} discarded ones; "
        f"{time.perf_counter() - started:.1f} s\n"
    )
    print(render_table(rows), flush=True)
    return 1 if any(row.error and row.path not in PEERS for row in rows) else 0


def measure(samples: int) -> list[Row]:
    """Start sshd and the kernel, measure every path, stop everything (even on errors)."""
    rows = [Row(DIRECT), Row(RTUI, goal_ratio=GOAL_RATIO), Row(OPENSSH), Row(ASYNCSSH_NO_PTY),
            Row(TUNNEL_TO_KERNEL), Row(TUNNEL_NO_HUP)]
    with tempfile.TemporaryDirectory(prefix="rtui-bench-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        server: SSHD | None = None
        try:
            with isolated_env(root / "home") as home:
                server = start_sshd(root / "sshd")
                trust(server, home)
                asyncio.run(_measure_all(server, home, rows, samples))
        except Exception as exc:  # set-up failed: every path that has no figure says why
            for row in rows:
                if row.times is None and row.error is None:
                    row.error = f"set-up failed: {describe(exc)}"
        finally:
            if server is not None:
                server.close()
    return rows


async def _measure_all(
    server: SSHD, home: Path, rows: list[Row], samples: int
) -> None:
    conn, kernels = rtui_kernels(bench_host(server))
    kernel: RemoteKernel | None = None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            # on TCP: the peers (ssh -L, tunnel_to_kernel) forward ports, not Unix sockets
            kernel = await kernels.start(python=sys.executable, transport="tcp")
        remote_info = kernel.remote_info
        session = kernel.session
        openers: dict[str, SessionOpener] = {
            DIRECT: lambda: _direct(remote_info),
            RTUI: lambda: _borrowed(session),
            OPENSSH: lambda: _openssh(server, home, remote_info),
            ASYNCSSH_NO_PTY: lambda: _asyncssh_no_pty(server, home, remote_info),
            TUNNEL_TO_KERNEL: lambda: _tunnel_to_kernel(server, home, remote_info),
            TUNNEL_NO_HUP: lambda: _tunnel_to_kernel(
                server, home, remote_info, ignore_hangup=True),
        }
        for index, block in enumerate(_blocks(samples)):
            live = [row for row in rows if row.error is None]
            shift = index % len(live) if live else 0
            for row in live[shift:] + live[:shift]:  # a different order each round
                await _measure_block(row, openers[row.path], block, first=index == 0)
    finally:
        await close_rtui(conn, kernels, kernel)


async def _measure_block(row: Row, opener: SessionOpener, count: int, *, first: bool) -> None:
    """Open the path, warm it up, take ``count`` samples, close it (rtui's own stays open).

    Only the path being measured (and rtui's session, which lives as long as the kernel) is
    subscribed to iopub meanwhile: an idle session of a slow path would otherwise receive
    copies of the measured path's output ~40 ms late and load this process while it measures.
    """
    stage = "opening"
    times: list[float] = []
    try:
        async with opener() as session:
            if first:
                stage = "checking 1+1 == 2"
                await _check_answer(session)
            warmup = WARMUP if first else BLOCK_WARMUP
            for n in range(warmup):
                stage = f"warm-up {n + 1}/{warmup}"
                await _roundtrip(session)
            for n in range(count):
                stage = f"sample {len(row.times or []) + n + 1}"
                times.append(await _roundtrip(session))
            stage = "closing"
    except Exception as exc:  # this path crashed: say so in its row, measure the others
        row.times = None
        row.error = f"{stage}: {describe(exc)}"
        return
    row.times = [*(row.times or []), *times]


def _blocks(samples: int) -> list[int]:
    """Samples per round: ``ROUNDS`` rounds of about ``samples / ROUNDS`` (at least 10 each)."""
    rounds = max(1, min(ROUNDS, samples // 10))
    return [samples // rounds + (1 if i < samples % rounds else 0) for i in range(rounds)]


async def _roundtrip(session: KernelSession) -> float:
    """Seconds from execute_request until the execute_reply and the idle status are both in."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(SAMPLE_TIMEOUT):
            started = time.perf_counter()
            last = None
            async for event in session.execute(CODE):
                last = event
                seen.append(type(event).__name__)
            elapsed = time.perf_counter() - started
    except TimeoutError:
        raise TimeoutError(
            f"no end within {SAMPLE_TIMEOUT:g} s (events: {', '.join(seen) or 'none'})"
        ) from None
    if not isinstance(last, ExecuteReply) or last.status != "ok":
        raise RuntimeError(f"`{CODE}` did not end with an ok execute_reply: {last!r}")
    return elapsed


async def _check_answer(session: KernelSession) -> None:
    """The path really reaches the kernel: `1+1` answers 2."""
    try:
        async with asyncio.timeout(SAMPLE_TIMEOUT):
            results = [e async for e in session.execute(CODE) if isinstance(e, ExecuteResult)]
    except TimeoutError:
        raise TimeoutError(f"no end within {SAMPLE_TIMEOUT:g} s") from None
    text = results[0].data.get("text/plain") if results else None
    if text != "2":
        raise RuntimeError(f"`{CODE}` answered {text!r}, not '2'")


# -------------------------------------------------------------------------------- paths


@asynccontextmanager
async def _direct(remote_info: dict[str, Any]) -> AsyncIterator[KernelSession]:
    info = dict(remote_info, ip=remote_host(remote_info))
    async with _session(info, "direct") as session:
        yield session


@asynccontextmanager
async def _borrowed(session: KernelSession) -> AsyncIterator[KernelSession]:
    yield session  # rtui's own session; closed by kernels.shutdown()


@asynccontextmanager
async def _openssh(
    server: SSHD, home: Path, remote_info: dict[str, Any]
) -> AsyncIterator[KernelSession]:
    async with openssh_forward(
        port=server.port, user=server.user, key=server.client_key,
        known_hosts=home / ".ssh" / "known_hosts", remote_info=remote_info,
    ) as info, _session(info, "openssh") as session:
        yield session


@asynccontextmanager
async def _asyncssh_no_pty(
    server: SSHD, home: Path, remote_info: dict[str, Any]
) -> AsyncIterator[KernelSession]:
    conn = await asyncssh.connect(
        LOOPBACK, server.port, username=server.user,
        client_keys=[str(server.client_key)],
        known_hosts=str(home / ".ssh" / "known_hosts"),
        agent_path=None, config=None,
        x509_trusted_certs=None, x509_trusted_cert_paths=None,
    )
    try:
        target = remote_host(remote_info)
        info = dict(remote_info, ip=LOOPBACK, transport="tcp")
        for name in PORT_NAMES:  # no session at all on this connection, so no PTY
            listener = await conn.forward_local_port(
                LOOPBACK, 0, target, int(remote_info[name]))
            info[name] = listener.get_port()
        async with _session(info, "asyncssh-no-pty") as session:
            yield session
    finally:
        conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.wait_closed(), STOP_TIMEOUT)


@asynccontextmanager
async def _session(info: dict[str, Any], name: str, *,
                   timeout: float = SESSION_START_TIMEOUT) -> AsyncIterator[KernelSession]:
    session = KernelSession.over_zmq(info, name=f"bench-{name}")
    try:
        await session.start(timeout=timeout)
        yield session
    finally:
        await session.close()


# ------------------------------------------------------------------------------- output


@asynccontextmanager
async def _tunnel_to_kernel(
    server: SSHD, home: Path, remote_info: dict[str, Any], *, ignore_hangup: bool = False
) -> AsyncIterator[KernelSession]:
    """jupyter_client's own SSH tunnels (pexpect + the ``ssh`` client); the ssh processes are
    stopped afterwards by their ``-L`` arguments.

    ``ssh`` reads ~/.ssh from the passwd entry, not $HOME, and tunnel_to_kernel takes no ssh
    options: an ``ssh`` first on PATH (for this call only) adds the throwaway known_hosts that
    a user's own ~/.ssh/known_hosts would provide, and nothing else of the user's config.
    With ``ignore_hangup`` that wrapper also starts ssh with SIGHUP ignored (module docstring).
    """
    from jupyter_client import tunnel_to_kernel
    from jupyter_client.connect import KernelConnectionInfo

    real_ssh = shutil.which("ssh") or "/usr/bin/ssh"
    bindir = home / "tunnel-bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "ssh"
    known_hosts = home / ".ssh" / "known_hosts"
    trap = "trap '' HUP\n" if ignore_hangup else ""
    wrapper.write_text(
        f"#!/bin/sh\n{trap}exec {shlex.quote(real_ssh)} -F /dev/null -o BatchMode=yes "
        f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))} "
        '-o StrictHostKeyChecking=yes "$@"\n')
    wrapper.chmod(0o755)
    info = dict(remote_info, ip=remote_host(remote_info))
    sshserver = f"{server.user}@{LOOPBACK}:{server.port}"
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    try:
        ports = await asyncio.to_thread(
            tunnel_to_kernel, cast(KernelConnectionInfo, info), sshserver,
            str(server.client_key))
    finally:
        os.environ["PATH"] = path
    local = dict(remote_info, ip=LOOPBACK, transport="tcp")
    # tunnel_to_kernel returns (shell, iopub, stdin, hb, control) local ports, in that order.
    for name, port in zip(("shell_port", "iopub_port", "stdin_port", "hb_port",
                           "control_port"), ports, strict=True):
        local[name] = int(port)
    try:
        alive = sum(1 for port in ports if pids_mentioning(f"{LOOPBACK}:{port}:"))
        if alive < len(ports):
            raise RuntimeError(
                f"{alive} of its {len(ports)} `ssh -f` tunnels still run when it returns (the "
                "others got SIGHUP as pexpect's pty session ended; see the module docstring)")
        async with _session(local, "tunnel_to_kernel", timeout=PEER_START_TIMEOUT) as session:
            yield session
    finally:
        for port in ports:
            await asyncio.to_thread(kill_leftovers, f"{LOOPBACK}:{port}:")


def render_table(rows: list[Row]) -> str:
    direct = next((r.p50 for r in rows if r.path == DIRECT and r.times), None)
    table: list[list[object]] = []
    for row in rows:
        goal = "—" if row.goal_ratio is None else f"≤ {row.goal_ratio:g}x direct"
        if row.error is not None or not row.times:
            table.append([row.path, f"error: {row.error or 'no samples'}", "—", "—", goal, "—"])
            continue
        ratio = row.p50 / direct if direct is not None else None
        met = goal_met(ratio, row.goal_ratio)
        table.append([row.path, f"{row.p50 * 1e3:.1f}", f"{row.p95 * 1e3:.1f}",
                      fmt_ratio(row.p50, direct), goal,
                      "? (no direct figure)" if met == "?" else met])
    header = ["path", "p50 ms", "p95 ms", "ratio to direct (p50)", "goal", "met"]
    return markdown_table(header, table, "lrrrll")


if __name__ == "__main__":
    sys.exit(main())

