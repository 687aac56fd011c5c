"""``python -m benchmarks.slurm``: start the cluster and its login node, time the starts in
rounds (each path in turn), then the round trips in blocks (each kernel in turn), print the
tables, stop everything."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from benchmarks.common import (
    bench_host,
    close_rtui,
    describe,
    isolated_env,
    machine_line,
    rtui_kernels,
    trust,
)
from benchmarks.slurm.report import Part, Row, render_rounds, render_stages, render_starts
from benchmarks.slurm.rtui_side import (
    ALLOCATED,
    CODE,
    MISSING,
    STAGES,
    Started,
    check_answer,
    login_start,
    roundtrip,
    slurm_settings,
    slurm_start,
    stop_login,
    stop_slurm,
    there,
)
from benchmarks.slurm.scheduler import (
    batch_kernel,
    batch_start,
    cluster_line,
    job_instants,
    login_node,
    srun_true,
    wait_idle,
)
from rtui.core.kernels.service import HostKernels, RemoteKernel
from tests.harness.slurm import SLURM_MISSING_MESSAGE, SlurmCluster
from tests.harness.sshd import SSHD, SSHD_MISSING_MESSAGE, sshd_available

__all__ = ["main"]

RUNS, QUICK_RUNS = 7, 1
SAMPLES, QUICK_SAMPLES = 300, 20
START_GOAL = 2.0  # seconds over `srun true`
ROUND_GOAL = 1.25  # x the login node's kernel
JOB_CPUS = 1
WARMUP, BLOCK_WARMUP, ROUNDS = 10, 3, 10
SETUP_TIMEOUT = 120.0

SRUN = "`srun true` on the idle node (the scheduler's own, from the login node)"
BATCH = ("`sbatch --wrap 'date +%s.%N'`: submit -> its script runs on the node (the batch "
         "path rtui's jobs take; scale)")
BATCH_KERNEL = ("by hand: `sbatch` a bare ipykernel (`-f F`, ports chosen here) -> its first "
                "kernel_info_reply (the batch path + the kernel's boot; scale)")
RTUI_SLURM = "rtui: submit -> kernel ready as a SLURM job (`submit_slurm` + `wait_slurm`)"
RTUI_LOGIN = "rtui: a kernel on the login node (`HostKernels.start`, no scheduler; scale)"
# The same starts from slurmctld's allocation (its log): without the scheduler's pass.
AFTER_BATCH = "`sbatch --wrap`: allocated -> its script runs"
AFTER_BATCH_KERNEL = "by hand, a bare ipykernel: allocated -> its first kernel_info_reply"
AFTER_RTUI = "rtui: allocated -> kernel ready (a RemoteKernel that answered)"
AFTER = {BATCH: AFTER_BATCH, BATCH_KERNEL: AFTER_BATCH_KERNEL, RTUI_SLURM: AFTER_RTUI}
RT_LOGIN = "on the login node (`HostKernels.start`, its usual Unix sockets)"
RT_SLURM = "a SLURM job on the node (TCP to the node's address through the login node)"
RT_LOGIN_TCP = "on the login node on TCP (`transport=\"tcp\"`; scale)"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class Bench:
    """One run's state: the cluster, the login node, rtui's service for it, the tables."""

    def __init__(self, cluster: SlurmCluster, server: SSHD, kernels: HostKernels,
                 scratch: Path) -> None:
        self.cluster, self.server, self.kernels, self.scratch = cluster, server, kernels, scratch
        self.settings = slurm_settings(JOB_CPUS) if there() else None
        self.starts = Part("", [Row(SRUN, reference=True), Row(BATCH), Row(BATCH_KERNEL),
                                Row(RTUI_SLURM, goal=START_GOAL), Row(RTUI_LOGIN)])
        self.stages = Part("", [Row(stage) for stage in STAGES])
        self.after = Part("", [Row(AFTER_BATCH), Row(AFTER_BATCH_KERNEL, reference=True),
                               Row(AFTER_RTUI)])
        self._last_stages: dict[str, float | None] = {}  # of the last rtui SLURM start
        self._last_after: float | None = None  # the last start's seconds after allocation
        if not there():
            self.row(RTUI_SLURM).error = f"{MISSING} (rtui.core: HostKernels.submit_slurm)"
            for row in (*self.stages.rows, self.after.rows[2]):
                row.error = MISSING

    def row(self, label: str) -> Row:
        return next(row for row in self.starts.rows if row.label == label)

    def after_row(self, label: str) -> Row:
        return next(row for row in self.after.rows if row.label == label)

    async def idle(self) -> None:
        await asyncio.to_thread(wait_idle, self.cluster)

    async def srun(self) -> float:
        return await asyncio.to_thread(srun_true, self.cluster)

    async def batch(self) -> float:
        run = await asyncio.to_thread(batch_start, self.cluster, self.scratch)
        await self.idle()
        self._last_after = await asyncio.to_thread(run.after_allocation, self.cluster)
        return run.seconds

    async def batch_kernel(self) -> float:
        run = await asyncio.to_thread(batch_kernel, self.cluster, self.scratch)
        self._last_after = await asyncio.to_thread(run.after_allocation, self.cluster)
        return run.seconds

    async def rtui_slurm(self) -> float:
        started = await slurm_start(self.kernels, settings=self.settings,
                                    login_home=self.server.remote_home)
        try:
            await check_answer(started.kernel.session)
        finally:
            await stop_slurm(self.kernels, started.kernel)
            await self.idle()
        if started.job_id:
            started.add_daemons(await asyncio.to_thread(job_instants, self.cluster,
                                                        started.job_id))
        self._last_stages = started.stages
        allocated = started.stages.get(ALLOCATED)
        self._last_after = None if allocated is None else started.seconds - allocated
        return started.seconds

    async def rtui_login(self) -> float:
        started = await login_start(self.kernels)
        try:
            await check_answer(started.kernel.session)
        finally:
            await stop_login(self.kernels, started.kernel)
        return started.seconds

    async def starts_round(self, *, number: int, kept: bool) -> None:
        """Every start path once, in an order that turns each round."""
        paths: list[tuple[Row, Callable[[], Awaitable[float]]]] = [
            (self.row(SRUN), self.srun), (self.row(BATCH), self.batch),
            (self.row(BATCH_KERNEL), self.batch_kernel),
            (self.row(RTUI_SLURM), self.rtui_slurm), (self.row(RTUI_LOGIN), self.rtui_login)]
        shift = number % len(paths)
        for row, path in paths[shift:] + paths[:shift]:
            if row.error is not None:
                continue
            self._last_stages, self._last_after = {}, None
            try:
                seconds = await path()
            except Exception as exc:  # its row says why; the others go on
                row.fail(f"{'warm-up' if not kept else 'run'}: {describe(exc)}")
                with contextlib.suppress(Exception):
                    await self.idle()
                continue
            if kept:
                row.times.append(seconds)
                for stage in self.stages.rows:
                    value = self._last_stages.get(stage.label)
                    if value is not None:
                        stage.times.append(value)
                if row.label in AFTER and self._last_after is not None:
                    self.after_row(AFTER[row.label]).times.append(self._last_after)
        print(f"  (starts: round {number + 1} done, load {load_average()})", file=sys.stderr,
              flush=True)

    async def round_trips(self, samples: int) -> Part:
        """Both kernels up at once, ``samples`` round trips each in blocks taking them in
        turn (a different order each round)."""
        rows = [Row(RT_LOGIN, reference=True), Row(RT_SLURM, goal=ROUND_GOAL),
                Row(RT_LOGIN_TCP)]
        part = Part(f"`{CODE}` round trip (execute_reply + idle on iopub) through rtui's "
                    f"session, {samples} per kernel in blocks taking the kernels in turn",
                    rows, [load_average()])
        kernels: dict[str, RemoteKernel | None] = {}
        starters: dict[str, Callable[[], Awaitable[Started]]] = {
            RT_LOGIN: lambda: login_start(self.kernels),
            RT_SLURM: lambda: slurm_start(self.kernels, settings=self.settings,
                                          login_home=self.server.remote_home),
            RT_LOGIN_TCP: lambda: login_start(self.kernels, transport="tcp"),
        }
        if not there():
            rows[1].error = f"{MISSING} (rtui.core: HostKernels.submit_slurm)"
        try:
            for row in rows:
                if row.error is None:
                    try:
                        started = await starters[row.label]()
                        kernels[row.label] = started.kernel
                        await check_answer(started.kernel.session)
                    except Exception as exc:
                        row.fail(f"start: {describe(exc)}")
            for index, block in enumerate(_blocks(samples)):
                live = [row for row in rows if row.error is None]
                shift = index % len(live) if live else 0
                for row in live[shift:] + live[:shift]:
                    kernel = kernels[row.label]
                    assert kernel is not None
                    await _block(row, kernel, block, first=index == 0)
        finally:
            for label, kernel in kernels.items():
                if kernel is None:
                    continue
                with contextlib.suppress(Exception):
                    if label == RT_SLURM:
                        await stop_slurm(self.kernels, kernel)
                    else:
                        await stop_login(self.kernels, kernel)
        part.load.append(load_average())
        return part


def _blocks(samples: int) -> list[int]:
    """Samples per round: ``ROUNDS`` rounds of about ``samples / ROUNDS`` (10 at least)."""
    rounds = max(1, min(ROUNDS, samples // 10))
    return [samples // rounds + (1 if i < samples % rounds else 0) for i in range(rounds)]


async def _block(row: Row, kernel: RemoteKernel, count: int, *, first: bool) -> None:
    """A few discarded round trips, then ``count`` kept; a failure ends the row."""
    try:
        for _ in range(WARMUP if first else BLOCK_WARMUP):
            await roundtrip(kernel.session)
        times = [await roundtrip(kernel.session) for _ in range(count)]
    except Exception as exc:
        row.fail(describe(exc))
        return
    row.times.extend(times)


async def measure(cluster: SlurmCluster, server: SSHD, scratch: Path, *, runs: int,
                  samples: int, quick: bool) -> list[Part]:
    """Connect to the login node (not timed), then every table: the starts, their stages,
    the round trips."""
    conn, kernels = rtui_kernels(bench_host(server, name="login"))
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            await conn.connect()
            await kernels.hello()
            await kernels.routes.ready()
        bench = Bench(cluster, server, kernels, scratch)
        bench.starts.load.append(load_average())
        if not quick:  # the first of everything (imports, page cache, the routes) untimed
            await bench.starts_round(number=0, kept=False)
        for number in range(runs):
            await bench.starts_round(number=number, kept=True)
        bench.starts.load.append(load_average())
        bench.stages.load = bench.after.load = bench.starts.load
        warm = "" if quick else ", after an untimed first round"
        bench.starts.title = (
            f"Submit -> ready on the idle node: median of {runs}, the paths in turn"
            f"{warm}; the node idle before each (every job gone)")
        bench.stages.title = (
            f"Where rtui's SLURM start goes: each stage's instant after the submit, the same "
            f"{runs} runs (the daemons' logs are stamped to the ms)")
        bench.after.title = (
            "The same starts from slurmctld's allocation of the node (its log) instead of "
            "the submit: without the scheduler's pass, which falls anywhere in 0-1 s here")
        rounds = await bench.round_trips(samples)
        return [bench.starts, bench.after, bench.stages, rounds]
    finally:
        await close_rtui(conn, kernels, None)


def run(*, runs: int, samples: int, quick: bool) -> tuple[str, list[Part]]:
    """Start the cluster and its login node, measure, stop everything."""
    with tempfile.TemporaryDirectory(prefix="rtui-bench-slurm-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        with isolated_env(root / "client") as home, login_node(root) as (cluster, server):
            trust(server, home)
            scratch = root / "scratch"
            scratch.mkdir()
            parts = asyncio.run(measure(cluster, server, scratch, runs=runs,
                                        samples=samples, quick=quick))
            return cluster_line(cluster), parts


def main(argv: Sequence[str] | None = None) -> int:
    import benchmarks.slurm

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slurm",
        description=(benchmarks.slurm.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK_RUNS} start of each path, no warm-up, "
                             f"{QUICK_SAMPLES} round trips each")
    parser.add_argument("--runs", type=int, help=f"timed starts of each path (default {RUNS})")
    parser.add_argument("--samples", type=int,
                        help=f"round trips to each kernel (default {SAMPLES})")
    args = parser.parse_args(argv)
    runs = args.runs or (QUICK_RUNS if args.quick else RUNS)
    samples = args.samples or (QUICK_SAMPLES if args.quick else SAMPLES)
    if runs < 1 or samples < 2:
        parser.error("--runs must be at least 1 and --samples at least 2")
    if not sshd_available():
        print(f"skipped: {SSHD_MISSING_MESSAGE}", flush=True)
        return 0
    print(machine_line(), flush=True)
    print(f"Load average at the start: {load_average()}", flush=True)
    if not there():
        print(f"(rtui's SLURM kernels are {MISSING}: their rows are left empty)", flush=True)
    started = time.perf_counter()
    try:
        cluster, parts = run(runs=runs, samples=samples, quick=args.quick)
    except RuntimeError as exc:
        if str(exc) == SLURM_MISSING_MESSAGE:
            print(f"skipped: {SLURM_MISSING_MESSAGE}", flush=True)
            return 0
        raise
    print(cluster, flush=True)
    starts, after, stages, rounds = parts
    print("\n\n".join(["", render_starts(starts),
                        render_starts(after, versus="the by-hand kernel", goals=False),
                        render_stages(stages), render_rounds(rounds)]))
    print(f"\n(slurm: {time.perf_counter() - started:.1f} s in all; load average at the end "
          f"{load_average()})", flush=True)
    crashed = any(row.error is not None and not row.error.startswith(MISSING)
                  for part in parts for row in part.rows)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
