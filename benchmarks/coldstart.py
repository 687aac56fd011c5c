"""Cold start of a remote kernel and reattach after a drop: rtui against the OpenSSH flow.

``python -m benchmarks.coldstart [--runs N] [--reattach-runs N] [--quick]``

**Cold start**: from "connect to the host" until the execute_reply of ``1+1``, the kernel's
environment already present on the host (the remote Python is this interpreter, which has
ipykernel). Each run starts from nothing and ends with everything stopped:

1. **rtui**: a fresh ``HostConnection`` + ``HostKernels(conn, python=sys.executable)``:
   ``.start(python=...)`` in the Python its environments offer
   (environments, launch, connection file over SFTP, five forwards, a KernelSession) +
   ``session.execute('1+1')`` iterated to its end (reply and idle). *Warm*: rtui's agent is
   already on the host (it is cached there by content hash); *first ever*: the remote HOME is
   wiped before the run, so the agent is uploaded and IPython makes its profile.
2. **manual OpenSSH**, what a person scripts: ``ssh host 'cd /tmp; setsid python -m
   ipykernel_launcher -f F >/dev/null 2>&1 </dev/null & echo $!'`` (with ``cd /tmp && setsid
   ... &`` the shell backgrounds a subshell that keeps ssh's pipes open: ssh never returns),
   ``ssh host cat F`` until the file is there (no sleep
   between polls: the best case), one ``ssh -N -L`` process with the five forwards, then a
   jupyter_client ``AsyncKernelClient`` that sends ``1+1`` at once (no ``wait_for_ready``,
   which would add at least 0.2 s of iopub flushing) and waits for the execute_reply.

The runs are taken in rounds: a first-ever rtui run, then a warm rtui run and a manual run in
alternating order, so the drift of a shared machine hits both alike. One discarded run of each
comes first (this process's own warm-up).

**Reattach**: a kernel is running through rtui over a TCP relay in front of sshd; ``x = 1``
is set. The relay resets the connection (``TCPRelay.cut()``); measured from the drop until
``x`` answers ``1`` again on the same session (rtui reconnects at once and re-makes the
forwards on the same local ports; then ``session.wait_ready()``, which waits until shell
answers and iopub carries traffic, and ``x``). Every other drop sends ``x`` the moment the
forwards are back instead, without ``wait_ready``: the reply comes, but the result is lost
whenever the iopub subscription has not reconnected yet; those losses are counted. The manual
equivalent: the ``ssh -N -L`` process dies with the link; a new one and a new client, then
``x``.

Everything runs on 127.0.0.1 (a real OpenSSH sshd from the test harness) with a throwaway HOME
and no ssh-agent, and is stopped at the end. Exit 0 whatever the figures; non-zero if a path
crashed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo

from benchmarks.common import (
    LOOPBACK,
    TIMING_ALIGN,
    TimedRow,
    bench_host,
    close_rtui,
    describe,
    goal_met,
    isolated_env,
    kill_leftovers,
    kill_pid,
    machine_line,
    markdown_table,
    openssh_forward,
    problem_cells,
    rtui_kernels,
    runs_parser,
    runs_wanted,
    ssh_options,
    stop_process,
    timing_cells,
    timing_header,
    write_known_hosts,
)
from rtui.core.config.model import Settings
from rtui.core.kernels.choice import Ask, Run, choose_environment
from rtui.core.kernels.events import ExecuteReply, ExecuteResult
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.kernels.session import KernelSession
from tests.harness.relay import TCPRelay
from tests.harness.sshd import SSHD, start_sshd

__all__ = ["main"]

DEFAULT_RUNS = 10
QUICK_RUNS = 2
GOAL_WARM = 1.0  # seconds: rtui's warm cold start
GOAL_REATTACH = 0.25  # seconds: drop -> code runs again on the same session
STEP_TIMEOUT = 60.0  # seconds for one whole run before the path counts as crashed
SETTLE = 0.3  # seconds between reattach samples

RTUI_WARM = "rtui, warm (agent already on the host)"
RTUI_FIRST = "rtui, first ever (fresh remote HOME: agent upload, IPython profile)"
MANUAL = "manual OpenSSH: ssh launch, poll `ssh cat F`, `ssh -N -L` x5, jupyter_client"
RTUI_REATTACH = "rtui: drop -> `x` answered on the same session (after `wait_ready`)"
RTUI_RESTORED = "rtui: drop -> forwards restored (part of the above)"
RTUI_AT_ONCE = "rtui: drop -> `x` sent the moment the forwards are back (no `wait_ready`)"
MANUAL_REATTACH = "manual: drop -> new `ssh -N -L` x5 + new client -> `x` answered"


@dataclass
class Row(TimedRow):
    """A path: its label says which."""

    reference: bool = False
    stages: list[dict[str, float]] = field(default_factory=list)
    tries: int = 0  # "at once" reattach: drops tried, and how many lost the result
    lost: int = 0


@dataclass
class Target:
    """How to log in: the sshd (or the relay in front of it), the client side's files."""

    server: SSHD
    home: Path
    root: Path
    port: int

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    def ssh(self, command: str) -> list[str]:
        ssh = shutil.which("ssh")
        if ssh is None:
            raise RuntimeError("no `ssh` client on PATH (apt-get install -y openssh-client)")
        options = ssh_options(key=self.server.client_key, known_hosts=self.known_hosts,
                              port=self.port)
        return [ssh, *options, f"{self.server.user}@{LOOPBACK}", command]


