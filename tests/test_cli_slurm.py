"""SLURM kernels from the CLI: ``rtui kernel start --slurm``, ``rtui run --slurm``, ``rtui jobs``,
``rtui kernels`` and ``rtui kernel stop`` on a SLURM login node.

The flags and the tables are checked here without a cluster; the commands run against the
real one-node cluster (tests/harness/slurm.py) with the loopback sshd as its login node.
"""

from __future__ import annotations

import time

import pytest

from rtui.cli import slurm as slurm_cli
from rtui.cli.main import build_parser, main
from rtui.core.slurm.jobs import JobInfo

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
