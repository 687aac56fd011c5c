"""rtui's paths, through the core as the TUI and the CLI use it (``HostKernels``, the login
node's connection and agent already up): a kernel as a SLURM job (``submit_slurm`` then
``wait_slurm``, which is ``start_slurm`` with the submit's instant seen), a kernel on the login
node itself (``start``), and the ``1+1`` round trip to either."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.slurm.scheduler import JobInstants
from rtui.core.kernels.events import ExecuteReply, ExecuteResult
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.kernels.session import KernelSession
from rtui.core.slurm.jobs import JobInfo
from rtui.core.slurm.settings import SlurmSettings

__all__ = [
    "CODE",
    "MISSING",
    "STAGES",
    "Started",
    "check_answer",
    "login_start",
    "roundtrip",
    "slurm_start",
    "stop_login",
    "stop_slurm",
    "there",
]

MISSING = "not there yet"
CODE = "1+1"
START_TIMEOUT = 120.0  # one kernel's start (a job's included)
STOP_TIMEOUT = 60.0  # one kernel's shutdown or its job's cancel
SAMPLE_TIMEOUT = 10.0  # one round trip

# A SLURM start's stages, in the order they happen, as seconds after the submit; how each is
# known is in its label.
SUBMIT_ANSWERED = "sbatch answered (`submit_slurm` returned: job dir written, sbatch run)"
CTLD_SUBMITTED = "slurmctld took the job (its log)"
ALLOCATED = "slurmctld allocated the node: RUNNING (its log, `sched: Allocate`)"
LAUNCHED = "slurmd launched the batch script (its log)"
SEEN_RUNNING = "rtui heard RUNNING (the first such progress event)"
KERNEL_JSON = "the runner wrote kernel.json (its mtime in the job dir)"
CONNECTION_COPY = "the agent copied it as the connection file (its mtime)"
KEEPER = "the keeper on the login node listens (its socket's mtime)"
AGENT_KEEPER = "the keeper answered the agent (agent's `timings`)"
AGENT_ANSWERED = "the kernel answered its keeper: ready (agent's `timings`)"
WAIT_ANSWER = "the agent's answer to slurm_wait reached rtui"
READY = "connected: a RemoteKernel that answered (`wait_slurm` returned)"
STAGES = (CTLD_SUBMITTED, SUBMIT_ANSWERED, ALLOCATED, LAUNCHED, KERNEL_JSON, CONNECTION_COPY,
          KEEPER, AGENT_KEEPER, AGENT_ANSWERED, SEEN_RUNNING, WAIT_ANSWER, READY)
# the agent's own instants in slurm_wait's answer (epoch seconds), when it gives them
_AGENT_TIMINGS = {"keeper": AGENT_KEEPER, "answered": AGENT_ANSWERED}


def there() -> bool:
    """The core's SLURM kernels (issue 19's core part) are written."""
    return hasattr(HostKernels, "submit_slurm") and hasattr(HostKernels, "wait_slurm")


@dataclass
class Started:
    """A kernel started and answering: how long it took, and its stages (seconds after the
    submit, None when not seen); ``job_id`` for a SLURM kernel."""

    seconds: float
    kernel: RemoteKernel
    job_id: str | None = None
    submitted: float = 0.0  # epoch seconds of the submit
    stages: dict[str, float | None] = field(default_factory=dict)

    def add_daemons(self, instants: JobInstants) -> None:
        """The daemons' instants of its job, as seconds after the submit."""
        for stage, when in ((CTLD_SUBMITTED, instants.submitted),
                            (ALLOCATED, instants.allocated), (LAUNCHED, instants.launched)):
            self.stages[stage] = None if when is None else when - self.submitted


def slurm_settings(cpus: int) -> SlurmSettings:
    """The job's settings: the default partition, ``cpus`` CPUs, no time limit."""
    return SlurmSettings(cpus=cpus)