# ------------------------------------------------------------------------------ running


def main(argv: Sequence[str] | None = None) -> int:
    parser = runs_parser("python -m benchmarks.coldstart", __doc__,
                         what="cold starts per path", default=DEFAULT_RUNS, quick=QUICK_RUNS)
    parser.add_argument("--reattach-runs", type=int, default=None,
                        help="drops per path (default: as --runs)")
    args = parser.parse_args(argv)
    runs = runs_wanted(parser, args, default=DEFAULT_RUNS, quick=QUICK_RUNS)
    drops = args.reattach_runs or runs
    if drops < 1:
        parser.error("--reattach-runs must be at least 1")

    print(machine_line(), flush=True)
    started = time.perf_counter()
    cold, reattach = measure(runs, drops)
    print(
        f"\nCold start, \"connect to host\" -> execute_reply of `1+1` (environment present): "
        f"{runs} runs per path in rounds, after one discarded run each; "
        f"{time.perf_counter() - started:.1f} s in all\n"
    )
    print(render_table(cold, "manual"))
    print()
    print(render_stages(cold))
    print(f"\nReattach after the SSH connection drops (TCP relay reset), {drops} drops per "
          "path; the kernel keeps `x = 1`\n")
    print(render_table(reattach, "manual"))
    print(flush=True)
    return 1 if any(row.error for row in (*cold, *reattach)) else 0


