"""Kernels as SLURM jobs on a login node: submit one, follow it while it waits, cancel it, list
the user's jobs. The agent on the login node runs sbatch/squeue/scancel; HostKernels delegates
here and connects to the kernel, through the login node, once the job runs it.

A wait that ends early (cancelled, timed out, the link lost) leaves the job in the queue, as the
TUI wants (closing a tab asks); :func:`start` is the CLI's one-shot form, which cancels the job
unless its kernel was reached, so that nothing is left queued by mistake.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rtui.core.errors import KernelError, RtuiError
from rtui.core.kernels.records import job_of
from rtui.core.remote.client import AgentError, Progress
from rtui.core.slurm.errors import JobEndedError, JobNotReadyError, SlurmError, slurm_error
from rtui.core.slurm.jobs import JobInfo
from rtui.core.slurm.settings import SlurmSettings

if TYPE_CHECKING:  # the service imports this module
    from rtui.core.kernels.records import RemoteKernel
    from rtui.core.kernels.service import HostKernels

__all__ = ["DEFAULT_WAIT", "JobCallback", "SubmittedJob", "cancel", "jobs", "start", "status",
           "submit", "wait_record"]

log = logging.getLogger(__name__)

JobCallback = Callable[[JobInfo], None]
DEFAULT_WAIT = 86_400.0
"""Seconds a wait follows a pending job by default (a day: a busy cluster's queue)."""
_SUBMIT_TIMEOUT = 60.0  # the agent bounds sbatch at 30 s, and writes the job's files first
_CANCEL_TIMEOUT = 45.0  # the agent waits up to 30 s for the job to leave the queue
_LIST_TIMEOUT = 45.0  # squeue and scontrol, 30 s each at most
_STATUS_TIMEOUT = 15.0
_ANSWER_GRACE = 30.0  # beyond the agent's own wait, for its answer to come back


@dataclass(frozen=True)
class SubmittedJob:
    """A job sbatch accepted: the kernel it will run, and the job as it was then."""

    kernel_id: str
    job: JobInfo


async def submit(kernels: HostKernels, *, python: str, spyder: bool, cwd: str | None,
                 settings: SlurmSettings) -> SubmittedJob:
    """Submit a batch job that starts a kernel in ``python`` on a compute node; answered once
    sbatch took it (JobRefusedError with sbatch's words when it did not)."""
    kind = "spyder" if spyder else "ipykernel"
    args: dict[str, Any] = {
        "python": python, "kind": kind, "slurm": settings.to_agent(),
        "output_buffer_mb": kernels.connection.settings.output_buffer_mb,
    }
    if cwd:
        args["cwd"] = cwd
    env = kernels.reloading.launch_env(kind)
    if env:
        args["env"] = env
    answer = await _request(kernels, "slurm_submit", args, timeout=_SUBMIT_TIMEOUT)
    kernel_id = str(answer["id"])
    return SubmittedJob(kernel_id, JobInfo.from_agent({**answer, "kernel_id": kernel_id}))


async def wait_record(kernels: HostKernels, kernel_id: str, *,
                      on_update: JobCallback | None, timeout: float | None) -> dict[str, Any]:
    """Follow the job of kernel ``kernel_id`` until its kernel is ready: ``on_update`` hears
    each change (state, reason, expected start, node), the last one the job running. The
    agent's launch-shaped record; JobEndedError when the job ended first, JobNotReadyError
    after ``timeout`` seconds (the job keeps its place in the queue)."""
    limit = DEFAULT_WAIT if timeout is None else timeout
    heard: list[JobInfo] = []

    def tell(job: JobInfo) -> None:
        if heard and heard[-1] == job:
            return
        heard.append(job)
        if on_update is not None:
            on_update(job)

    def progress(event: Progress) -> None:
        job = (event.data or {}).get("job")
        if isinstance(job, dict):
            tell(JobInfo.from_agent({**job, "kernel_id": kernel_id}))
        elif heard and event.line:  # the controller does not answer: said as the reason
            line = event.line.partition(": ")[2] if event.line.startswith("job ") else ""
            tell(dataclasses.replace(heard[-1], reason=line or event.line))

    try:
        record: dict[str, Any] = await _request(
            kernels, "slurm_wait", {"kernel_id": kernel_id, "timeout": limit},
            timeout=limit + _ANSWER_GRACE, on_progress=progress)
    except SlurmError as exc:
        if exc.type != "timeout":
            raise
        last = heard[-1].describe() if heard else f"the job of kernel {kernel_id}"
        raise JobNotReadyError(
            f"{last}: its kernel was not ready within {limit:g} s on {kernels.name}; the job "
            f"keeps its place in the queue (`rtui jobs {kernels.name}` shows it, "
            f"`rtui kernel stop {kernels.name} {kernel_id}` cancels it)", type="timeout",
        ) from exc
    job = job_of(record)
    if job is not None and (not heard or _said(heard[-1]) != _said(job)):
        tell(job)  # the last word: running, on its node (unless that was told just now)
    return record


def _said(job: JobInfo) -> tuple[str, str | None, str | None]:
    """What a person sees change in a job: its state, why it waits, where it runs."""
    return job.state, job.reason, job.node


async def cancel(kernels: HostKernels, kernel_id: str) -> JobInfo:
    """Cancel the job of kernel ``kernel_id`` (pending or running) and remove its files; the
    job as it ended."""
    answer = await _request(kernels, "slurm_cancel", {"kernel_id": kernel_id},
                            timeout=_CANCEL_TIMEOUT)
    return JobInfo.from_agent({"state": "CANCELLED", **answer, "kernel_id": kernel_id})


async def jobs(kernels: HostKernels) -> list[JobInfo]:
    """The user's jobs on the cluster (rtui's and others), and rtui's recently ended ones."""
    answer = await _request(kernels, "slurm_jobs", {}, timeout=_LIST_TIMEOUT)
    return [JobInfo.from_agent(job) for job in answer.get("jobs", []) if isinstance(job, dict)]


async def status(kernels: HostKernels, kernel: RemoteKernel) -> JobInfo | None:
    """The job ``kernel`` runs in, as the scheduler tells it now (kept on the kernel); None
    for a kernel that runs in no job."""
    try:
        answer = await kernels.agent.request(
            "resolve", {"id": kernel.connection_file or kernel.id}, timeout=_STATUS_TIMEOUT)
    except AgentError as exc:
        raise slurm_error(exc) from exc
    job = job_of({**answer, "id": kernel.id})
    if job is not None:
        kernel.slurm = job
    return job


async def start(kernels: HostKernels, *, python: str, spyder: bool, cwd: str | None,
                settings: SlurmSettings, on_update: JobCallback | None, code: str | None,
                timeout: float | None) -> RemoteKernel:
    """Submit, wait and connect; cancelled or failed before its kernel is reached, the job
    is cancelled (a job that ended on its own is left as it is: its output stays readable)."""
    submitted = await kernels.submit_slurm(python=python, spyder=spyder, cwd=cwd,
                                           settings=settings)
    try:
        if on_update is not None:
            on_update(submitted.job)
        return await kernels.wait_slurm(submitted.kernel_id, on_update=on_update, code=code,
                                        timeout=timeout)
    except JobEndedError:
        raise
    except asyncio.CancelledError:
        await _cancel_quietly(kernels, submitted)
        raise
    except BaseException as exc:
        problem = await _cancel_quietly(kernels, submitted)
        if problem is not None and isinstance(exc, RtuiError):
            raise SlurmError(
                f"{exc}\ncancelling its job {submitted.job.job_id} failed too ({problem}): it "
                f"may still be queued (`rtui jobs {kernels.name}` shows it)",
                title=exc.title, type="cancel_failed") from exc
        raise


async def _cancel_quietly(kernels: HostKernels, submitted: SubmittedJob) -> RtuiError | None:
    """Cancel a job whose start was given up, to the end even when cancelled again; what went
    wrong, if it did (logged)."""
    task = asyncio.ensure_future(kernels.cancel_slurm(submitted.kernel_id))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_log_failure)
        return None
    except RtuiError as exc:
        log.warning("%s: cancelling job %s of kernel %s failed: %s", kernels.name,
                    submitted.job.job_id, submitted.kernel_id, exc)
        return exc
    log.info("%s: cancelled job %s of kernel %s (its start was given up)", kernels.name,
             submitted.job.job_id, submitted.kernel_id)
    return None


def _log_failure(task: asyncio.Future[JobInfo]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("cancelling a job failed: %s", task.exception())


async def _request(kernels: HostKernels, op: str, args: dict[str, Any], *, timeout: float,
                   on_progress: Callable[[Progress], None] | None = None) -> Any:
    """One SLURM op of the agent; its failures typed (SlurmError and kin), a kernel it does
    not know a KernelError naming the host."""
    try:
        return await kernels.agent.request(op, args, timeout=timeout, on_progress=on_progress)
    except AgentError as exc:
        if exc.type == "not_found":
            raise KernelError(f"{exc} on {kernels.name}: `rtui jobs {kernels.name}` lists the "
                              "jobs there") from exc
        if exc.type == "timeout":
            raise SlurmError(str(exc), type="timeout") from exc
        raise slurm_error(exc) from exc
