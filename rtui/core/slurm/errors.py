"""What can go wrong with a kernel run as a SLURM job, typed (each keeps the agent's own
``type`` and the scheduler's own words)."""

from __future__ import annotations

import re
from typing import ClassVar

from rtui.core.errors import KernelError, RtuiError

__all__ = [
    "JobEndedError",
    "JobNotReadyError",
    "JobRefusedError",
    "NoSlurmError",
    "SlurmError",
    "SlurmUnreachableError",
    "slurm_error",
]

_ENDED_RE = re.compile(r"\bjob (\S+) ended \(([A-Z_]+)")


class SlurmError(KernelError):
    """A SLURM job could not be submitted, started or reached; ``type``: the agent's kind of
    failure (``slurm_refused``, ``job_ended``...)."""

    default_title = "SLURM job"
    agent_type: ClassVar[str] = "slurm"

    def __init__(self, message: str = "", title: str | None = None, *,
                 type: str | None = None) -> None:
        super().__init__(message, title)
        self.type = type or self.agent_type


class NoSlurmError(SlurmError):
    """The host has no sbatch: it is no SLURM login node."""

    agent_type = "no_slurm"


class JobRefusedError(SlurmError):
    """sbatch refused the job (a partition or account that does not exist, a time over the
    partition's limit): its own words; nothing was left behind."""

    default_title = "Job refused"
    agent_type = "slurm_refused"


class JobEndedError(SlurmError):
    """The job ended before its kernel was ready (failed at start, cancelled, time limit):
    the message has how, and the tail of its output file. ``job_id``/``state`` when the
    message names them."""

    default_title = "Job ended"
    agent_type = "job_ended"

    def __init__(self, message: str = "", title: str | None = None, *,
                 type: str | None = None) -> None:
        super().__init__(message, title, type=type)
        match = _ENDED_RE.search(message)
        self.job_id = match.group(1) if match else None
        self.state = match.group(2) if match else None


class SlurmUnreachableError(SlurmError):
    """The SLURM controller does not answer (squeue/sbatch fail or time out)."""

    default_title = "SLURM controller"
    agent_type = "slurm_unreachable"


class JobNotReadyError(SlurmError):
    """The wait for a job's kernel ran out of time; the job keeps its place in the queue."""

    agent_type = "timeout"


_BY_TYPE: dict[str, type[SlurmError]] = {
    cls.agent_type: cls
    for cls in (NoSlurmError, JobRefusedError, JobEndedError, SlurmUnreachableError)
}


def slurm_error(exc: RtuiError) -> RtuiError:
    """The typed error for an agent's failure of a SLURM op (``exc`` itself when it is no
    SLURM failure: a lost link, say)."""
    kind = getattr(exc, "type", None)
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return exc
    return cls(str(exc), type=kind)
