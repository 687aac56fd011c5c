"""The console's launch on a checked host, in pairs: what Enter does under the UI
(``HostKernels.start`` on a host whose connection, agent and routes are up, as the check's
prefetch leaves them) through the far link and through the near one at the same time, so
both meet the same load; the kernel's own start is in both and cancels out of the pair's
difference. The tmux console's launch (consoles.py) cannot be paired and carries the
load's noise, which on a loaded machine is more than the round trips counted."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import bench_host, close_rtui, isolated_env, rtui_kernels
from benchmarks.farlink.figures import NEAR, Series
from benchmarks.farlink.host import HOST, NEAR_HOST, FarHost
from rtui.core.kernels.service import RemoteKernel

__all__ = ["LABEL", "measure_launch"]

LABEL = "rtui: launch on a checked host, no UI (`HostKernels.start`)"
STEP_TIMEOUT = 120.0


def measure_launch(host: FarHost, runs: int, far: float) -> Series:
    """``runs`` pairs (after one warm-up pair, not kept)."""
    row = Series(LABEL, ours=True, far=far)
    host.link.set_delay(far)
    try:
        with isolated_env(host.home):
            for run in range(runs + 1):
                try:
                    far_time, near_time = _pair(host)
                except Exception as exc:
                    row.error = f"{type(exc).__name__}: {exc}"
                    break
                if run:
                    row.times[far].append(far_time)
                    row.times[NEAR].append(near_time)
                    row.pairs.append(far_time - near_time)
    finally:
        host.link.set_delay(NEAR)
    return row


def _pair(host: FarHost) -> tuple[float, float]:
    """One launch through each link, started together once both hosts are checked."""
    both_checked = threading.Barrier(2, timeout=STEP_TIMEOUT)
    sides = ((host.link.port, HOST), (host.near_link.port, NEAR_HOST))
    with ThreadPoolExecutor(2) as pool:
        far, near = (pool.submit(asyncio.run, _launch(host, port, name, both_checked))
                     for port, name in sides)
        return far.result(), near.result()


async def _launch(host: FarHost, port: int, name: str, both_checked: threading.Barrier
                  ) -> float:
    conn, kernels = rtui_kernels(bench_host(host.server, port=port, name=name))
    kernel: RemoteKernel | None = None
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            await kernels.routes.ready()  # connected, the agent greeted, the routes decided
            await asyncio.to_thread(both_checked.wait)
            started = time.perf_counter()
            kernel = await kernels.start(python=sys.executable)
            return time.perf_counter() - started
    finally:
        await close_rtui(conn, kernels, kernel)
