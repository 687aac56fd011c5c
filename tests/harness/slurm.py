"""A real single-node SLURM cluster (munge, slurmctld, slurmd from Debian's packages) for tests.

Each cluster gets its own work directory, ports and node name, so two can run side by side
(two xdist workers, two engineers' worktrees)::

    WORKDIR/
      slurm.conf        generated (SLURM_CONF for every client: ``cluster.env``)
      state/ spool/     StateSaveLocation, SlurmdSpoolDir
      slurmctld.log slurmd.log

The node is this machine (``NodeAddr=127.0.0.1``, ``slurmd -N NODE``), with all its CPUs.
The login node is the loopback sshd: give it ``cluster.sshd_config()`` as extra config so
remote sessions see ``SLURM_CONF``. ``KillWait`` is short (a job's processes get SIGKILL
3 s after SIGTERM) and ``MinJobAge`` keeps ended jobs visible to ``scontrol show job`` for
5 minutes (no accounting database here: ``sacct`` does not work).

munged is shared by every cluster on the machine (one ``/run/munge`` socket); it is started
when missing and left running (stopping it would break another cluster's clients).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SLURM_MISSING_MESSAGE", "SlurmCluster", "start_slurm"]

SLURM_MISSING_MESSAGE = (
    "SLURM is not installed: apt-get install -y --no-install-recommends slurmctld slurmd "
    "slurm-client munge (.ci/run does this)")
_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_munged() -> None:
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
        return
    os.makedirs("/run/munge", exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not os.path.exists("/etc/munge/munge.key"):
        subprocess.run(["mungekey", "-c"], check=True, capture_output=True)
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True,
                   capture_output=True)


@dataclass
class SlurmCluster:
    workdir: Path
    node: str
    cpus: int
    conf: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The environment a SLURM client of this cluster needs (merged into os.environ)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def sshd_config(self) -> str:
        """Extra sshd_config text: remote sessions (the login node) see this cluster."""
        return f"SetEnv SLURM_CONF={self.conf}\n"

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a SLURM client command (sbatch, squeue, scancel...) against this cluster."""
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def hold_node(self, seconds: int = 600) -> str:
        """Submit a job that takes every CPU of the only node; its id. Jobs after it pend
        (reason Resources or Priority) until it is cancelled."""
        out = self.run("sbatch", "--parsable", "-J", "rtui-test-hold", f"-c{self.cpus}",
                       "-o", "/dev/null", "--wrap", f"sleep {seconds}")
        if out.returncode != 0:
            raise RuntimeError(f"sbatch failed: {out.stderr}")
        job = out.stdout.strip().split(";")[0]
        self.wait_state(job, "RUNNING")
        return job

    def state(self, job: str) -> str:
        out = self.run("scontrol", "show", "job", "-o", job)
        for token in out.stdout.split():
            if token.startswith("JobState="):
                return token.split("=", 1)[1]
        return ""

    def wait_state(self, job: str, *states: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            now = self.state(job)
            if now in states:
                return now
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} is {now or 'gone'}, not {'/'.join(states)} "
                                   f"after {timeout:g} s")
            time.sleep(0.1)

    def cancel_all(self) -> None:
        """Cancel every job of this cluster and wait until the node is idle again."""
        self.run("scancel", "--full", "-u", "root")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = self.run("squeue", "-h", "-o", "%i")
            idle = self.run("sinfo", "-h", "-o", "%T").stdout.strip()
            if not out.stdout.strip() and idle == "idle":
                return
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()


def start_slurm(workdir: Path, *, cpus: int | None = None) -> SlurmCluster:
    """Start a one-node cluster in ``workdir`` and wait until its node is idle."""
    if not (shutil.which("slurmctld") and shutil.which("slurmd") and shutil.which("sbatch")
            and os.path.exists("/usr/sbin/munged")):
        raise RuntimeError(SLURM_MISSING_MESSAGE)
    _ensure_munged()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "state").mkdir(exist_ok=True)
    (workdir / "spool").mkdir(exist_ok=True)
    cpus = cpus or os.cpu_count() or 1
    suffix = f"{os.getpid()}{_free_port() % 1000}"
    node = f"rtuinode{suffix}"
    conf = workdir / "slurm.conf"
    conf.write_text("\n".join([
        f"ClusterName=rtui{suffix}",
        "SlurmctldHost=localhost",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "AuthType=auth/munge",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        "KillWait=3",
        "MinJobAge=300",
        "InactiveLimit=0",
        "SchedulerParameters=sched_interval=1",
        f"StateSaveLocation={workdir / 'state'}",
        f"SlurmdSpoolDir={workdir / 'spool'}",
        f"SlurmctldPidFile={workdir / 'slurmctld.pid'}",
        f"SlurmdPidFile={workdir / 'slurmd.pid'}",
        f"SlurmctldLogFile={workdir / 'slurmctld.log'}",
        f"SlurmdLogFile={workdir / 'slurmd.log'}",
        f"NodeName={node} NodeHostname={socket.gethostname().split('.')[0]} "
        f"NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN",
        f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        f"PartitionName=short Nodes={node} MaxTime=5 State=UP",
        "",
    ]))
    cluster = SlurmCluster(workdir, node, cpus, conf)
    env = cluster.env
    with open(workdir / "daemons.out", "ab") as out:
        cluster.procs.append(subprocess.Popen(
            ["slurmctld", "-D", "-i", "-f", str(conf)], env=env, stdout=out, stderr=out,
            start_new_session=True))
        cluster.procs.append(subprocess.Popen(
            ["slurmd", "-D", "-N", node, "-f", str(conf)], env=env, stdout=out, stderr=out,
            start_new_session=True))
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            state = cluster.run("sinfo", "-h", "-n", node, "-o", "%T", timeout=5).stdout.strip()
            if state == "idle":
                return cluster
        if time.monotonic() > deadline or any(p.poll() is not None for p in cluster.procs):
            cluster.stop()
            log = ""
            for name in ("daemons.out", "slurmctld.log", "slurmd.log"):
                with contextlib.suppress(OSError):
                    log += f"--- {name}\n" + (workdir / name).read_text()[-2000:]
            raise RuntimeError(f"SLURM did not come up within {_START_TIMEOUT:g} s:\n{log}")
        time.sleep(0.1)