async def slurm_start(kernels: HostKernels, *, settings: SlurmSettings | None,
                      login_home: Path) -> Started:
    """Submit a kernel as a job and wait for it to answer; the stages seen on the way (the
    agent's progress events here, the files it and the runner wrote on the login node, whose
    home is this machine's: read right away, the cancel removes them)."""
    service: Any = kernels  # the core's SLURM methods (typed there once it lands)
    seen_running: list[float] = []

    def on_update(job: JobInfo) -> None:
        if not seen_running and job.running:
            seen_running.append(time.time())

    submitted = time.time()
    started = time.perf_counter()
    with _answer_clock(kernels) as wait_answer:
        async with asyncio.timeout(START_TIMEOUT):
            job = await service.submit_slurm(python=sys.executable, settings=settings)
            answered = time.time()
            kernel: RemoteKernel = await service.wait_slurm(job.kernel_id, on_update=on_update)
    seconds = time.perf_counter() - started
    ready = submitted + seconds
    job_dir = login_home / ".local" / "share" / "rtui" / "jobs" / kernel.id
    stages: dict[str, float | None] = {
        SUBMIT_ANSWERED: answered - submitted,
        SEEN_RUNNING: seen_running[0] - submitted if seen_running else None,
        KERNEL_JSON: _mtime(job_dir / "kernel.json", submitted),
        CONNECTION_COPY: _mtime(kernel.connection_file, submitted),
        KEEPER: _mtime(kernel.keeper, submitted),
        WAIT_ANSWER: wait_answer["at"] - submitted if "at" in wait_answer else None,
        READY: ready - submitted,
    }
    timings = wait_answer.get("timings")
    for key, stage in _AGENT_TIMINGS.items():
        when = timings.get(key) if isinstance(timings, dict) else None
        stages[stage] = float(when) - submitted if isinstance(when, (int, float)) else None
    slurm = getattr(kernel, "slurm", None)
    job_id = str(getattr(slurm, "job_id", None) or getattr(job.job, "job_id", ""))
    return Started(seconds, kernel, job_id, submitted, stages)


@contextlib.contextmanager
def _answer_clock(kernels: HostKernels) -> Iterator[dict[str, Any]]:
    """While open, the instant the agent's answer to slurm_wait reaches this process ("at")
    and the instants the answer carries ("timings"): the agent client's ``request`` is
    wrapped on this one object (the benchmark's own instrument; rtui's code is untouched)."""
    agent = kernels.agent
    request = agent.request
    seen: dict[str, Any] = {}

    async def timed(op: str, args: dict[str, Any] | None = None, **options: Any) -> Any:
        answer = await request(op, args, **options)
        if op == "slurm_wait":
            seen["at"] = time.time()
            if isinstance(answer, dict):
                seen["timings"] = answer.get("timings")
        return answer

    setattr(agent, "request", timed)  # noqa: B010 (mypy: a method cannot be assigned to)
    try:
        yield seen
    finally:
        delattr(agent, "request")


def _mtime(path: str | Path | None, since: float) -> float | None:
    """When ``path`` (on the login node: this machine) was last written, after ``since``."""
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime - since
    except OSError:
        return None


async def stop_slurm(kernels: HostKernels, kernel: RemoteKernel) -> None:
    """Detach and cancel the kernel's job (the agent waits until it left the node)."""
    service: Any = kernels
    with contextlib.suppress(Exception):
        await kernels.detach(kernel)
    await asyncio.wait_for(service.cancel_slurm(kernel.id), STOP_TIMEOUT)


async def login_start(kernels: HostKernels, *, transport: str | None = None) -> Started:
    """A kernel on the login node itself (``HostKernels.start``, as the TUI's console on a
    host), on the host's usual sockets or, with ``transport``, on those."""
    started = time.perf_counter()
    async with asyncio.timeout(START_TIMEOUT):
        kernel = await kernels.start(python=sys.executable, transport=transport)
    return Started(time.perf_counter() - started, kernel)


async def stop_login(kernels: HostKernels, kernel: RemoteKernel) -> None:
    await asyncio.wait_for(kernels.shutdown(kernel), STOP_TIMEOUT)


async def roundtrip(session: KernelSession) -> float:
    """Seconds from the execute_request of ``1+1`` until its execute_reply and the idle status
    are both in (``KernelSession.execute`` iterated to its end), as benchmarks.roundtrip."""
    last = None
    async with asyncio.timeout(SAMPLE_TIMEOUT):
        started = time.perf_counter()
        async for event in session.execute(CODE):
            last = event
        elapsed = time.perf_counter() - started
    if not isinstance(last, ExecuteReply) or last.status != "ok":
        raise RuntimeError(f"`{CODE}` did not end with an ok execute_reply: {last!r}")
    return elapsed


async def check_answer(session: KernelSession) -> None:
    """The kernel really answers: `1+1` gives 2."""
    async with asyncio.timeout(SAMPLE_TIMEOUT):
        results = [e async for e in session.execute(CODE) if isinstance(e, ExecuteResult)]
    text = results[0].data.get("text/plain") if results else None
    if text != "2":
        raise RuntimeError(f"`{CODE}` answered {text!r}, not '2'")
