"""SLURM kernels from the CLI: ``rtui kernel start --slurm``, ``rtui run --slurm``, ``rtui jobs``,
``rtui kernels`` and ``rtui kernel stop`` on a SLURM login node.

The flags and the tables are checked here without a cluster; the commands run against the
real one-node cluster (tests/harness/slurm.py) with the loopback sshd as its login node, in
this process where nothing runs beside them, as a shell runs them where one must wait or be
interrupted (ctrl+c is SIGINT to the process). Cost: ~20 s of one worker on a quiet machine
(four kernels in jobs, a node held once).
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from rtui.cli import slurm as slurm_cli
from rtui.cli.main import build_parser, main
from rtui.core.config.model import Config
from rtui.core.config.store import HostStore
from rtui.core.slurm.jobs import JobInfo
from rtui.core.slurm.settings import SlurmSettings
from tests.cli_helpers import cli, rtui_only
from tests.harness.slurm import SlurmCluster
from tests.harness.sshd import SSHD
from tests.ssh_helpers import host_for, trust

NOW = time.mktime((2026, 12, 7, 17, 30, 0, 0, 0, -1))  # local time
KERNEL = "3f2a9c1e-5b7d-4e2f-9a01-23456789abcd"


def test_job_flags_are_parsed_and_checked_as_the_hosts_file_is() -> None:
    args = build_parser().parse_args(
        ["kernel", "start", "lab", "--slurm", "--partition", "debug", "--time", "1-02:00",
         "--cpus", "4", "--mem", "16G", "--gpus", "a100:2", "--account", "proj42",
         "--qos", "normal", "--reservation", "lab", "--gres", "gpu:1"])
    assert slurm_cli.slurm_flags(args) == {
        "partition": "debug", "time": "1-02:00", "cpus": 4, "mem": "16G", "gpus": "a100:2",
        "account": "proj42", "qos": "normal", "reservation": "lab", "gres": "gpu:1"}
    args = build_parser().parse_args(["run", "lab", "--slurm", "-c", "1"])
    assert slurm_cli.slurm_flags(args) == {}  # the host's table as it is
    args = build_parser().parse_args(["run", "lab", "-c", "1"])
    assert slurm_cli.slurm_flags(args) is None  # not a job


@pytest.mark.usefixtures("isolated_home")
def test_bad_job_flags_are_usage_errors_before_anything_connects(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 and the core's own words; the host is not even looked up (none is known)."""
    for argv, said in (
            (["kernel", "start", "lab", "--slurm", "--time", "5X"],
             "argument --time: '5X' is not a time (sbatch's formats: MM, MM:SS"),
            (["kernel", "start", "lab", "--slurm", "--cpus", "0"],
             "argument --cpus: must be 1-100000, got 0"),
            (["run", "lab", "--slurm", "--cpus", "two", "-c", "1"],
             "argument --cpus: must be a whole number 1-100000, got text 'two'"),
            (["kernel", "start", "lab", "--slurm", "--mem", "5X"],
             "argument --mem: '5X' is not an amount of memory"),
            (["kernel", "start", "lab", "--slurm", "--partition", "a b"],
             "argument --partition: 'a b' is not a"),
            (["kernel", "start", "lab", "--partition", "debug", "--time", "5"],
             "--partition, --time: job settings need --slurm"),
            (["run", "lab", "--slurm", "-k", KERNEL, "-c", "1"],
             "--slurm starts a new kernel as a job: not with -k or --connection-file")):
        with pytest.raises(SystemExit) as ended:
            main(argv)
        err = capsys.readouterr().err
        assert ended.value.code == 2, (argv, err)
        assert said in err and "Traceback" not in err, (argv, err)


def test_the_jobs_table_fits_80_columns() -> None:
    jobs = [
        JobInfo("1041", "RUNNING", node="rtuinode123456", start=NOW - 600, time_left=7090,
                time_limit=7200, kernel_id=KERNEL, name=f"rtui-{KERNEL}"),
        JobInfo("1042", "PENDING", reason="ReqNodeNotAvail,_UnavailableNodes:rtuinode12345"
                "6,rtuinode7", start=NOW + 86400 + 1800, time_left=3600, kernel_id=KERNEL),
        JobInfo("1043", "PENDING", reason="Priority", name="train.sh"),
        JobInfo("1040", "TIMEOUT", reason="TimeLimit", kernel_id=KERNEL),
    ]
    table = slurm_cli.jobs_table(jobs, now=NOW)
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    assert table[0].split() == ["JOB", "KERNEL", "STATE", "NODE/REASON", "TIME", "LEFT",
                                "START"]
    assert table[1].split() == ["1041", "3f2a9c1e", "RUNNING", "rtuinode123456", "1:58:10",
                                "17:20"]
    pending = table[2].split()
    assert pending[:3] == ["1042", "3f2a9c1e", "PENDING"]
    assert pending[3].startswith("ReqNodeNotAvail,_Unavail") and pending[3].endswith("…")
    assert pending[4:] == ["1:00:00", "2026-12-08", "18:00"]
    assert table[3].split() == ["1043", "-", "PENDING", "Priority", "-", "-"]
    assert table[4].split() == ["1040", "3f2a9c1e", "TIMEOUT", "TimeLimit", "-", "-"]
    # Columns line up: each header word starts where its cells do.
    start = table[0].index("STATE")
    assert {line[start:].split()[0] for line in table[1:]} == {"RUNNING", "PENDING", "TIMEOUT"}


