"""The slurm benchmark's ground: its own one-node cluster (the test harness's), the login
node (a loopback OpenSSH sshd whose sessions see the cluster), the scheduler's own paths
(``srun true``, a batch script's start) and the instants the daemons log for a job."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.harness.slurm import SlurmCluster, start_slurm
from tests.harness.sshd import SSHD, start_sshd

__all__ = [
    "IDLE_TIMEOUT",
    "BatchRun",
    "JobInstants",
    "batch_kernel",
    "batch_start",
    "cluster_line",
    "job_instants",
    "login_node",
    "srun_true",
    "wait_idle",
]

IDLE_TIMEOUT = 60.0  # seconds for the node to be idle again after a run's job ended
STEP_TIMEOUT = 60.0  # one srun, one batch job's start
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\] (.*)$")


@contextlib.contextmanager
def login_node(root: Path) -> Iterator[tuple[SlurmCluster, SSHD]]:
    """A cluster of its own (this machine is its only node) and its login node, a loopback
    sshd whose sessions get ``SLURM_CONF``; both stopped on exit, every job cancelled."""
    cluster = start_slurm(root / "cluster")
    try:
        server = start_sshd(root / "login", extra_config=cluster.sshd_config())
        try:
            yield cluster, server
        finally:
            server.close()
    finally:
        with contextlib.suppress(Exception):
            cluster.cancel_all()
        cluster.stop()


def cluster_line(cluster: SlurmCluster) -> str:
    """What the cluster is, for the header: SLURM's version, the node, its scheduling."""
    out = cluster.run("sbatch", "--version", timeout=10)
    version = (out.stdout or out.stderr).strip() or "sbatch ?"
    return (f"Cluster: {version}, its own slurmctld + slurmd (tests/harness/slurm.py): one "
            f"node `{cluster.node}` = this machine ({cluster.cpus} CPUs, NodeAddr 127.0.0.1), "
            f"SchedulerParameters sched_interval=1, munge auth; the login node a loopback "
            f"OpenSSH sshd on the same machine (its HOME the shared filesystem)")


def wait_idle(cluster: SlurmCluster, timeout: float = IDLE_TIMEOUT) -> None:
    """Return once no job is queued, running or completing and the node is idle, no CPU
    allocated (not timed). The node's own record is read (``scontrol show node``): ``sinfo
    -n NODE`` was seen saying "mixed" for minutes after the node's last job ended."""
    deadline = time.monotonic() + timeout
    while True:
        queued = cluster.run("squeue", "-h", "-o", "%i", timeout=10).stdout.strip()
        node = cluster.run("scontrol", "show", "node", "-o", cluster.node,
                           timeout=10).stdout.split()
        fields = dict(token.split("=", 1) for token in node if "=" in token)
        state = f"{fields.get('State', '?')}, {fields.get('CPUAlloc', '?')} CPUs allocated"
        if not queued and fields.get("State") == "IDLE" and fields.get("CPUAlloc") == "0":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the node is not idle after {timeout:g} s (jobs: "
                               f"{queued or 'none'}, node {state or '?'})")
        time.sleep(0.1)


def srun_true(cluster: SlurmCluster) -> float:
    """Seconds for ``srun true`` on the idle node: the scheduler's own floor (allocate, launch
    a step, run it, release), from this login node."""
    started = time.perf_counter()
    out = cluster.run("srun", "true", timeout=STEP_TIMEOUT)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"srun true failed ({out.returncode}): {out.stderr.strip()}")
    return seconds


@dataclass(frozen=True)
class BatchRun:
    """A timed batch job: its seconds from the submit, its id and the submit's epoch."""

    seconds: float
    job_id: str
    submitted: float

    def after_allocation(self, cluster: SlurmCluster) -> float | None:
        """Its seconds from slurmctld's allocation (its log) instead: without the wait for
        the scheduler's pass, which falls anywhere in 0-1 s here."""
        allocated = job_instants(cluster, self.job_id).allocated
        return None if allocated is None else self.submitted + self.seconds - allocated


