"""The scheduler's commands as the agent runs them: each bounded (30 s), its failure an OpError
in the command's own words, the controller not answering ``slurm_unreachable``; and what
squeue and scontrol print, read into the contract's JOB shape (times in seconds, instants as
epoch seconds, None when unknown)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time

from .protocol import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BOUND = 30.0  # seconds any scheduler command may take
# Said by every client when slurmctld does not answer (and the socket errors behind it).
_UNREACHABLE = ("Unable to contact slurm controller", "Socket timed out",
                "Connection refused", "Zero Bytes were transmitted or received")
ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING",
          "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD")
# Reasons a job waits for; the controller keeps the last one on a job cancelled while pending.
WAITING_REASONS = ("Resources", "Priority", "BeginTime", "Dependency", "JobHeldUser",
                   "JobHeldAdmin", "ReqNodeNotAvail", "None")
# squeue's fields, "|"-separated; the job's name last (it may hold the separator).
_FORMAT = "%i|%T|%r|%S|%e|%L|%l|%P|%N|%j"


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def run(argv: list[str], failed: str, what: str) -> str:
    """Run a scheduler command; its stdout. Its failure: OpError(``failed``, "WHAT: its
    words"), or ``slurm_unreachable`` when the controller does not answer (or in 30 s)."""
    if shutil.which(argv[0]) is None:
        raise OpError("no_slurm", f"{argv[0]} is not on this host's PATH: is it a SLURM login "
                      "node?")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=BOUND,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        raise OpError("slurm_unreachable", "the SLURM controller does not answer: "
                      f"{argv[0]} had no answer within {BOUND:g} s") from None
    except OSError as e:
        raise OpError(failed, f"{what}: cannot run {argv[0]}: {e.strerror or e}") from None
    if done.returncode != 0:
        words = "\n".join(line for line in done.stderr.strip().splitlines() if line.strip())
        words = words or done.stdout.strip() or f"{argv[0]} exited with code {done.returncode}"
        if any(mark in words for mark in _UNREACHABLE):
            raise OpError("slurm_unreachable", f"the SLURM controller does not answer: {words}")
        raise OpError(failed, f"{what}: {words}")
    return done.stdout


def seconds(text: str | None) -> int | None:
    """A SLURM duration (``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS``) in seconds; None for
    UNLIMITED, NOT_SET, INVALID and the like."""
    text = (text or "").strip()
    days = 0
    if "-" in text:
        head, _, text = text.partition("-")
        if not head.isdigit():
            return None
        days = int(head)
    parts = text.split(":")
    if not text or not all(p.isdigit() for p in parts) or len(parts) > 3:
        return None
    values = [int(p) for p in parts]
    while len(values) < 3:
        values.insert(0, 0)
    return days * 86400 + values[0] * 3600 + values[1] * 60 + values[2]


def instant(text: str | None) -> float | None:
    """A SLURM timestamp (``2026-12-07T17:40:00``, local time) as epoch seconds, or None."""
    try:
        return time.mktime(time.strptime((text or "").strip(), "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def _none(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", "None", "(null)", "N/A", "n/a") else text


def job_of(fields: dict[str, str]) -> dict[str, Any]:
    """The JOB shape from one job's fields (squeue's or scontrol's, by scontrol's names)."""
    state = (fields.get("JobState") or "").split()[0] if fields.get("JobState") else ""
    running = state in ("RUNNING", "COMPLETING", "SUSPENDED")
    node = _none(fields.get("NodeList", "")) if state not in ("PENDING",) else None
    start = instant(fields.get("StartTime"))
    end = instant(fields.get("EndTime"))
    limit = seconds(fields.get("TimeLimit"))
    left = seconds(fields.get("TimeLeft")) if running else None
    if running and left is None and limit is not None and start is not None:
        left = max(0, int(start + limit - time.time()))
    return {"job_id": fields.get("JobId", ""), "state": state or "UNKNOWN",
            "reason": _none(fields.get("Reason", "")), "node": node, "address": None,
            "start": start, "time_left": left, "time_limit": limit,
            "end": end if state not in ACTIVE or running else None,
            "partition": _none(fields.get("Partition", "")),
            "name": fields.get("JobName")}


def squeue(job_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """This user's jobs the controller knows (ended ones too, while it remembers them), by
    job id; only ``job_ids`` when given. One squeue for all."""
    out = run(["squeue", "-h", "-t", "all", "-u", user(), "-o", _FORMAT], "slurm_failed",
              "squeue failed")
    jobs = {}
    wanted = set(job_ids) if job_ids is not None else None
    for line in out.splitlines():
        parts = line.split("|", 9)
        if len(parts) != 10 or (wanted is not None and parts[0] not in wanted):
            continue
        names = ("JobId", "JobState", "Reason", "StartTime", "EndTime", "TimeLeft",
                 "TimeLimit", "Partition", "NodeList", "JobName")
        jobs[parts[0]] = job_of({name: parts[i] for i, name in enumerate(names)})
    return jobs


def scontrol_job(job_id: str) -> dict[str, Any] | None:
    """One job as ``scontrol show job -o`` tells it (how it ended: TIMEOUT, its reason), or
    None once the controller forgot it."""
    try:
        out = run(["scontrol", "show", "job", "-o", job_id], "slurm_failed",
                  "scontrol failed")
    except OpError as e:
        if e.type == "slurm_failed" and "Invalid job id" in e.message:
            return None
        raise
    fields: dict[str, str] = {}
    for token in out.split():
        key, eq, value = token.partition("=")
        if eq and key not in fields:
            fields[key] = value
    if not fields.get("JobId"):
        return None
    job = job_of(fields)
    job["exit_code"] = fields.get("ExitCode")
    return job


def job_state(job_id: str) -> dict[str, Any] | None:
    """One job now: squeue's word, scontrol's when squeue no longer lists it."""
    found = squeue([job_id]).get(job_id)
    return found if found is not None else scontrol_job(job_id)


def describe(job: dict[str, Any]) -> str:
    """A line for a person: "job 12 pending (Resources)", "job 12 running on node1"."""
    state = str(job.get("state") or "UNKNOWN").lower()
    text = f"job {job.get('job_id')} {state}"
    if job.get("reason") and job.get("state") != "RUNNING":
        text += f" ({job['reason']})"
    if job.get("node") and job.get("state") == "RUNNING":
        text += f" on {job['node']}"
    if job.get("state") == "PENDING" and job.get("start"):
        text += ", expected start " + time.strftime("%H:%M", time.localtime(job["start"]))
    return text