def test_a_slurm_kernel_in_the_kernels_list_shows_its_job() -> None:
    running = JobInfo("12", "RUNNING", node="node1", time_left=7090)
    assert slurm_cli.job_cell(running) == "job 12 RUNNING on node1, 1:58:10 left"
    assert slurm_cli.job_cell(JobInfo("13", "PENDING", reason="Resources")) == (
        "job 13 PENDING (Resources)")
    assert slurm_cli.job_cell(JobInfo("9", "TIMEOUT", reason="TimeLimit")) == (
        "job 9 TIMEOUT (TimeLimit)")


# -- against the real cluster ----------------------------------------------------------------

PY = sys.executable
_STARTED = re.compile(r"^started kernel (\S+) on hpc as job (\d+) on (\S+) ")


@pytest.fixture
def hpc(slurm_sshd: SSHD, slurm: SlurmCluster, isolated_home: Path) -> SlurmCluster:
    """``hpc`` in this test's hosts file: the cluster's login node, its ``slurm`` table
    asking for the ``debug`` partition and one CPU (the flags override it)."""
    trust(slurm_sshd, isolated_home)
    host = host_for(slurm_sshd, "hpc", python=PY,
                    slurm=SlurmSettings(partition="debug", cpus=1))
    HostStore(isolated_home / ".config" / "rtui" / "hosts.toml").update(
        partial(Config.with_host, host=host))
    return slurm


def queued(slurm: SlurmCluster) -> list[str]:
    """The cluster's jobs still in the queue (pending or running)."""
    return slurm.run("squeue", "-h", "-o", "%i").stdout.split()


