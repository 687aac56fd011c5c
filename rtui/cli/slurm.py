"""SLURM kernels from a shell: the ``--slurm`` flags of ``rtui kernel start`` and ``rtui run``
(a kernel as a batch job, reached through the login node), ``rtui jobs``, and how jobs show
(progress lines on stderr, the jobs table, a kernel's job in ``rtui kernels``)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from rtui.cli.common import with_host
from rtui.core.config.model import Host

if TYPE_CHECKING:  # the handlers import these: `rtui hosts ...` must stay light
    from rtui.core.kernels.records import KernelRecord, RemoteKernel
    from rtui.core.kernels.service import HostKernels
    from rtui.core.slurm.jobs import JobInfo
    from rtui.core.slurm.settings import SlurmSettings
    from rtui.core.workspace import Workspace

__all__ = [
    "add_slurm_options",
    "cancel_job",
    "job_cell",
    "jobs_table",
    "register",
    "slurm_flags",
    "start_job",
]

# The flags that override the host's [slurm] table: (key, metavar, help).
FLAGS: tuple[tuple[str, str, str], ...] = (
    ("partition", "P", "partition (queue)"),
    ("time", "T", "time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"),
    ("cpus", "N", "CPUs for the kernel (--cpus-per-task)"),
    ("mem", "M", "memory, as sbatch takes it: 16G, 500M"),
    ("gpus", "G", "GPUs: a count or TYPE:COUNT"),
    ("account", "A", "account to charge"),
    ("qos", "Q", "quality of service"),
    ("reservation", "R", "reservation"),
    ("gres", "G", "generic resources, as sbatch takes them: gpu:1"),
)
_WIDTH = 80  # columns of the jobs table
_SUBMIT_BOUND = 60.0  # seconds to let a submit cut short by ctrl+c answer, so it is cancelled


def register(commands: Any) -> None:
    p = commands.add_parser("jobs", help="a SLURM login node's jobs (yours, and rtui's "
                            "recently ended ones)")
    p.add_argument("host")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=_jobs)


def add_slurm_options(p: argparse.ArgumentParser) -> None:
    """``--slurm`` and the job settings that override the host's table, each checked as
    the hosts file's is (a bad value is a usage error, said before anything connects)."""
    group = p.add_argument_group(
        "SLURM", "the host is a cluster's login node: the kernel runs as a batch job on a "
        "compute node, reached through the host; the host's [slurm] table, overridden by "
        "these flags")
    group.add_argument("--slurm", action="store_true",
                       help="run the kernel as a SLURM job (the flags below need it)")
    for key, metavar, text in FLAGS:
        group.add_argument(f"--{key}", metavar=metavar, type=_setting(key), help=text)
    p.set_defaults(slurm_usage_error=p.error)


def _setting(key: str) -> Callable[[str], Any]:
    """An argparse type: the flag's value as the hosts file's ``slurm`` table takes it,
    refused with the core's own words."""
    def check(text: str) -> Any:
        from rtui.core.errors import ConfigError
        from rtui.core.slurm.settings import SlurmSettings

        try:
            return getattr(SlurmSettings.from_toml({key: text}), key)  # cpus: a number
        except ConfigError as exc:
            said = exc.problems[0].message if exc.problems else str(exc)
            raise argparse.ArgumentTypeError(said) from None

    check.__name__ = key
    return check


def slurm_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    """The job settings given as flags (``None``: not a SLURM command). Job flags without
    ``--slurm``, or ``--slurm`` on a kernel that is attached to, are usage errors."""
    given = {key: getattr(args, key) for key, _, _ in FLAGS if getattr(args, key) is not None}
    if not args.slurm:
        if given:
            args.slurm_usage_error(
                f"{', '.join('--' + key for key in given)}: job settings need --slurm")
        return None
    if getattr(args, "kernel", None) or getattr(args, "connection_file", None):
        args.slurm_usage_error("--slurm starts a new kernel as a job: not with -k or "
                               "--connection-file")
    return given


def job_settings(host: Host, flags: dict[str, Any]) -> SlurmSettings:
    """The host's ``slurm`` table (none: the cluster's defaults), overridden by ``flags``."""
    from rtui.core.slurm.settings import SlurmSettings

    base = host.slurm if host.slurm is not None else SlurmSettings()
    return base.merged(**flags)


