"""The SLURM test cluster itself: up, a job runs, a second pends on the held node, a bad
partition is refused in sbatch's own words, and the login node (sshd) sees the cluster."""

from __future__ import annotations

import subprocess
import time

from tests.harness.slurm import SlurmCluster
from tests.harness.sshd import SSHD


def test_the_cluster_runs_queues_and_refuses(slurm: SlurmCluster) -> None:
    hold = slurm.hold_node()
    out = slurm.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true")
    assert out.returncode == 0, out.stderr
    waiting = out.stdout.strip()
    slurm.wait_state(waiting, "PENDING")
    deadline = time.monotonic() + 15
    while (reason := slurm.run("squeue", "-h", "-j", waiting, "-o", "%r").stdout.strip()) \
            == "None" and time.monotonic() < deadline:
        time.sleep(0.1)  # the reason is set by the scheduler's next pass
    assert reason in ("Resources", "Priority")
    slurm.run("scancel", hold)
    slurm.wait_state(waiting, "COMPLETED")
    bad = slurm.run("sbatch", "-p", "nope", "--wrap", "true")
    assert bad.returncode != 0 and "invalid partition" in bad.stderr.lower()


def test_the_login_node_sees_the_cluster(slurm: SlurmCluster, slurm_sshd: SSHD) -> None:
    options = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
               "-o", f"UserKnownHostsFile={slurm_sshd.known_hosts}",
               "-i", str(slurm_sshd.client_key), "-p", str(slurm_sshd.port)]
    out = subprocess.run(
        ["ssh", *options, f"{slurm_sshd.user}@{slurm_sshd.host}", "sinfo -h -o '%N %T'"],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [slurm.node, "idle"]
