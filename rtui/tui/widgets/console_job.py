"""A SLURM kernel's job in its console: while the job waits in the queue, a panel (job id,
state, the scheduler's reason, the expected start; escape cancels the job); once it runs,
"node N · 1:58:10 left" on the status line, and a warning 5 minutes before its time limit
(the limit kills the kernel with the job).

The console's own part, as :class:`~rtui.tui.widgets.console_questions.KernelQuestions` is:
the wait for the job is a worker of the console, so closing its tab ends the wait (never the
job: the core's ``wait_slurm`` leaves it queued) and nothing outlives the tab.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from rtui.core.errors import RtuiError, SSHError
from rtui.core.slurm.errors import JobEndedError
from rtui.core.slurm.jobs import format_duration, format_start

if TYPE_CHECKING:
    from rtui.core.kernels.service import RemoteKernel
    from rtui.core.slurm.jobs import JobInfo
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["WARN_BEFORE", "ConsoleJob", "JobPanel", "start_text"]

WARN_BEFORE = 300.0
"""Seconds before the job's time limit the console warns (notification + status line)."""
_REFRESH = 60.0  # s between two asks of the job's state while it runs (one squeue)
_RETRY = 2.0  # s before waiting again for a job whose wait lost the link
_SETTLE_TRIES = 15  # s a job's COMPLETING may last before it says how it ended (KillWait)
# SLURM gives a start a year ahead when it cannot plan one (the jobs ahead of it have no time
# limit): not an estimate.
_NO_ESTIMATE = 300 * 86_400.0

# What the scheduler's commonest reasons mean, said once in the panel.
_REASONS = {
    "Resources": "waiting for the CPUs, memory or GPUs it asked for",
    "Priority": "jobs of higher priority are ahead of it",
    "Dependency": "waiting for a job it depends on",
    "BeginTime": "asked to start later",
    "ReqNodeNotAvail": "a node it needs is not available",
    "PartitionTimeLimit": "its time is over the partition's limit",
    "QOSMaxJobsPerUserLimit": "you have as many jobs running as your QOS allows",
    "AssocGrpCpuLimit": "your account's CPU limit is reached",
    "JobHeldUser": "held (scontrol release starts it)",
    "JobHeldAdmin": "held by an administrator",
}


def start_text(start: float | None, now: float) -> str:
    """The expected start as a person reads it: its time here, and how far off it is."""
    if start is None or start - now > _NO_ESTIMATE:
        return "not estimated yet"
    ahead = start - now
    return format_start(start, now=now) + (
        f" (in {format_duration(ahead)})" if ahead > 0 else " (due now)")


class JobPanel(Static):
    """The pending job, above the console's output; hidden once its kernel is connected."""

    DEFAULT_CSS = """
    JobPanel { height: auto; border: round $warning; padding: 0 1; margin: 0 0 1 0; }
    JobPanel.-hidden { display: none; }
    JobPanel.-failed { border: round $error; }
    """

    def show_job(self, job: JobInfo, host: str, asked: str | None = None) -> None:
        now = time.time()
        text = Text()
        text.append(f"SLURM job {job.job_id} on {host} · ", style="bold")
        text.append(job.state, style="bold yellow" if job.pending else "bold")
        if job.running:
            text.append(f"\nnode       {job.node or '?'}: starting the kernel…")
        else:
            reason = job.reason or "none given"
            meaning = _REASONS.get(reason)
            text.append(f"\nreason     {reason}" + (f" ({meaning})" if meaning else ""))
            text.append(f"\nexpected   {start_text(job.start, now)}")
        if asked is not None:  # what the job form submitted
            text.append(f"\nasked for  {asked}")
        elif job.partition or job.time_limit is not None:
            text.append(f"\npartition  {job.partition or '?'}" + (
                f", time limit {format_duration(job.time_limit)}"
                if job.time_limit is not None else ""))
        text.append("\nescape cancels the job · f4 closes the tab (cancel it or leave it "
                    "queued) · code typed now runs once the kernel is up", style="dim")
        self.remove_class("-failed")
        self.update(text)

    def show_failure(self, message: str) -> None:
        self.add_class("-failed")
        self.update(Text(message, style="bold red"))