class JobProgress:
    """Prints a job's progress on stderr (stdout is the command's answer) each time its
    state, reason, expected start or node changed (not as its time left counts down)."""

    def __init__(self) -> None:
        self._said: tuple[object, ...] | None = None

    def __call__(self, job: JobInfo) -> None:
        news = (job.state, job.reason, job.start, job.node)
        if news != self._said:
            self._said = news
            print(f"  {job.describe()}", file=sys.stderr, flush=True)


async def start_job(kernels: HostKernels, host: Host, flags: dict[str, Any], *,
                    python: str, spyder: bool = False, cwd: str | None = None,
                    code: str | None = None) -> RemoteKernel:
    """Submit a kernel as a job and connect once it runs, its progress on stderr.

    Stopped (ctrl+c) or failed before the kernel is reached, the job is cancelled and that
    is said, so nothing is left queued by mistake (a submit in flight is let answer first:
    its job is cancelled too)."""
    from rtui.core.errors import RtuiError
    from rtui.core.slurm.errors import JobEndedError

    settings = job_settings(host, flags)
    progress = JobProgress()
    submitting = asyncio.ensure_future(
        kernels.submit_slurm(python=python, spyder=spyder, cwd=cwd, settings=settings))
    try:
        submitted = await asyncio.shield(submitting)
    except asyncio.CancelledError:
        try:
            submitted = await asyncio.wait_for(submitting, _SUBMIT_BOUND)
        except (RtuiError, TimeoutError):
            raise asyncio.CancelledError from None  # refused, or unknown: nothing to name
        await cancel_job(kernels, host.name, submitted.kernel_id, submitted.job.job_id)
        raise
    progress(submitted.job)
    try:
        return await kernels.wait_slurm(submitted.kernel_id, on_update=progress, code=code)
    except asyncio.CancelledError:
        await cancel_job(kernels, host.name, submitted.kernel_id, submitted.job.job_id)
        raise
    except JobEndedError:
        raise  # ended on its own: nothing queued, and its output stays readable
    except RtuiError:  # its kernel is not reached: the job is of no use
        await cancel_job(kernels, host.name, submitted.kernel_id, submitted.job.job_id,
                         why="its kernel was not reached")
        raise


async def cancel_job(kernels: HostKernels, host: str, kernel_id: str, job_id: str, *,
                     why: str | None = None, quiet: bool = False) -> None:
    """Cancel a kernel's job and say so on stderr (``quiet``: only when it failed: what may
    be left, and how to cancel it)."""
    from rtui.core.errors import RtuiError

    try:
        await kernels.cancel_slurm(kernel_id)
    except RtuiError as exc:
        problem = " ".join(str(exc).split())
        print(f"rtui: job {job_id} may still be queued on {host} (cancelling it failed: "
              f"{problem}): `rtui kernel stop {host} {kernel_id}` cancels it",
              file=sys.stderr, flush=True)
        return
    if not quiet:
        print(f"rtui: job {job_id} cancelled{f' ({why})' if why else ''}: nothing left "
              f"queued on {host}", file=sys.stderr, flush=True)


async def attach_or_wait(kernels: HostKernels, host: str, spec: str, *,
                         code: str | None) -> RemoteKernel:
    """Attach to a kernel as ``rtui run -k`` does; one whose job still waits in the queue
    (left pending by the TUI, or by a start that was cut off) is followed until it runs
    (progress on stderr), then attached. Stopped meanwhile, the job keeps its place: it is
    not this command's to cancel."""
    from rtui.core.errors import KernelError

    try:
        return await kernels.attach(spec, code=code)
    except KernelError as exc:
        found = await pending_job(kernels, spec, exc)
    kernel_id, job = found
    progress = JobProgress()
    progress(job)
    try:
        kernel = await kernels.wait_slurm(kernel_id, on_update=progress, code=code)
    except asyncio.CancelledError:
        print(f"rtui: job {job.job_id} keeps its place in the queue on {host} "
              f"(`rtui kernel stop {host} {kernel_id}` cancels it)", file=sys.stderr, flush=True)
        raise
    kernel.launched = False  # attached: this command did not start it, nor stops it
    return kernel


async def pending_job(kernels: HostKernels, spec: str,
                      failure: Exception) -> tuple[str, JobInfo]:
    """The kernel id and pending job of ``spec`` (an id or a unique prefix of one), asked
    once a kernel could not be found or read; ``failure`` raised again when it is no pending
    job (or the host cannot say, or the failure is of another kind: a dead kernel, a wrong
    key, a path, the host's connection)."""
    from rtui.core.errors import KernelDiedError, KernelError, RtuiError, SignatureMismatchError

    if (not isinstance(failure, KernelError)
            or isinstance(failure, (KernelDiedError, SignatureMismatchError))
            or "/" in spec or spec.startswith("~")):
        raise failure
    try:
        records = await kernels.list()
    except RtuiError:
        raise failure from None
    found = [r for r in records if r.id == spec] or [r for r in records if r.id.startswith(spec)]
    if len(found) != 1 or found[0].slurm is None or not found[0].slurm.pending:
        raise failure
    return found[0].id, found[0].slurm


