"""The app's job consoles: ``j`` on a host submits a SLURM job that runs a kernel (the job
form), and its console tab follows the job (pending, then running: see ConsoleJob); escape
while it waits cancels it; closing asks "cancel the job / leave it / back"; ``k`` lists
SLURM kernels with their job and attaches to a pending one. A part of :class:`RtuiApp`; the
core's use cases (HostKernels.submit_slurm, wait_slurm, cancel_slurm) do the work."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

from textual import work

from rtui.core.errors import RtuiError
from rtui.core.kernels.host_api import ssh_kernels
from rtui.core.slurm.jobs import format_duration, format_start
from rtui.tui.consoles import ConsoleTabs
from rtui.tui.prompter import ask
from rtui.tui.screens.prompts import ChoiceScreen, ConfirmScreen
from rtui.tui.widgets.host_kinds import said_unavailable

if TYPE_CHECKING:  # loaded after the first frame (see RtuiApp)
    from rtui.core.kernels.records import KernelRecord
    from rtui.core.kernels.service import HostKernels
    from rtui.core.slurm.service import SubmittedJob
    from rtui.core.slurm.settings import SlurmSettings
    from rtui.tui.widgets.console import ConsolePane

__all__ = ["JobConsoles", "kernel_label"]

log = logging.getLogger(__name__)


def kernel_label(record: KernelRecord) -> str:
    """A kernel as the ``k`` list shows it: a SLURM one with its job, state, node (or the
    scheduler's reason) and time left."""
    job = record.slurm
    if not record.connection_file and job is None:  # a Jupyter server's: its kernelspec
        when = f"active {format_start(record.started, now=time.time())}" if record.started else ""
        return (f"{record.id[:20]:20}  {record.kind:12}  "
                f"{'rtui' if record.rtui else 'other'}  {when}")
    if job is None:
        return (f"{record.id[:20]:20}  {record.kind:9}  pid {record.pid or '?':>7}  "
                f"{'rtui' if record.rtui else 'other'}  {record.cwd or ''}")
    where = job.node if job.running else (job.reason or "")
    left = f"{format_duration(job.time_left)} left" if job.time_left is not None else ""
    return (f"{record.id[:8]:8}  job {job.job_id:<6}  {job.state.lower():8}  "
            f"{where or '?':14}  {left}")


class JobConsoles(ConsoleTabs):
    """Job console use cases; their workers belong to the app, the wait for a job to its
    console (closing the tab ends the wait, never the job)."""

    @work(group="kernels", exit_on_error=False)
    async def open_job_console(self, name: str) -> None:
        """``j``: the job form (the host's slurm table, changed for this console), the job
        submitted, then its console tab (the pending panel until the kernel is up)."""
        if said_unavailable(self, self.workspace.config.get(name), "SLURM jobs are"):
            return
        self.notify(f"Connecting to {name}…", timeout=3)
        await self.workspace.connect(name, self.prompter)
        kernels = await self.workspace.ssh_kernels(name)  # SLURM runs through SSH hosts
        python = await self._python_for(
            name, await self.workspace.environment_decision(name, pick=False))
        if python is None:
            return
        from rtui.tui.screens.slurm_form import SlurmFormScreen

        asked: list[SlurmSettings] = []

        async def submit(settings: SlurmSettings) -> SubmittedJob:
            submitted = await kernels.submit_slurm(python=python, settings=settings)
            asked.append(settings)
            return submitted

        submitted: SubmittedJob | None = await ask(
            self, SlurmFormScreen(name, self.workspace.slurm_settings(name), submit))
        if submitted is None:
            return
        pane = await self.add_console(kernels, None)
        pane.job.asked = asked[-1].summary()
        pane.job.show(submitted.job)
        pane.job.wait(submitted.kernel_id)
        self.count_kernels(name)

    @work(group="kernels", exit_on_error=False)
    async def attach_kernel(self, name: str) -> None:
        """List the host's running kernels (rtui's and any other, SLURM ones with their
        job, pending ones too) and attach to one."""
        kernels = await self.connect_host(name)
        records = [r for r in await kernels.list()
                   if r.alive or (r.slurm is not None and not r.slurm.ended)]
        if not records:
            self.notify(f"No running kernels on {name}: Enter starts one", timeout=6)
            return
        # A Jupyter server's kernels have no connection file: their id says which.
        options = [(r.connection_file or r.id, kernel_label(r)) for r in records]
        choice = await ask(self, ChoiceScreen(f"Kernels running on {name}", options))
        if choice is None:
            return
        record = next(r for r in records if (r.connection_file or r.id) == choice)
        login = ssh_kernels(kernels)  # a SLURM job's kernel is an SSH host's
        if login is not None and record.slurm is not None and not record.slurm.running:
            await self.attach_job(login, record)
            return
        # A SLURM kernel by its id: the agent finds its record (and job) by it.
        kernel = await kernels.attach(record.id if record.slurm is not None else str(choice))
        pane = await self.add_console(kernels, kernel)
        if record.slurm is not None and pane.job.info is None:
            pane.job.show(record.slurm)

    async def attach_job(self, kernels: HostKernels, record: KernelRecord) -> None:
        """``k`` on a SLURM kernel still waiting for its node: its console, pending panel
        and all, connected once the job runs."""
        assert record.slurm is not None
        pane = await self.add_console(kernels, None)
        pane.job.show(record.slurm)
        pane.job.wait(record.id)

    def on_console_pane_close_requested(self, message: ConsolePane.CloseRequested) -> None:
        """f4 on a SLURM kernel's console asks of its job (ConsoleTabs' handler, for the
        others, is not called for it)."""
        if message.pane.job.info is not None and message.pane.exit_asked is None:
            message.prevent_default()
            self.close_job(message.pane)

    @work(group="kernels", exit_on_error=False)
    async def close_job(self, pane: ConsolePane) -> None:
        await self.close_job_console(pane)

    def on_console_pane_job_started(self, message: ConsolePane.JobStarted) -> None:
        """``ConsolePane.JobStarted``: the host list's Kernels column counts it."""
        self.count_kernels(message.pane.kernels.name)

    def on_console_pane_job_cancel_requested(
            self, message: ConsolePane.JobCancelRequested) -> None:
        """Escape in a console whose job waits: cancelled once the person says yes."""
        self.cancel_waiting_job(message.pane)

    @work(group="kernels", exit_on_error=False)
    async def cancel_waiting_job(self, pane: ConsolePane) -> None:
        job = pane.job.info
        if job is None or not pane.job.waiting:
            return
        question = (f"Cancel SLURM job {job.job_id} on {pane.kernels.name}? It leaves the "
                    "queue (f4 closes the tab and can leave it queued).")
        if not await ask(self, ConfirmScreen("Cancel job", question)):
            return
        if pane.job.waiting:  # not started meanwhile
            await self._cancel_waiting(pane)
            await self._remove_console(pane)
            self.notify(f"{pane.kernels.name}: job {job.job_id} cancelled", timeout=6)

    async def _cancel_waiting(self, pane: ConsolePane) -> None:
        """Stop following the job, then cancel it (nothing left queued)."""
        self.workers.cancel_group(pane, "job-wait")
        if pane.job.kernel_id is not None:
            await pane.slurm_kernels.cancel_slurm(pane.job.kernel_id)
        self.count_kernels(pane.kernels.name)

    async def close_job_console(self, pane: ConsolePane) -> None:
        """f4 on a SLURM kernel's console: cancel its job, leave it (queued or running;
        ``k`` attaches again), or back to the console."""
        job = pane.job.info
        assert job is not None
        if pane.kernel is not None:  # how it is now (a time limit may have ended it)
            with contextlib.suppress(RtuiError):
                job = await pane.slurm_kernels.job_status(pane.kernel) or job
        if pane.job.failed or job.ended or (pane.kernel is None and not pane.job.waiting):
            await pane.detach()
            await self._remove_console(pane)
            return
        where = "queued" if pane.kernel is None else "running"
        options = [
            ("cancel", f"Cancel job {job.job_id} (its kernel ends, the node is freed)"),
            ("leave", f"Leave job {job.job_id} {where} (k attaches to it again)"),
            ("back", "Back to the console"),
        ]
        choice = await ask(self, ChoiceScreen(f"Close the console of job {job.job_id}",
                                              options))
        if choice in (None, "back"):
            return
        if choice == "cancel":
            if pane.kernel is None:
                await self._cancel_waiting(pane)
            else:
                await pane.shutdown_kernel()  # the agent cancels the job
                self.count_kernels(pane.kernels.name)
            self.notify(f"{pane.kernels.name}: job {job.job_id} cancelled", timeout=6)
        else:
            await pane.detach()
        await self._remove_console(pane)

    async def end_waiting_jobs(self, panes: list[ConsolePane], *, cancel: bool) -> None:
        """On quit: the jobs still waiting cancelled, or left queued."""
        for pane in panes:
            if not cancel:
                self.workers.cancel_group(pane, "job-wait")
                continue
            try:
                await self._cancel_waiting(pane)
            except RtuiError:
                log.warning("%s: job of kernel %s not cancelled on quit", pane.kernels.name,
                            pane.job.kernel_id, exc_info=True)
