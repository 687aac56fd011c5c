"""A SLURM job in typed form: read from the agent's answers, and said the one way the CLI,
the TUI and the errors share."""

from __future__ import annotations

import time

from rtui.core.slurm.jobs import JobInfo, format_duration, format_start, how_ended


def test_from_agent_reads_every_field_and_tolerates_gaps() -> None:
    job = JobInfo.from_agent({
        "job_id": 12, "state": "RUNNING", "reason": "None", "node": "node1",
        "address": "10.0.0.5", "start": 1_700_000_000, "end": None, "time_left": 7090.0,
        "time_limit": 7200, "partition": "gpu", "name": "rtui-kernel", "kernel_id": "abc"})
    assert job == JobInfo(job_id="12", state="RUNNING", reason=None, node="node1",
                          address="10.0.0.5", start=1_700_000_000.0, end=None,
                          time_left=7090, time_limit=7200, partition="gpu",
                          name="rtui-kernel", kernel_id="abc")
    bare = JobInfo.from_agent({"job_id": "7", "state": "CANCELLED by 1000", "node": ""})
    assert bare.state == "CANCELLED" and bare.node is None and bare.ended
    assert JobInfo.from_agent({"job_id": "7"}).state == "UNKNOWN"


def test_states_group_as_pending_running_ended() -> None:
    def job(state: str) -> JobInfo:
        return JobInfo("1", state)

    assert job("PENDING").pending and not job("PENDING").running
    assert job("RUNNING").running and job("CONFIGURING").running
    for state in ("TIMEOUT", "PREEMPTED", "CANCELLED", "FAILED", "COMPLETED", "COMPLETING"):
        assert job(state).ended and not job(state).running and not job(state).pending
    unknown = job("UNKNOWN")
    assert not (unknown.pending or unknown.running or unknown.ended)


def test_describe_pending_running_and_ended() -> None:
    start = time.time() + 600
    pending = JobInfo("12", "PENDING", reason="Resources", start=start)
    assert pending.describe() == f"job 12 pending (Resources), expected start {format_start(start)}"
    assert JobInfo("12", "PENDING").describe() == "job 12 pending"
    running = JobInfo("12", "RUNNING", node="node1", time_left=7090)
    assert running.describe() == "job 12 running on node1, 1:58:10 left"
    counting = JobInfo("12", "RUNNING", node="node1", time_left=7090, end=time.time() + 65)
    assert counting.describe() in ("job 12 running on node1, 0:01:04 left",
                                   "job 12 running on node1, 0:01:05 left")
    assert counting.seconds_left(now=counting.end) == 0
    assert JobInfo("12", "TIMEOUT").describe() == "job 12 killed at its time limit"
    assert JobInfo("12", "PREEMPTED").describe() == "job 12 preempted"
    assert JobInfo("12", "CANCELLED", reason="None").describe() == "job 12 cancelled"
    assert JobInfo("12", "FAILED", reason="NonZeroExitCode").describe() == (
        "job 12 failed (NonZeroExitCode)")
    assert JobInfo("12", "WEIRD").describe() == "job 12 weird"


def test_how_ended_and_the_formats() -> None:
    assert how_ended("TIMEOUT") == "killed at its time limit"
    assert how_ended("CANCELLED by 0") == "cancelled"
    assert how_ended("NEW_STATE") == "ended (NEW_STATE)"
    assert format_duration(7090) == "1:58:10"
    assert format_duration(59) == "0:00:59"
    assert format_duration(2 * 86_400 + 3600) == "2-01:00:00"
    assert format_duration(-3) == "0:00:00"
    now = time.mktime((2026, 12, 7, 12, 0, 0, 0, 0, -1))
    assert format_start(now + 3600, now=now) == "13:00"
    assert format_start(now + 86_400, now=now) == "2026-12-08 12:00"