async def not_while_pending(kernels: HostKernels, host: str, spec: str, failure: Exception,
                            then: str) -> NoReturn:
    """Raise what to say when a kernel could not be reached: that its job is still pending
    (``then``: so what; and how to wait for it or cancel it) when so, else ``failure``."""
    from rtui.core.errors import KernelError

    kernel_id, job = await pending_job(kernels, spec, failure)
    raise KernelError(f"{job.describe()}: kernel {kernel_id} on {host} has not started yet, "
                      f"{then} (`rtui run {host} -k {kernel_id} -c ...` waits for it, `rtui "
                      f"kernel stop {host} {kernel_id}` cancels the job)") from None


def started_line(kernel: RemoteKernel, host: str) -> str:
    """What ``rtui kernel start --slurm`` prints: the kernel, its job and node."""
    job = kernel.slurm
    where = f"job {job.job_id} on {job.node or '?'}" if job is not None else "a job"
    return (f"started kernel {kernel.id} on {host} as {where} (sockets via {kernel.route}; "
            f"attach: rtui run {host} -k {kernel.id} -c ...; cancel: rtui kernel stop "
            f"{host} {kernel.id})")


# -- rtui jobs ---------------------------------------------------------------------------------


def _jobs(args: argparse.Namespace) -> int:
    async def body(_ws: Workspace, host: Host, kernels: HostKernels) -> int:
        jobs = await kernels.slurm_jobs()
        if args.json:
            print(json.dumps([dataclasses.asdict(j) for j in jobs], indent=2))
            return 0
        if not jobs:
            print(f"no jobs on {host.name}")
            return 0
        for line in jobs_table(jobs, now=time.time()):
            print(line)
        return 0

    return with_host(args, args.host, body)


def jobs_table(jobs: Sequence[JobInfo], *, now: float, width: int = _WIDTH) -> list[str]:
    """The jobs as a table within ``width`` columns: JOB, KERNEL (a unique prefix of the
    id, as `rtui kernel stop` takes it), STATE, NODE/REASON (the node where it runs, else
    the scheduler's reason: cut to fit), TIME LEFT, START (expected, while pending)."""
    from rtui.core.slurm.jobs import format_start

    header = ("JOB", "KERNEL", "STATE", "NODE/REASON", "TIME LEFT", "START")
    rows = [(j.job_id, (j.kernel_id or "-")[:8], j.state,
             (j.node if j.running else j.reason) or "-", _left(j, now),
             format_start(j.start, now=now) if j.start is not None else "-") for j in jobs]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    over = sum(widths) + 2 * (len(widths) - 1) - width
    if over > 0:
        widths[3] = max(len(header[3]), widths[3] - over)
    return [_row(header, widths), *(_row(row, widths) for row in rows)]


def _left(job: JobInfo, now: float) -> str:
    from rtui.core.slurm.jobs import format_duration

    seconds = job.seconds_left(now)
    return "-" if seconds is None else format_duration(seconds)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    fitted = [cell if len(cell) <= w else cell[: w - 1] + "…"
              for cell, w in zip(cells, widths, strict=True)]
    return "  ".join(c.ljust(w) for c, w in zip(fitted, widths, strict=True)).rstrip()


# -- rtui kernels ------------------------------------------------------------------------------


def job_cell(job: JobInfo) -> str:
    """A SLURM kernel's job in ``rtui kernels``: ``job 12 RUNNING on node1, 1:58:10 left``,
    ``job 13 PENDING (Resources)``, ``job 9 TIMEOUT``."""
    text = f"job {job.job_id} {job.state}"
    if job.running and job.node:
        text += f" on {job.node}"
    elif job.reason and job.reason != "None":
        text += f" ({job.reason})"
    if job.running and job.seconds_left() is not None:
        text += f", {_left(job, time.time())} left"
    return text


def kernel_state(record: KernelRecord) -> str:
    """``alive``/``DEAD`` as for any kernel; ``pending`` for a job not started yet."""
    job = record.slurm
    if job is not None and job.pending:
        return "pending"
    return "alive" if record.alive else "DEAD"
