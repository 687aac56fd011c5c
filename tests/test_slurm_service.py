"""The SLURM use cases against a fake agent speaking the contract's shapes (the real cluster
runs them in test_slurm_core.py): what is sent, how progress and failures come back typed,
and that a start given up cancels its job, nothing left queued by mistake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from rtui.core.errors import KernelDiedError, KernelError
from rtui.core.kernels.liveness import gone_error
from rtui.core.kernels.records import KernelRecord, RemoteKernel
from rtui.core.kernels.reloading import Reloading
from rtui.core.remote.client import AgentError, Progress
from rtui.core.slurm import service
from rtui.core.slurm.errors import (
    JobEndedError,
    JobNotReadyError,
    JobRefusedError,
    NoSlurmError,
    SlurmError,
    SlurmUnreachableError,
)
from rtui.core.slurm.jobs import JobInfo
from rtui.core.slurm.settings import SlurmSettings

Handler = Callable[[str, dict[str, Any], Callable[[Progress], None] | None], Any]


class FakeAgent:
    """Answers each op with ``handler``; remembers what was asked."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.asked: list[tuple[str, dict[str, Any], float]] = []

    async def request(self, op: str, args: dict[str, Any] | None = None, *,
                      timeout: float = 60,
                      on_progress: Callable[[Progress], None] | None = None) -> Any:
        self.asked.append((op, dict(args or {}), timeout))
        result = self.handler(op, dict(args or {}), on_progress)
        return await result if asyncio.iscoroutine(result) else result


def fake_kernels(handler: Handler) -> Any:
    """What the use cases need of HostKernels, the SLURM methods wired to them."""
    kernels = SimpleNamespace(
        name="cluster", agent=FakeAgent(handler), reloading=Reloading(),
        connection=SimpleNamespace(settings=SimpleNamespace(output_buffer_mb=64.0)))
    kernels.cancelled = []

    async def submit_slurm(**kw: Any) -> service.SubmittedJob:
        return await service.submit(kernels, **kw)  # type: ignore[arg-type]

    async def wait_slurm(kernel_id: str, **kw: Any) -> Any:
        return await service.wait_record(kernels, kernel_id,  # type: ignore[arg-type]
                                         on_update=kw["on_update"], timeout=kw["timeout"])

    async def cancel_slurm(kernel_id: str) -> JobInfo:
        kernels.cancelled.append(kernel_id)
        return await service.cancel(kernels, kernel_id)  # type: ignore[arg-type]

    kernels.submit_slurm, kernels.wait_slurm = submit_slurm, wait_slurm
    kernels.cancel_slurm = cancel_slurm
    return kernels


SUBMITTED = {"id": "k1", "job_id": "12", "state": "PENDING", "reason": "None",
             "connection_file": "/h/.local/share/jupyter/runtime/kernel-k1.json",
             "log_file": "/h/jobs/k1/job.out", "dir": "/h/jobs/k1"}
JOB = {"job_id": "12", "state": "RUNNING", "reason": None, "node": "node1",
       "address": "10.1.2.3", "start": 1000.0, "time_left": 3590, "time_limit": 3600,
       "end": 4600.0, "partition": "debug"}


def progress(job: dict[str, Any]) -> Progress:
    return Progress(f"job {job['job_id']} {job['state']}", None, {"line": "", "job": job})


async def test_submit_sends_the_settings_and_answers_the_job() -> None:
    kernels = fake_kernels(lambda op, args, _: SUBMITTED)
    settings = SlurmSettings(partition="debug", time="10", setup=("module load x",))
    submitted = await service.submit(kernels, python="/usr/bin/python3", spyder=True,
                                     cwd="~/work", settings=settings)
    assert submitted == service.SubmittedJob(
        "k1", JobInfo(job_id="12", state="PENDING", kernel_id="k1"))
    op, args, _ = kernels.agent.asked[0]
    assert op == "slurm_submit"
    assert args["slurm"] == {"partition": "debug", "time": "10", "setup": ["module load x"]}
    assert (args["python"], args["kind"], args["cwd"]) == ("/usr/bin/python3", "spyder",
                                                           "~/work")
    assert args["env"] and args["output_buffer_mb"] == 64.0  # spyder's reloader's setting


