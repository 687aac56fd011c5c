"""A SLURM job as rtui shows it: its state, why it waits or where it runs, and how it ended.

The agent on the login node asks squeue and scontrol; this is its answer in typed form, with
the wording the CLI, the TUI and the errors share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["JobInfo", "format_duration", "format_start", "how_ended"]

_PENDING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
_RUNNING = frozenset({"RUNNING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING",
                      "RESIZING"})
_ENDED = frozenset({"COMPLETED", "COMPLETING", "CANCELLED", "FAILED", "TIMEOUT", "PREEMPTED",
                    "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "SPECIAL_EXIT",
                    "REVOKED", "STAGE_OUT"})
_HOW_ENDED = {
    "TIMEOUT": "killed at its time limit",
    "PREEMPTED": "preempted",
    "CANCELLED": "cancelled",
    "FAILED": "failed",
    "COMPLETED": "ended (its kernel exited)",
    "COMPLETING": "ending",
    "NODE_FAIL": "ended: its node failed",
    "BOOT_FAIL": "failed: its node did not boot",
    "OUT_OF_MEMORY": "killed: out of memory",
    "DEADLINE": "ended at its deadline",
    "SPECIAL_EXIT": "failed (special exit)",
    "REVOKED": "revoked",
    "STAGE_OUT": "ending (staging out)",
}


@dataclass(frozen=True)
class JobInfo:
    """One job as squeue/scontrol tell it. Times: ``start``/``end`` epoch seconds (expected
    ones while pending), ``time_left``/``time_limit`` seconds; None where unknown or
    unlimited. ``kernel_id``: the rtui kernel the job runs, when it is one of rtui's."""

    job_id: str
    state: str
    reason: str | None = None
    node: str | None = None
    address: str | None = None
    start: float | None = None
    end: float | None = None
    time_left: int | None = None
    time_limit: int | None = None
    partition: str | None = None
    name: str | None = None
    kernel_id: str | None = None

    @classmethod
    def from_agent(cls, data: dict[str, Any]) -> JobInfo:
        """A job from the agent's answer (slurm_wait's progress, slurm_jobs, list, resolve)."""
        state = str(data.get("state") or "UNKNOWN").split()[0].upper()  # "CANCELLED by 0"
        reason = _text(data.get("reason"))
        return cls(
            job_id=str(data.get("job_id")), state=state,
            reason=None if reason in ("None", "(null)") else reason,
            node=_text(data.get("node")), address=_text(data.get("address")),
            start=_number(data.get("start")), end=_number(data.get("end")),
            time_left=_whole(data.get("time_left")), time_limit=_whole(data.get("time_limit")),
            partition=_text(data.get("partition")), name=_text(data.get("name")),
            kernel_id=_text(data.get("kernel_id")),
        )

    @property
    def pending(self) -> bool:
        """Queued: waiting for its resources (``reason`` says why)."""
        return self.state in _PENDING

    @property
    def running(self) -> bool:
        """Holding its node: its kernel may answer."""
        return self.state in _RUNNING

    @property
    def ended(self) -> bool:
        """Over (or being ended): its kernel is gone, or going."""
        return self.state in _ENDED

    def seconds_left(self, now: float | None = None) -> int | None:
        """Seconds until the time limit as of ``now`` (from its end time when known, so a
        status line counts down between polls); None: no limit known."""
        if self.end is not None and self.running:
            return max(int(self.end - (time.time() if now is None else now)), 0)
        return self.time_left

    def describe(self) -> str:
        """"job 12 pending (Resources), expected start 17:40", "job 12 running on node1,
        1:58:10 left", "job 12 killed at its time limit"."""
        if self.pending:
            text = f"job {self.job_id} pending"
            if self.reason:
                text += f" ({self.reason})"
            if self.start is not None:
                text += f", expected start {format_start(self.start)}"
            return text
        if self.running:
            verb = "running" if self.state == "RUNNING" else self.state.lower()
            text = f"job {self.job_id} {verb}" + (f" on {self.node}" if self.node else "")
            left = self.seconds_left()
            if left is not None:
                text += f", {format_duration(left)} left"
            return text
        if self.ended:
            text = f"job {self.job_id} {how_ended(self.state)}"
            if self.reason and self.state in ("FAILED", "NODE_FAIL", "BOOT_FAIL"):
                text += f" ({self.reason})"
            return text
        return f"job {self.job_id} {self.state.lower()}"


def how_ended(state: str) -> str:
    """"killed at its time limit", "preempted", "cancelled", "failed"... for an ended state."""
    state = state.split()[0].upper() if state.strip() else "UNKNOWN"
    return _HOW_ENDED.get(state, f"ended ({state})")


def format_duration(seconds: float) -> str:
    """``1:58:10``, ``2-01:00:00`` with days (squeue's way)."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_start(epoch: float, *, now: float | None = None) -> str:
    """A time of day here ("17:40"); with its date when not today ("2026-12-08 09:00")."""
    when = time.localtime(epoch)
    today = time.localtime(time.time() if now is None else now)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)