class ConsoleJob:
    """The job of a console's SLURM kernel (``info`` None: not a SLURM kernel)."""

    def __init__(self, pane: ConsolePane) -> None:
        self.pane = pane
        self.info: JobInfo | None = None
        self.kernel_id: str | None = None  # the kernel the job runs (known once submitted)
        self.asked: str | None = None  # what was asked of the scheduler (the form's summary)
        self.panel = JobPanel(id="job", classes="-hidden")
        self.failed = False  # the job ended before its kernel was up (the panel says how)
        self._seen = 0.0  # monotonic time ``info`` arrived: time_left counts down from it
        self._warned = False
        self._tick: Timer | None = None
        self._refresh: Timer | None = None

    @property
    def waiting(self) -> bool:
        """The job was submitted and its kernel is not connected yet (pending or booting)."""
        return (self.info is not None and self.pane.kernel is None and not self.failed
                and not self.info.ended)

    @property
    def ended(self) -> bool:
        """The job is over (its kernel with it): nothing to cancel or leave running."""
        return self.info is not None and (self.failed or self.info.ended)

    @property
    def left(self) -> float | None:
        """Seconds until the job's time limit, counted down here (None: no limit known)."""
        if self.info is None or self.info.time_left is None or not self.info.running:
            return None
        return max(0.0, self.info.time_left - (time.monotonic() - self._seen))

    @property
    def near_end(self) -> bool:
        left = self.left
        return left is not None and left <= WARN_BEFORE

    def show(self, job: JobInfo) -> None:
        """What the scheduler says of the job now (wait_slurm's progress, job_status)."""
        self.info, self._seen = job, time.monotonic()
        if self.kernel_id is None:
            self.kernel_id = job.kernel_id
        if self.pane.kernel is None and not self.failed:
            self.panel.show_job(job, self.pane.kernels.name, self.asked)
            self.panel.remove_class("-hidden")
            self.pane.state = "queued" if job.pending else "starting"
        if (job.running and job.time_left is not None and self._tick is None
                and self.pane.state != "dead"):
            self._tick = self.pane.set_interval(1.0, self._count_down)
        self.pane.refresh_bindings()  # escape cancels while it waits
        self.pane.refresh_status()

    def connected(self, kernel: RemoteKernel) -> None:
        """The kernel is up: the panel goes, the status line carries the job."""
        self.panel.add_class("-hidden")
        job = kernel.slurm
        if job is not None:
            self.kernel_id = kernel.id
            self.show(job)
        if self.info is not None and self._refresh is None:
            self._refresh = self.pane.set_interval(_REFRESH, self._ask_status)
        self.pane.refresh_bindings()

    def status_note(self) -> str:
        """The status line's part: the job's node and time left, or its state."""
        job = self.info
        if job is None:
            return ""
        if self.failed or job.ended:
            return f" · job {job.job_id} {job.state.lower()}"
        if not job.running:
            return f" · job {job.job_id} {job.state.lower()}" + (
                f" ({job.reason})" if job.reason else "")
        text = f" · node {job.node or '?'}"
        left = self.left
        if left is not None:
            text += f" · {format_duration(left)} left" + ("!" if self.near_end else "")
        return text

    def _count_down(self) -> None:
        self.pane.refresh_status()
        left = self.left
        if left is None or self._warned or left > WARN_BEFORE or self.info is None:
            return
        self._warned = True
        self.pane.notify(
            f"{self.pane.kernels.name}: job {self.info.job_id} reaches its time limit in "
            f"{format_duration(left)}; the kernel ends with it (save what you need now)",
            title="SLURM time limit", severity="warning", timeout=15)

    def kernel_ended(self) -> None:
        """The kernel exited: its job may have too (a time limit, a preemption): asked."""
        if self.info is not None:
            if self._tick is not None:
                self._tick.stop()
                self._tick = None
            self._ask_status()

    def _ask_status(self) -> None:
        self.pane.run_worker(self._status(), group="job-status", exclusive=True,
                             exit_on_error=False)

    async def _status(self) -> None:
        kernel = self.pane.kernel
        if kernel is None:
            return
        job = await self.pane.slurm_kernels.job_status(kernel)
        for _ in range(_SETTLE_TRIES):  # COMPLETING: how it ended is said a moment later
            if job is None or job.state != "COMPLETING":
                break
            await asyncio.sleep(1.0)
            job = await self.pane.slurm_kernels.job_status(kernel)
        if job is None:
            return
        told = self.info is not None and self.info.ended
        self.show(job)
        if job.ended and not told:  # a time limit, a preemption, a scancel: said plainly
            self.pane.note(f"SLURM {job.describe()}: its kernel ended with it. `rtui log "
                           f"{self.pane.kernels.name} {kernel.id}` shows its kept output.",
                           "bold red")

    def wait(self, kernel_id: str) -> None:
        """Follow the submitted job until its kernel is up, then connect the console."""
        self.kernel_id = kernel_id
        self.pane.run_worker(self._wait(kernel_id), group="job-wait", exclusive=True,
                             exit_on_error=False)

    async def _wait(self, kernel_id: str) -> None:
        while True:
            try:
                kernel = await self.pane.slurm_kernels.wait_slurm(kernel_id, on_update=self.show)
            except SSHError as error:  # the link, not the job: it keeps its place
                self.pane.refresh_status()
                self.pane.notify(f"{self.pane.kernels.name}: {error}; following the job "
                                 "again once reconnected", severity="warning")
                await asyncio.sleep(_RETRY)
                continue
            except JobEndedError as error:  # over before its kernel was up: nothing queued
                self.failed = True
                self.panel.remove_class("-hidden")
                self.panel.show_failure(str(error))
                self.pane.state = "dead"
                self.pane.refresh_bindings()
                return
            except RtuiError as error:  # not followed any more, but maybe still queued
                self.panel.remove_class("-hidden")
                self.panel.show_failure(f"{error}\nThe job may still be queued: escape "
                                        "cancels it, f4 asks whether to leave it.")
                self.pane.state = "not followed"
                return
            break
        if not self.pane.is_attached:
            return
        self.pane.connect(kernel)
        self.pane.post_message(self.pane.JobStarted(self.pane))