def measure(runs: int, drops: int) -> tuple[list[Row], list[Row]]:
    """Start sshd, take every figure, stop everything (even on errors)."""
    cold = [Row(RTUI_WARM, goal=GOAL_WARM), Row(RTUI_FIRST), Row(MANUAL, reference=True)]
    reattach = [Row(RTUI_REATTACH, goal=GOAL_REATTACH), Row(RTUI_RESTORED), Row(RTUI_AT_ONCE),
                Row(MANUAL_REATTACH, reference=True)]
    with tempfile.TemporaryDirectory(prefix="rtui-bench-coldstart-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        server: SSHD | None = None
        try:
            with isolated_env(root / "home") as home:
                server = start_sshd(root / "sshd")
                write_known_hosts(home, [server.known_hosts_line()])
                (root / "manual").mkdir()
                target = Target(server, home, root, server.port)
                asyncio.run(_measure_all(target, cold, reattach, runs, drops))
        except Exception as exc:  # set-up failed: every path without a figure says why
            for row in (*cold, *reattach):
                if not row.times and row.error is None:
                    row.error = f"set-up failed: {describe(exc)}"
        finally:
            if server is not None:
                server.stop()  # not close(): its remote HOME is under root, killed below
            kill_leftovers(str(root))  # detached kernels, ssh: anything that names our dir
    return cold, reattach


async def _measure_all(
    target: Target, cold: list[Row], reattach: list[Row], runs: int, drops: int
) -> None:
    warm, first, manual = cold
    counter = iter(range(1_000_000))
    paths: dict[str, Callable[[], Awaitable[tuple[float, dict[str, float]]]]] = {
        RTUI_WARM: lambda: _rtui_cold(target),
        RTUI_FIRST: lambda: _rtui_cold(target, fresh_home=True),
        MANUAL: lambda: _manual_cold(target, next(counter)),
    }
    for row in (warm, manual):  # discarded: this process's own first-time costs
        await _sample(row, paths[row.label], keep=False)
    for index in range(runs):
        order = [first, warm, manual] if index % 2 == 0 else [first, manual, warm]
        for row in order:
            if row.error is None:
                await _sample(row, paths[row.label])
    await _rtui_reattach(target, reattach[:3], drops)
    await _manual_reattach(target, reattach[3], drops)


async def _sample(
    row: Row, run: Callable[[], Awaitable[tuple[float, dict[str, float]]]], *,
    keep: bool = True,
) -> None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            elapsed, stages = await run()
    except Exception as exc:  # this path crashed: say so in its row, measure the others
        row.error = f"run {len(row.times) + 1}: {describe(exc)}"
        return
    if keep:
        row.times.append(elapsed)
        row.stages.append(stages)


# ----------------------------------------------------------------------------- rtui side


async def _environment(kernels: HostKernels) -> str:
    """The Python a kernel starts in, chosen as a console without a check does: from the
    host's environments, listed (the cost measured before the launch)."""
    decision = choose_environment(None, None, await kernels.environments(), None, pick=False)
    if isinstance(decision, Ask):
        return decision.options[0].python
    if not isinstance(decision, Run):
        raise RuntimeError("no Python with ipykernel on the benchmark host")
    return decision.python


async def _rtui_cold(target: Target, *, fresh_home: bool = False) -> tuple[float, dict[str, float]]:
    if fresh_home:
        remote_home = target.server.remote_home
        await asyncio.to_thread(shutil.rmtree, remote_home, ignore_errors=True)
        remote_home.mkdir(parents=True)
    stages: dict[str, float] = {}
    kernel: RemoteKernel | None = None
    started = time.perf_counter()
    conn, kernels = rtui_kernels(bench_host(target.server, port=target.port))
    try:
        await conn.connect()
        stages["connect"] = time.perf_counter() - started
        kernel = await kernels.start(python=await _environment(kernels))
        stages["start"] = time.perf_counter() - started - stages["connect"]
        await _rtui_execute(kernel.session, "1+1", "2")
        elapsed = time.perf_counter() - started
        stages["1+1"] = elapsed - stages["connect"] - stages["start"]
        if fresh_home and not list((target.server.remote_home / ".cache").glob("rtui/agent-*")):
            raise RuntimeError("no agent in the fresh remote HOME after the run")
        return elapsed, stages
    finally:
        await close_rtui(conn, kernels, kernel)


async def _rtui_execute(session: KernelSession, code: str, expected: str | None) -> None:
    """Run ``code`` to its end (reply and idle); its result must be ``expected``."""
    text = await _rtui_result(session, code)
    if expected is not None and text != expected:
        raise RuntimeError(f"`{code}` answered {text!r}, not {expected!r}")


async def _rtui_reattach(target: Target, rows: list[Row], drops: int) -> None:
    """Drops alternate between the two ways of going on: ``wait_ready`` first (the session's
    API for "after a reconnect": kernel_info until shell answers and iopub carries traffic)
    and sending ``x`` the moment the forwards are back (its output is lost when the iopub
    subscription has not reconnected yet: the reply comes, the result does not)."""
    ready_row, restored_row, at_once_row = rows
    relay, relayed = await _relayed(target)
    conn, kernels = rtui_kernels(bench_host(target.server, port=relayed.port),
                                 Settings(reconnect_max_delay=0.5))
    kernel: RemoteKernel | None = None
    restored = asyncio.Event()
    stage = "starting the kernel"
    session_log = logging.getLogger("rtui.core.kernels.session")
    level = session_log.level
    session_log.setLevel(logging.ERROR)  # "no idle status": the losses counted in the table
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            kernel = await kernels.start(python=await _environment(kernels))
            assert kernel.tunnel is not None  # an SSH host's kernel
            kernel.tunnel.on_restored(restored.set)
            stage = "x = 1"
            await _rtui_execute(kernel.session, "x = 1", None)
        for n in range(2 * drops):
            ready_first = n % 2 == 0
            stage = f"drop {n + 1}"
            await asyncio.sleep(SETTLE)
            async with asyncio.timeout(STEP_TIMEOUT):
                restored.clear()
                dropped = time.perf_counter()
                relay.cut()
                await restored.wait()
                back = time.perf_counter()
                if ready_first:
                    await kernel.session.wait_ready(STEP_TIMEOUT)
                text = await _rtui_result(kernel.session, "x")
                answered = time.perf_counter()
            if text not in ("1", None) or (ready_first and text is None):
                raise RuntimeError(f"`x` answered {text!r}, not '1'")
            if ready_first:
                ready_row.times.append(answered - dropped)
                restored_row.times.append(back - dropped)
            else:
                at_once_row.tries += 1
                if text is None:
                    at_once_row.lost += 1
                else:
                    at_once_row.times.append(answered - dropped)
    except Exception as exc:
        for row in rows:
            row.error = f"{stage}: {describe(exc)}"
    finally:
        session_log.setLevel(level)
        await close_rtui(conn, kernels, kernel)
        await relay.close()


async def _rtui_result(session: KernelSession, code: str) -> str | None:
    """Run ``code`` to its end (an ok reply); its result's text, None if none arrived."""
    last = None
    text = None
    async for event in session.execute(code):
        last = event
        if isinstance(event, ExecuteResult):
            text = event.data.get("text/plain")
    if not isinstance(last, ExecuteReply) or last.status != "ok":
        raise RuntimeError(f"`{code}` did not end with an ok execute_reply: {last!r}")
    return None if text is None else str(text)


async def _relayed(target: Target) -> tuple[TCPRelay, Target]:
    """A started TCP relay in front of the sshd (its host key trusted on its port too) and
    the target that logs in through it."""
    relay = TCPRelay(LOOPBACK, target.server.port)
    await relay.start()
    write_known_hosts(target.home, [target.server.known_hosts_line(),
                                    relay.known_hosts_line(target.server.host_key_pub)])
    return relay, Target(target.server, target.home, target.root, relay.port)


# --------------------------------------------------------------------------- manual side


async def _ssh(target: Target, command: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *target.ssh(command), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    finally:
        await stop_process(process)  # cancelled (timeout): do not leave it behind
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def _manual_launch(target: Target, number: int) -> tuple[int, dict[str, Any], int]:
    """Start a detached kernel over ssh, poll for its connection file: (pid, info, polls)."""
    path = target.root / "manual" / f"kernel-bench-{number}.json"
    command = (
        f"cd /tmp; setsid {shlex.quote(sys.executable)} -m ipykernel_launcher "
        f"-f {shlex.quote(str(path))} >/dev/null 2>&1 < /dev/null & echo $!"
    )
    code, out, err = await _ssh(target, command)
    if code != 0 or not out.strip().isdigit():
        raise RuntimeError(f"ssh launch failed ({code}): {err.strip() or out.strip()}")
    pid = int(out.strip())
    polls = 0
    while True:  # what people do: ask for the file until it is there (and complete)
        polls += 1
        code, out, err = await _ssh(target, f"cat {shlex.quote(str(path))}")
        if code == 0 and out.strip():
            with contextlib.suppress(json.JSONDecodeError):
                return pid, json.loads(out), polls
        if code == 255:
            raise RuntimeError(f"ssh failed while polling: {err.strip()}")


async def _manual_execute(info: dict[str, Any], code: str, expression: str | None = None
                          ) -> str | None:
    """A new jupyter_client client sends ``code`` at once and waits for its execute_reply;
    returns ``expression`` evaluated in the reply (user_expressions), if asked."""
    client = AsyncKernelClient()
    client.load_connection_info(cast(KernelConnectionInfo, info))
    client.start_channels(hb=False)
    try:
        expressions = {"v": expression} if expression else {}
        msg_id = client.execute(code, silent=False, user_expressions=expressions)
        while True:
            msg = await client.get_shell_msg(timeout=STEP_TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        content = msg["content"]
        if msg["msg_type"] != "execute_reply" or content.get("status") != "ok":
            raise RuntimeError(f"`{code}` did not end with an ok execute_reply: {content}")
        if not expression:
            return None
        value = content.get("user_expressions", {}).get("v", {})
        return str(value.get("data", {}).get("text/plain"))
    finally:
        client.stop_channels()


def _forward(target: Target, info: dict[str, Any]) -> Any:
    return openssh_forward(port=target.port, user=target.server.user,
                           key=target.server.client_key, known_hosts=target.known_hosts,
                           remote_info=info)


async def _manual_cold(target: Target, number: int) -> tuple[float, dict[str, float]]:
    stages: dict[str, float] = {}
    pid: int | None = None
    started = time.perf_counter()
    try:
        pid, info, polls = await _manual_launch(target, number)
        stages["launch + connection file"] = time.perf_counter() - started
        stages["polls"] = polls
        async with _forward(target, info) as local:
            stages["ssh -L up"] = time.perf_counter() - started - stages[
                "launch + connection file"]
            await _manual_execute(local, "1+1")
            elapsed = time.perf_counter() - started
            stages["1+1"] = elapsed - stages["launch + connection file"] - stages["ssh -L up"]
        return elapsed, stages
    finally:
        if pid is not None:
            await asyncio.to_thread(kill_pid, pid)  # the "remote" is this machine


async def _manual_reattach(target: Target, row: Row, drops: int) -> None:
    relay, relayed = await _relayed(target)
    pid: int | None = None
    stage = "starting the kernel"
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            pid, info, _polls = await _manual_launch(target, 999_999)
            async with _forward(relayed, info) as local:
                await _manual_execute(local, "x = 1")
        for n in range(drops):
            stage = f"drop {n + 1}"
            await asyncio.sleep(SETTLE)
            async with asyncio.timeout(STEP_TIMEOUT):
                async with _forward(relayed, info) as local:
                    await _manual_execute(local, "pass")  # the link is up and used
                    dropped = time.perf_counter()
                    relay.cut()  # ssh dies with its connection
                async with _forward(relayed, info) as local:
                    value = await _manual_execute(local, "x", "x")
                    answered = time.perf_counter()
            if value != "1":
                raise RuntimeError(f"`x` answered {value!r}, not '1'")
            row.times.append(answered - dropped)
    except Exception as exc:
        row.error = f"{stage}: {describe(exc)}"
    finally:
        if pid is not None:
            await asyncio.to_thread(kill_pid, pid)
        await relay.close()


# ------------------------------------------------------------------------------- output


def render_table(rows: list[Row], reference_name: str) -> str:
    reference = next((r.p50 for r in rows if r.reference and r.times), None)
    table = []
    for row in rows:
        goal = "—" if row.goal is None else f"≤ {row.goal:g} s"
        label = row.label
        if row.tries:
            label += f"; result lost in {row.lost}/{row.tries} drops"
        if row.error is not None or not row.times:
            problem = f"error: {row.error}" if row.error else "no samples"
            table.append(problem_cells(label, problem, goal, has_goal=row.goal is not None))
            continue
        table.append(timing_cells(label, row.times, reference=reference, goal=goal,
                                  met=goal_met(row.p50, row.goal)))
    return markdown_table(timing_header("path", reference_name), table, TIMING_ALIGN)


def render_stages(rows: list[Row]) -> str:
    """Where the time goes (p50 of each stage), one line per path."""
    lines = []
    for row in rows:
        if not row.stages:
            continue
        parts = []
        for name in row.stages[0]:
            value = statistics.median(s[name] for s in row.stages)
            parts.append(f"{name} {value:.0f}" if name == "polls"
                         else f"{name} {value * 1e3:.0f} ms")
        lines.append(f"- {row.label.split(':')[0].split(' (')[0]}: {', '.join(parts)}")
    return "Stages (p50):\n" + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