class Rtui:
    """``rtui ARGS`` as a shell runs it, its stderr read as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([PY, "-m", "rtui", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr or ():
            self.lines.put(line)

    def until(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first stderr line (from here on) that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"no line like {pattern!r} in {timeout:g} s: {''.join(self.said)}")
            self.said.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def end(self, timeout: float = 60) -> tuple[int, str, str]:
        """Exit code, stdout, and all of stderr (checked: rtui's own)."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        out = self.proc.stdout.read() if self.proc.stdout else ""
        time.sleep(0.1)  # the reader's last lines
        while not self.lines.empty():
            self.said.append(self.lines.get())
        return code, out, rtui_only("".join(self.said))


def test_pending_jobs_say_why_ctrl_c_cancels_one_the_other_runs_lists_logs_and_stops(
        hpc: SlurmCluster, capsys: pytest.CaptureFixture[str]) -> None:
    """Two kernels started while a job holds the only node: both pending, state and reason
    on stderr. ctrl+c cancels the first one's job (exit 130, said so); the second keeps its
    place: listed by `jobs`, `log` says it has not started, `run -k` waits for it. Once the
    node is free it runs: the start prints the kernel, its job and node; `jobs` and `kernels`
    show it; `kernel stop` cancels the job (`log` of a running kernel: as for any kernel;
    of an ended job: the next test)."""
    holder = hpc.hold_node()
    cut = Rtui("kernel", "start", "hpc", "--slurm")
    start = Rtui("kernel", "start", "hpc", "--slurm", "--partition", "short", "--time", "3")
    cut_job = cut.until(r"^  job (\d+) pending").group(1)
    job = start.until(r"^  job (\d+) pending \((Resources|Priority)\)").group(1)
    cut.proc.send_signal(signal.SIGINT)
    code, out, err = cut.end()
    assert code == 130, err
    assert f"rtui: job {cut_job} cancelled: nothing left queued on hpc\n" in err
    assert out == ""
    assert hpc.state(cut_job) == "CANCELLED" and hpc.state(job) == "PENDING"
    assert sorted(queued(hpc)) == sorted([holder, job])

    code, out, _ = cli(capsys, "jobs", "hpc", "--json")
    listed = {j["job_id"]: j for j in json.loads(out)}
    assert listed[holder]["kernel_id"] is None and listed[holder]["state"] == "RUNNING"
    # Why it waits, in SLURM's words: Resources or Priority, or, once the node's other
    # partition has work queued, "Nodes required for job are DOWN, DRAINED or reserved for
    # jobs in higher priority partitions" (CI saw that one after the first job's cancel).
    assert listed[job]["state"] == "PENDING" and listed[job]["reason"], listed[job]
    assert listed[job]["partition"] == "short" and listed[job]["time_limit"] == 180
    kernel = listed[job]["kernel_id"]
    code, out, err = cli(capsys, "log", "hpc", kernel)
    assert code == 1 and err.startswith(f"rtui: job {job} pending (") and (
        f"kernel {kernel} on hpc has not started yet, so it printed nothing yet" in err), err

    attach = Rtui("run", "hpc", "-k", kernel[:8], "-c", "print('kept', 6 * 7)")
    attach.until(rf"^  job {job} pending \(")  # it waits for the job
    hpc.run("scancel", holder)
    code, out, err = attach.end()
    assert (code, out) == (0, "kept 42\n"), err
    code, out, err = start.end()
    assert code == 0, err
    started = _STARTED.match(out)
    assert started and started.group(1, 2) == (kernel, job), out
    node = started.group(3)
    assert node == hpc.node and hpc.state(job) == "RUNNING"  # run -k left it running
    assert "reachable on the cluster network" in err

    code, out, _ = cli(capsys, "jobs", "hpc")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["JOB", "KERNEL", "STATE"]
    assert [r.split()[:4] for r in rows] == [[job, kernel[:8], "RUNNING", node]]
    code, out, _ = cli(capsys, "kernels", "hpc")
    line = next(ln for ln in out.splitlines() if ln.startswith(kernel))
    assert f"  alive  ipykernel  job {job} RUNNING on {node}, 0:0" in line, line

    code, out, _ = cli(capsys, "kernel", "stop", "hpc", kernel)
    assert code == 0 and out == f"stopped kernel {kernel} on hpc\n"
    assert hpc.state(job) in ("CANCELLED", "COMPLETED") and queued(hpc) == []


def test_run_in_a_job_prints_and_leaves_no_job(
        hpc: SlurmCluster, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", "hpc", "--slurm", "-c", "print(1+1)")
    assert (code, out) == (0, "2\n"), err
    assert re.search(r"^  job \d+ ", err, re.M), err  # its progress
    assert queued(hpc) == []


def test_a_refused_job_says_sbatchs_words_and_leaves_nothing(
        hpc: SlurmCluster, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "kernel", "start", "hpc", "--slurm", "--partition", "nope")
    assert code == 1 and out == ""
    assert err.startswith("rtui: sbatch refused the job: ") and "invalid partition" in err, err
    assert queued(hpc) == []



def test_the_kept_output_stays_readable_after_the_job_ended(
        hpc: SlurmCluster, slurm_sshd: SSHD, capsys: pytest.CaptureFixture[str]) -> None:
    """A run's job left running (--keep), then ended by the scheduler (scancel here, as its
    time limit or a preemption would): `kernels` shows it ended, `log` still prints what the
    kernel printed and how the job ended; `kernel stop` removes it."""
    code, out, _ = cli(capsys, "run", "hpc", "--slurm", "--keep", "-c", "print('kept', 6 * 7)")
    assert (code, out) == (0, "kept 42\n")
    [job] = queued(hpc)
    hpc.run("scancel", job)
    hpc.wait_state(job, "CANCELLED")

    code, out, _ = cli(capsys, "kernels", "hpc")
    found = re.search(rf"^(\S+)  DEAD  ipykernel  job {job} CANCELLED  rtui  ", out, re.M)
    assert code == 0 and found, out
    kernel = found.group(1)
    code, out, err = cli(capsys, "log", "hpc", kernel)
    assert code == 0 and "kept 42\n" in out
    assert (f"rtui: the kernel ended with its job {job}, cancelled (CANCELLED); it was killed "
            "by signal 15 (SIGTERM)\n") in err, err
    assert "the job was ended by SIGTERM (scancel, its time limit or a preemption)" in err

    code, out, _ = cli(capsys, "kernel", "stop", "hpc", kernel)
    assert (code, out) == (0, f"stopped kernel {kernel} on hpc\n")
    assert not (slurm_sshd.remote_home / ".local" / "share" / "rtui" / "jobs" / kernel).exists()