async def test_wait_tells_each_change_once_then_the_running_job() -> None:
    pending = {"job_id": "12", "state": "PENDING", "reason": "Resources", "start": 2000}

    def answer(op: str, args: dict[str, Any], on_progress: Any) -> Any:
        assert (op, args["kernel_id"], args["timeout"]) == ("slurm_wait", "k1", 120)
        for job in (pending, pending, {**pending, "reason": "Priority"}):
            on_progress(progress(job))
        on_progress(Progress("job 12: the SLURM controller does not answer: timed out; "
                             "trying again", None, {"line": "..."}))
        for job in (pending, JOB):
            on_progress(progress(job))
        return {"id": "k1", "python": "py", "connection": {}, "slurm": {**JOB, "time_left": 3588}}

    kernels = fake_kernels(answer)
    told: list[JobInfo] = []
    record = await service.wait_record(kernels, "k1", on_update=told.append, timeout=120)
    assert record["slurm"]["time_left"] == 3588
    assert [(j.state, j.reason) for j in told] == [
        ("PENDING", "Resources"), ("PENDING", "Priority"),
        ("PENDING", "the SLURM controller does not answer: timed out; trying again"),
        ("PENDING", "Resources"), ("RUNNING", None)]
    assert told[-1].node == "node1" and told[-1].kernel_id == "k1"
    assert told[-1].time_left == 3590  # the record's job says nothing new: not told again
    assert kernels.agent.asked[0][2] > 120  # the agent's own bound answers first


@pytest.mark.parametrize(
    ("kind", "message", "cls"),
    [
        ("slurm_refused", "sbatch refused the job: sbatch: error: invalid partition "
                          "specified: nope", JobRefusedError),
        ("no_slurm", "sbatch is not on this host's PATH: is it a SLURM login node?",
         NoSlurmError),
        ("slurm_unreachable", "the SLURM controller does not answer: Unable to contact "
                              "slurm controller", SlurmUnreachableError),
        ("job_ended", "job 12 ended (FAILED: NonZeroExitCode) before its kernel was ready; "
                      "last lines of job.out:\nNo module named ipykernel", JobEndedError),
    ],
)
async def test_agent_failures_come_back_typed_with_their_words(
        kind: str, message: str, cls: type[SlurmError]) -> None:
    def refuse(op: str, args: dict[str, Any], _: Any) -> Any:
        raise AgentError(message, kind)

    kernels = fake_kernels(refuse)
    with pytest.raises(cls) as info:
        await service.submit(kernels, python="py", spyder=False, cwd=None,
                             settings=SlurmSettings())
    assert str(info.value) == message and info.value.type == kind
    if isinstance(info.value, JobEndedError):
        assert (info.value.job_id, info.value.state) == ("12", "FAILED")


async def test_an_unknown_kernel_and_a_wait_out_of_time_are_said_plainly() -> None:
    def not_found(op: str, args: dict[str, Any], _: Any) -> Any:
        raise AgentError("no kernel 'zz'", "not_found")

    with pytest.raises(KernelError, match=r"no kernel 'zz' on cluster: `rtui jobs cluster`"):
        await service.cancel(fake_kernels(not_found), "zz")

    def slow(op: str, args: dict[str, Any], on_progress: Any) -> Any:
        on_progress(progress({"job_id": "12", "state": "PENDING", "reason": "Priority"}))
        raise AgentError("the rtui agent on cluster did not answer 'slurm_wait'", "timeout")

    with pytest.raises(JobNotReadyError, match=r"job 12 pending \(Priority\): its kernel was "
                       r"not ready within 5 s on cluster; the job keeps its place"):
        await service.wait_record(fake_kernels(slow), "k1", on_update=None, timeout=5)


