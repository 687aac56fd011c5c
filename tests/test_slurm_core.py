"""Kernels as SLURM jobs through the core, on a real one-node cluster whose login node is the
loopback sshd: pending with its reason -> running -> execute, interrupt, restart, reattach (by
id and by connection file) -> shutdown cancels the job; a start cancelled while pending leaves
nothing queued; sbatch's refusal in its own words; a job killed from outside named as such.

Cost (one xdist worker runs every SLURM test): ~20 s calm, ~26 s at load 8, most of it two
kernels' boots, the node held and squeue's 2 s polls."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from rtui.core.errors import KernelDiedError
from rtui.core.kernels import events as ev
from rtui.core.kernels.service import HostKernels, RemoteKernel
from rtui.core.slurm.errors import JobRefusedError
from rtui.core.slurm.jobs import JobInfo
from rtui.core.slurm.settings import SlurmSettings
from tests.harness.slurm import SlurmCluster
from tests.harness.sshd import SSHD
from tests.ssh_helpers import connection, host_for, trust

PY = sys.executable  # the node's Python: this machine's, which has ipykernel
SETTINGS = SlurmSettings(partition="debug", time="10", cpus=1)


@pytest_asyncio.fixture
async def login(slurm_sshd: SSHD, slurm: SlurmCluster,
                isolated_home: Path) -> AsyncIterator[HostKernels]:
    """The kernels service of the cluster's login node (the cluster idle, and left so)."""
    trust(slurm_sshd, isolated_home)
    conn, _ = connection(host_for(slurm_sshd, "cluster", python=PY, slurm=SETTINGS))
    service = HostKernels(conn, python=PY)
    try:
        yield service
    finally:
        await service.close()
        await conn.close()


async def run(kernel: RemoteKernel, code: str) -> list[ev.KernelEvent]:
    return [event async for event in kernel.session.execute(code)]


def queued(slurm: SlurmCluster) -> list[str]:
    """Ids of the cluster's jobs that are still queued or running."""
    return slurm.run("squeue", "-h", "-o", "%i").stdout.split()