def batch_start(cluster: SlurmCluster, scratch: Path) -> BatchRun:
    """Seconds from ``sbatch`` to its batch script running on the node (the script writes
    ``date +%s.%N`` first thing): the scheduler's batch path, which rtui's jobs take."""
    out_file = scratch / f"batch-{time.monotonic_ns()}.out"
    started = time.time()
    out = cluster.run("sbatch", "--parsable", "-J", "rtui-bench-batch", "-o", str(out_file),
                      "--wrap", "date +%s.%N", timeout=STEP_TIMEOUT)
    if out.returncode != 0:
        raise RuntimeError(f"sbatch failed ({out.returncode}): {out.stderr.strip()}")
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        with contextlib.suppress(OSError, ValueError):
            text = out_file.read_text().strip()
            if text:
                out_file.unlink()
                return BatchRun(float(text.splitlines()[0]) - started,
                                out.stdout.strip().split(";")[0], started)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the batch job {out.stdout.strip()} did not run within "
                               f"{STEP_TIMEOUT:g} s")
        time.sleep(0.02)


def batch_kernel(cluster: SlurmCluster, scratch: Path) -> BatchRun:
    """Seconds from ``sbatch`` of a bare ipykernel (``python -m ipykernel_launcher -f F``,
    its ports and key chosen here) to its first kernel_info_reply, asked for from the submit
    on (zmq queues the request until the kernel binds): the scheduler's batch path plus the
    kernel's own boot, nothing of rtui's. Its job is cancelled and the node idle on return.
    zmq retries the connection to the port not yet bound every 10 ms (100 by default)."""
    import zmq
    from jupyter_client.blocking.client import BlockingKernelClient

    connection = scratch / f"kernel-{time.monotonic_ns()}.json"
    info: dict[str, object] = {name: _free_port() for name in (
        "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")}
    info.update(ip="127.0.0.1", transport="tcp", key=secrets.token_hex(16),
                signature_scheme="hmac-sha256", kernel_name="python3")
    connection.write_text(json.dumps(info))
    connection.chmod(0o600)
    context = zmq.Context()
    context.setsockopt(zmq.RECONNECT_IVL, 10)
    client = BlockingKernelClient(context=context)
    client.load_connection_file(str(connection))
    client.start_channels(iopub=False, stdin=False, hb=False, control=False)
    job = ""
    try:
        started = time.time()
        out = cluster.run("sbatch", "--parsable", "-J", "rtui-bench-kernel", "-o", "/dev/null",
                          "--wrap", f"exec {sys.executable} -m ipykernel_launcher -f {connection}",
                          timeout=STEP_TIMEOUT)
        if out.returncode != 0:
            raise RuntimeError(f"sbatch failed ({out.returncode}): {out.stderr.strip()}")
        job = out.stdout.strip().split(";")[0]
        client.kernel_info()
        reply = client.get_shell_msg(timeout=STEP_TIMEOUT)
        seconds = time.time() - started
        if reply["msg_type"] != "kernel_info_reply":
            raise RuntimeError(f"the kernel answered {reply['msg_type']}, not kernel_info_reply")
        return BatchRun(seconds, job, started)
    finally:
        client.stop_channels()
        context.destroy(linger=0)
        if job:
            cluster.run("scancel", job, timeout=STEP_TIMEOUT)
        wait_idle(cluster)
        connection.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class JobInstants:
    """When the daemons logged a job's steps (epoch seconds, ms resolution), None if not."""

    submitted: float | None  # slurmctld took the sbatch
    allocated: float | None  # slurmctld gave it the node (RUNNING from then)
    launched: float | None  # slurmd launched its batch script


def job_instants(cluster: SlurmCluster, job_id: str) -> JobInstants:
    """A job's instants from slurmctld.log and slurmd.log (each line is stamped to the ms in
    this machine's local time, as ``time.time()`` reads it)."""
    job = re.escape(job_id)
    controller = _logged(cluster.workdir / "slurmctld.log", (
        rf"_slurm_rpc_submit_batch_job: JobId={job}\b",
        rf"(?:sched: Allocate|backfill: Started) JobId={job}\b"))
    node = _logged(cluster.workdir / "slurmd.log", (rf"Launching batch job {job}\b",))
    return JobInstants(controller[0], controller[1], node[0])


def _logged(log: Path, patterns: tuple[str, ...]) -> list[float | None]:
    """The first instant each pattern is logged in ``log`` (None: not there)."""
    found: list[float | None] = [None] * len(patterns)
    compiled = [re.compile(p) for p in patterns]
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        stamped = _STAMP.match(line)
        if stamped is None:
            continue
        for index, pattern in enumerate(compiled):
            if found[index] is None and pattern.search(stamped.group(2)):
                found[index] = datetime.fromisoformat(stamped.group(1)).timestamp()
    return found