async def test_a_start_cancelled_while_pending_cancels_its_job() -> None:
    waiting = asyncio.Event()

    async def answer(op: str, args: dict[str, Any], on_progress: Any) -> Any:
        if op == "slurm_submit":
            return SUBMITTED
        if op == "slurm_wait":
            waiting.set()
            await asyncio.sleep(3600)
        return {"job_id": "12", "state": "CANCELLED"}

    kernels = fake_kernels(answer)
    told: list[JobInfo] = []
    start = asyncio.ensure_future(service.start(
        kernels, python="py", spyder=False, cwd=None, settings=SlurmSettings(),
        on_update=told.append, code=None, timeout=None))
    await asyncio.wait_for(waiting.wait(), 5)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    assert kernels.cancelled == ["k1"]
    assert [op for op, _, _ in kernels.agent.asked] == ["slurm_submit", "slurm_wait",
                                                        "slurm_cancel"]
    assert told[0].state == "PENDING"  # the submit's answer is told first


async def test_a_start_whose_job_ended_cancels_nothing_and_a_failed_cancel_is_told() -> None:
    def ended(op: str, args: dict[str, Any], _: Any) -> Any:
        if op == "slurm_submit":
            return SUBMITTED
        raise AgentError("job 12 ended (TIMEOUT: TimeLimit) before its kernel was ready",
                         "job_ended")

    kernels = fake_kernels(ended)
    with pytest.raises(JobEndedError):
        await service.start(kernels, python="py", spyder=False, cwd=None,
                            settings=SlurmSettings(), on_update=None, code=None, timeout=None)
    assert kernels.cancelled == []

    def unreachable(op: str, args: dict[str, Any], _: Any) -> Any:
        if op == "slurm_submit":
            return SUBMITTED
        raise AgentError("the SLURM controller does not answer: timed out", "slurm_unreachable")

    kernels = fake_kernels(unreachable)
    with pytest.raises(SlurmError, match=r"(?s)does not answer: timed out\ncancelling its job "
                       r"12 failed too \(the SLURM .*\): it may still be queued"):
        await service.start(kernels, python="py", spyder=False, cwd=None,
                            settings=SlurmSettings(), on_update=None, code=None, timeout=None)
    assert kernels.cancelled == ["k1"]


def test_gone_error_says_how_the_job_ended() -> None:
    def said(state: str, **exit_info: Any) -> KernelDiedError:
        return gone_error("cluster", "k1", {
            "alive": False, "slurm": {**JOB, "state": state},
            "exit": {"slurm_state": state, "log_tail": "rtui: kernel on node1\nboom\n",
                     **exit_info}})

    timeout = said("TIMEOUT", reason="TimeLimit")
    assert str(timeout).startswith(
        "kernel k1 on cluster is not running: its job 12 killed at its time limit; the end "
        "of its output:\n  rtui: kernel on node1\n  boom\n`rtui log cluster k1` shows its "
        "kept output")
    assert timeout.title == "Job ended"
    assert "its job 12 preempted;" in str(said("PREEMPTED"))
    assert "its job 12 cancelled;" in str(said("CANCELLED", reason="None"))
    assert "its job 12 failed (exit 3);" in str(said("FAILED", code=3))
    assert "its job 12 ended: its kernel exited with code 0;" in str(said("COMPLETED", code=0))
    assert "its job 12 failed (NonZeroExitCode);" in str(said("FAILED",
                                                             reason="NonZeroExitCode"))
    plain = gone_error("h", "k2", {"alive": False, "pid": 7})
    assert "its process 7 has exited" in str(plain)  # a kernel in no job: as before


def test_records_carry_the_job_and_the_cluster_exposure_note() -> None:
    record = KernelRecord.from_agent({"id": "k1", "connection_file": "/c", "alive": True,
                                      "rtui": True, "slurm": JOB})
    assert record.slurm is not None and record.slurm.kernel_id == "k1"
    assert record.slurm.time_left == 3590 and record.slurm.end == 4600.0
    assert record.slurm.describe() == "job 12 running on node1, 0:00:00 left"  # its end passed
    assert KernelRecord.from_agent({"id": "k2", "slurm": None}).slurm is None
    kernel = RemoteKernel(host="cluster", id="k1", connection_file="/c",
                          session=cast(Any, None), tunnel=cast(Any, None), launched=True,
                          slurm=record.slurm)
    assert kernel.exposure_note == (
        "note: kernel k1 is reachable on the cluster network (node1, 10.1.2.3): its ports "
        "are open to other users of the cluster; every message is signed")
