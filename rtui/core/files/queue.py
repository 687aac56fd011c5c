"""The transfers of a run (``Workspace.transfers``): owned by the workspace, so they outlive
the tab that started them. Two jobs run at once, the others wait their turn; each change of
a job (state, progress at most 10 times a second) is told to the subscribers (the TUI's
transfers panel).

A person's cancel removes the part of the file under way; a retry goes on from the parts
(``resume``). A job that fails because a connection went is retried once by itself when the
connection is back; closing the workspace stops the jobs and keeps their parts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rtui.core.errors import RtuiError, SSHError
from rtui.core.files.parts import Tuning
from rtui.core.files.paths import Location, Remote
from rtui.core.files.progress import TransferProgress
from rtui.core.files.transfer import TransferResult, TransferSpec, transfer

if TYPE_CHECKING:
    from rtui.core.workspace import Workspace

__all__ = ["CANCELLED", "DONE", "FAILED", "QUEUED", "RUNNING", "Job", "TransferQueue"]

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
RECONNECT_WAIT = 120.0  # seconds a job that lost its connection waits for it to come back
_STOP_TIMEOUT = 10.0


@dataclass(eq=False)
class Job:
    """One transfer: what, its state (queued, running, done, failed, cancelled), the last
    progress, the error's message and title when it failed, the result when done."""

    id: int
    spec: TransferSpec
    title: str
    state: str = QUEUED
    progress: TransferProgress | None = None
    error: str = ""
    error_title: str = ""
    result: TransferResult | None = None
    retried_by_itself: bool = False
    note: str = ""  # what it is doing besides copying ("waiting for HOST to come back")

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)


class TransferQueue:
    """The run's transfer jobs (see the module's docstring)."""

    def __init__(self, workspace: Workspace, *, concurrency: int = 2,
                 tuning: Tuning | None = None) -> None:
        self.workspace = workspace
        self.tuning = tuning
        self.jobs: list[Job] = []
        self._ids = itertools.count(1)
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._subscribers: list[Callable[[Job], None]] = []
        self._closing = False

    # -- observing ---------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``fn`` with a job each time it changes; returns the function that stops it."""
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def _changed(self, job: Job) -> None:
        for fn in list(self._subscribers):
            try:
                fn(job)
            except Exception:  # a subscriber's bug must not stop a transfer
                log.exception("transfer subscriber failed")

    def get(self, job_id: int) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    # -- using -------------------------------------------------------------------------------

    def submit(self, spec: TransferSpec, *, title: str | None = None) -> Job:
        """Queue ``spec``; it starts when one of the two slots is free."""
        job = Job(next(self._ids), spec, title or describe(spec))
        self.jobs.append(job)
        self._start(job)
        return job

    def cancel(self, job_id: int) -> None:
        """Stop a job (a running one's part is removed); a finished one stays as it is."""
        job = self.get(job_id)
        task = self._tasks.get(job_id)
        if job.finished or task is None:
            return
        task.cancel()

    def retry(self, job_id: int) -> Job:
        """Run a failed or cancelled job again, going on from its parts."""
        job = self.get(job_id)
        if not job.finished or job.state == DONE:
            return job
        job.spec = dataclasses.replace(job.spec, resume=True)
        job.state, job.error, job.error_title, job.note = QUEUED, "", "", ""
        job.result = None
        self._start(job)
        return job

    def clear_finished(self) -> None:
        """Forget the jobs that ended (the panel's list gets shorter)."""
        self.jobs = [j for j in self.jobs if not j.finished]

    async def close(self) -> None:
        """Stop every job, keeping its parts (a later run resumes them)."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)

    # -- internals ---------------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        self._changed(job)
        task = asyncio.ensure_future(self._run(job))
        self._tasks[job.id] = task

        def ended(done: asyncio.Task[None]) -> None:
            if self._tasks.get(job.id) is done:  # not a retry's task, started meanwhile
                del self._tasks[job.id]

        task.add_done_callback(ended)

    async def _run(self, job: Job) -> None:
        try:
            async with self._slots:
                job.state = RUNNING
                self._changed(job)
                await self._attempt(job)
        except asyncio.CancelledError:
            job.state, job.note = CANCELLED, ""
            self._changed(job)
            if not self._closing:
                return  # a person's cancel: done with it
            raise

    async def _attempt(self, job: Job) -> None:
        while True:
            try:
                job.result = await transfer(self.workspace, job.spec,
                                            on_progress=lambda p: self._progress(job, p),
                                            tuning=self.tuning,
                                            keep_part_on_cancel=lambda: self._closing)
            except SSHError as exc:
                if job.retried_by_itself or not await self._back(job):
                    self._fail(job, exc)
                    return
                job.retried_by_itself = True
                job.spec = dataclasses.replace(job.spec, resume=True)
                continue
            except RtuiError as exc:
                self._fail(job, exc)
                return
            except Exception as exc:  # a bug: the job says so, the queue goes on
                log.exception("transfer %d failed", job.id)
                self._fail(job, RtuiError(f"the transfer failed unexpectedly: {exc}"))
                return
            job.state, job.note = DONE, _left_out(job.result)
            self._changed(job)
            return

    def _progress(self, job: Job, progress: TransferProgress) -> None:
        job.progress = progress
        self._changed(job)

    def _fail(self, job: Job, exc: RtuiError) -> None:
        job.state, job.error, job.error_title, job.note = FAILED, str(exc), exc.title, ""
        self._changed(job)

    async def _back(self, job: Job) -> bool:
        """Whether the connections of the job's hosts are up again (waited for, bounded)."""
        hosts = sorted({loc.host for loc in (*job.spec.sources, job.spec.dest)
                        if isinstance(loc, Remote)})
        job.note = f"waiting for {', '.join(hosts)} to come back"
        self._changed(job)
        try:
            async with asyncio.timeout(RECONNECT_WAIT):
                for host in hosts:
                    await self.workspace.connection(host).connect()
        except (RtuiError, TimeoutError):
            return False
        finally:
            job.note = ""
        return True


def describe(spec: TransferSpec, show: Callable[[Location], str] = str) -> str:
    """A job's title: ``SRC → DST`` (and how many more sources), each as ``show`` writes it."""
    more = f" (+{len(spec.sources) - 1})" if len(spec.sources) > 1 else ""
    return f"{show(spec.sources[0])}{more} → {show(spec.dest)}"


def _left_out(result: TransferResult | None) -> str:
    """What a finished job did not copy, said on its row: never left out silently."""
    special = result.special if result is not None else ()
    if not special:
        return ""
    return (f"done, but {len(special)} special file(s) (FIFO, socket, device) not copied: "
            f"{special[0]}" + (" and more" if len(special) > 1 else ""))