async def until(what: str, check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        await asyncio.sleep(0.05)


async def test_pending_running_execute_interrupt_restart_shutdown(
        login: HostKernels, slurm: SlurmCluster) -> None:
    holder = slurm.hold_node()
    submitted = await login.submit_slurm(python=PY, settings=SETTINGS)
    assert submitted.job.job_id != holder and submitted.job.kernel_id == submitted.kernel_id
    told: list[JobInfo] = []
    waiting = asyncio.ensure_future(login.wait_slurm(submitted.kernel_id,
                                                     on_update=told.append, code="x = 1"))
    try:
        await until("the wait to tell the job pending with a reason",
                    lambda: any(j.pending and j.reason for j in told))
        pending = next(j for j in told if j.pending and j.reason)
        assert pending.job_id == submitted.job.job_id
        assert pending.reason in ("Resources", "Priority")
        assert pending.describe().startswith(f"job {pending.job_id} pending ({pending.reason})")
        listed = {j.job_id: j for j in await login.slurm_jobs()}
        assert listed[pending.job_id].kernel_id == submitted.kernel_id
        assert listed[pending.job_id].pending and listed[holder].running
        records = {r.id: r for r in await login.list()}  # listed though not yet running
        assert records[submitted.kernel_id].slurm is not None
        assert records[submitted.kernel_id].slurm.pending  # type: ignore[union-attr]
        slurm.run("scancel", holder)
        kernel = await asyncio.wait_for(waiting, 60)
    finally:
        if not waiting.done():
            waiting.cancel()
    try:
        assert told[-1].running and told[-1].node == slurm.node
        assert kernel.slurm is not None and kernel.slurm.node == slurm.node
        assert kernel.slurm.address == "127.0.0.1"
        # its node's TCP ports by direct-tcpip through the login node (not the host's
        # Unix-socket route the status line used to name)
        assert kernel.route == "tcp"
        assert kernel.exposure_note is not None
        assert f"reachable on the cluster network ({slurm.node}, 127.0.0.1)" in (
            kernel.exposure_note)
        assert kernel.first is not None  # the code given to the wait went first
        out = await run(kernel, "x + 1")
        assert [str(e.data.get("text/plain")) for e in out
                if isinstance(e, ev.ExecuteResult)] == ["2"]
        status = await login.job_status(kernel)
        assert status is not None and status.running and status.time_limit == 600
        # Interrupt: SIGINT reaches the kernel in the job.
        events: list[ev.KernelEvent] = []

        async def collect() -> None:
            async for event in kernel.session.execute("import time; time.sleep(60)"):
                events.append(event)

        sleeping = asyncio.ensure_future(collect())
        await asyncio.sleep(0.5)
        await login.interrupt(kernel)
        await asyncio.wait_for(sleeping, 10)
        assert any(isinstance(e, ev.Error) and e.ename == "KeyboardInterrupt" for e in events)
        # Restart: the same job, a fresh namespace, the session carries on.
        await login.restart(kernel)
        out = await run(kernel, "print('x' in dir())")
        assert "".join(e.text for e in out if isinstance(e, ev.Stream)) == "False\n"
        assert kernel.slurm.job_id in queued(slurm)
        # Reattach by id, as for any kernel: the job comes with it.
        await login.detach(kernel)
        kernel = await login.attach(kernel.id, console=False)
        assert kernel.slurm is not None and kernel.slurm.node == slurm.node
        assert kernel.slurm.running and kernel.exposure_note is not None
        out = await run(kernel, "print(6 * 7)")
        assert "".join(e.text for e in out if isinstance(e, ev.Stream)) == "42\n"
        # And by its connection file (here on this machine too: the login node's home).
        await login.detach(kernel)
        assert kernel.connection_file is not None
        kernel = await login.attach(kernel.connection_file, console=False)
        assert kernel.slurm is not None and kernel.slurm.node == slurm.node
    finally:
        await login.shutdown(kernel)
    # Shutdown cancels the job: nothing of it is queued, its kernel is no longer listed.
    assert kernel.slurm.job_id not in queued(slurm)
    assert kernel.id not in {r.id for r in await login.list()}


async def test_a_start_cancelled_while_pending_leaves_nothing_queued(
        login: HostKernels, slurm: SlurmCluster) -> None:
    holder = slurm.hold_node()
    told: list[JobInfo] = []
    start = asyncio.ensure_future(login.start_slurm(python=PY, settings=SETTINGS,
                                                    on_update=told.append))
    await until("the start to tell the job pending", lambda: any(j.pending for j in told))
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    assert queued(slurm) == [holder]
    assert told[0].kernel_id not in {r.id for r in await login.list()}
    assert not any(j.kernel_id == told[0].kernel_id and not j.ended
                   for j in await login.slurm_jobs())


async def test_a_bad_partition_is_refused_in_sbatchs_words(
        login: HostKernels, slurm: SlurmCluster) -> None:
    """Nothing queued and no record kept (records other tests of this worker left aside)."""
    before = {r.id for r in await login.list()}
    with pytest.raises(JobRefusedError) as info:
        await login.submit_slurm(python=PY, settings=SETTINGS.merged(partition="nope"))
    assert "invalid partition" in str(info.value).lower()  # sbatch's own words
    assert info.value.type == "slurm_refused"
    assert queued(slurm) == []
    assert {r.id for r in await login.list()} <= before


async def test_a_job_cancelled_from_outside_is_told_as_cancelled(
        login: HostKernels, slurm: SlurmCluster) -> None:
    kernel = await login.start_slurm(python=PY, settings=SETTINGS)
    try:
        assert kernel.slurm is not None
        slurm.run("scancel", kernel.slurm.job_id)
        gone: list[KernelDiedError | None] = [None]

        async def look() -> bool:
            gone[0] = await login.gone(kernel)
            return gone[0] is not None

        deadline = time.monotonic() + 20
        while not await look():
            assert time.monotonic() < deadline, "gone() did not tell the job ended"
            await asyncio.sleep(0.2)
        message = str(gone[0])
        assert f"its job {kernel.slurm.job_id} cancelled" in message
        assert f"`rtui log {login.name} {kernel.id}` shows its kept output" in message
    finally:
        with contextlib.suppress(Exception):
            await login.cancel_slurm(kernel.id)
    assert queued(slurm) == []
