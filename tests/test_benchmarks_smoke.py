"""Smoke test for the benchmarks: `python -m benchmarks --quick` runs end to end.

Figures are not checked (benchmarks are not pass/fail); only that every benchmark ran, exited
cleanly, and that each path printed a figure (or, for the TUI startup, why it could not).
In a whole-suite run the three runs start in the background when the suite begins and these
checks come last (tests/benchmark_runs.py, tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from benchmarks.files import bench as files_bench
from benchmarks.jupyter import hub_starts as jupyter_stages
from benchmarks.jupyter import run as jupyter_bench
from benchmarks.slurm import rtui_side as slurm_stages
from benchmarks.slurm import run as slurm_bench
from tests import benchmark_runs
from tests.benchmark_runs import BENCHMARKS

ROUNDTRIP_PATHS = ("direct", "rtui", "openssh -L", "asyncssh, no PTY")
NUMBER = r"\d+(?:\.\d+)?"
# A row's label (its start) -> a figure must follow in the next cell.
FIGURES = (
    "rtui, warm", "rtui, first ever", "manual OpenSSH", "rtui: drop", "manual: drop",  # coldstart
    "all 10 hosts, default settings", "one up host", "one black-hole host",  # scale
    "`rtui --version`", '`python -c "import textual.app"`',  # startup
)
# farlink: a row's label -> its figures at 0 ms and 50 ms each way, then its round trips.
FARLINK_ROWS = (
    "`ssh host true` (OpenSSH)", "`rtui check`", "`rtui run -k ID -c 1+1`",
    "`rtui run -c 1+1` (starts a kernel)", "rtui: launch (Enter on the checked host)",
    "rtui: `N+1` Enter -> result", "rtui: a typed character's echo",
    "rtui: launch on a checked host, no UI (`HostKernels.start`)",
)


def _ran_cleanly(name: str) -> tuple[str, str]:
    """The run ``name`` (tests/benchmark_runs.py) exited 0 and described the machine: its
    stdout, and stdout with stderr for the failure messages."""
    finished = benchmark_runs.run(name)
    finished.remove()
    result = finished.process
    out = result.stdout
    output = f"stdout:\n{out}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    assert "Machine: " in out, output
    return out, output


@pytest.mark.timeout(benchmark_runs.WAIT + 30)
def test_benchmarks_quick_run_prints_every_figure() -> None:
    out, output = _ran_cleanly("all")
    for name in BENCHMARKS:
        assert re.search(rf"^\({re.escape(name)}: {NUMBER} s, exit 0\)$", out, re.MULTILINE), (
            f"{name} did not run to exit 0\n{output}")
    for path in ROUNDTRIP_PATHS:
        row = re.compile(rf"^\| {re.escape(path)} \| ({NUMBER}) \| ({NUMBER}) \| ({NUMBER})x \|",
                         re.MULTILINE)
        match = row.search(out)
        assert match, f"no figures for {path!r}\n{output}"
        p50, p95, _ratio = (float(g) for g in match.groups())
        assert 0 < p50 <= p95, f"{path}: p50 {p50} p95 {p95}\n{output}"
    for label in FIGURES:
        row = re.compile(rf"^\| {re.escape(label)}[^|]* \| {NUMBER} \|", re.MULTILINE)
        assert row.search(out), f"no figure for {label!r}\n{output}"
    frame = re.search(r"^\| `rtui` -> first frame[^|]* \| ([^|]+) \|", out, re.MULTILINE)
    assert frame, f"no first-frame row\n{output}"
    assert re.fullmatch(NUMBER, frame.group(1)) or "tmux is not installed" in frame.group(1), (
        output)
    assert "through the UI: last line painted by the view" in out, output  # console_flood
    _files_figures(out, output)


def _files_figures(out: str, output: str) -> None:
    """benchmarks.files: OpenSSH's rows and the listing's have figures; rtui's transfer rows
    too once their part of issue 16 is written (until then they say so)."""
    def figure(label: str, after: str = "") -> re.Match[str] | None:
        return re.search(rf"^\| {re.escape(label)}{after} \| ({NUMBER})", out, re.MULTILINE)

    for label in (files_bench.SFTP, files_bench.SCP, files_bench.SCP_R, files_bench.SFTP_R,
                  files_bench.SERVICE, files_bench.AGENT, files_bench.SCANDIR):
        assert figure(label), f"no files figure for {label!r}\n{output}"
    assert re.search(rf"^\| {re.escape(files_bench.LS)} \| — \| ({NUMBER})", out,
                     re.MULTILINE), output
    written = {files_bench.ENGINE: importlib.util.find_spec("rtui.core.files.transfer"),
               files_bench.CLI: files_bench.rtui_has("cp"),
               files_bench.TAB: importlib.util.find_spec("rtui.tui.widgets.files")}
    for label, there in written.items():
        if there:
            assert figure(label), f"no files figure for {label!r}\n{output}"
        else:
            assert f"| {label} | {files_bench.MISSING} |" in out, output
    if written[files_bench.ENGINE]:
        assert figure(files_bench.ENGINE, ", up") and figure(files_bench.ENGINE, ", down"), (
            f"no far-link figures\n{output}")


@pytest.mark.timeout(benchmark_runs.WAIT + 30)
def test_slurm_quick_run_prints_every_figure() -> None:
    """The SLURM benchmark on its own (its own cluster and login node; 15-35 s here by the
    load): every start and round-trip row has a figure, and rtui's SLURM start its stages (from
    the daemons' logs, the job dir, the wait's end); nothing when SLURM is not installed here."""
    out, output = _ran_cleanly("slurm")
    assert re.search(rf"^\(slurm: {NUMBER} s, exit 0\)$", out, re.MULTILINE), output
    if "skipped: SLURM is not installed" in out:
        return
    starts = (slurm_bench.SRUN, slurm_bench.BATCH, slurm_bench.BATCH_KERNEL,
              slurm_bench.RTUI_SLURM, slurm_bench.RTUI_LOGIN, *slurm_bench.AFTER.values())
    rounds = (slurm_bench.RT_LOGIN, slurm_bench.RT_SLURM, slurm_bench.RT_LOGIN_TCP)
    for stage in (slurm_stages.ALLOCATED, slurm_stages.KERNEL_JSON, slurm_stages.READY):
        row = re.search(rf"^\| {re.escape(stage)} \| ({NUMBER}) \|", out, re.MULTILINE)
        assert row, f"no instant for the stage {stage!r}\n{output}"
    for label in starts:
        row = re.search(rf"^\| {re.escape(label)} \| ({NUMBER}) \|", out, re.MULTILINE)
        assert row and float(row.group(1)) > 0, f"no slurm figure for {label!r}\n{output}"
    for label in rounds:
        row = re.search(rf"^\| {re.escape(label)} \| ({NUMBER}) \| ({NUMBER}) \| 20 \|",
                        out, re.MULTILINE)
        assert row, f"no round trips for {label!r}\n{output}"
        p50, p95 = (float(g) for g in row.groups())
        assert 0 < p50 <= p95, f"{label}: p50 {p50} p95 {p95}\n{output}"


@pytest.mark.timeout(benchmark_runs.WAIT + 30)
def test_jupyter_quick_run_prints_every_figure() -> None:
    """The Jupyter benchmark on its own (its own sshd, jupyter_server and hub; 240 s here at
    a load of 13): every round-trip path and every start has a figure, rtui's hub start its
    stages."""
    out, output = _ran_cleanly("jupyter")
    assert re.search(rf"^\(jupyter: {NUMBER} s, exit 0\)$", out, re.MULTILINE), output
    rounds = [jupyter_bench.RT_SSH, jupyter_bench.RT_CH_ON, jupyter_bench.RT_CH_OFF,
              jupyter_bench.RT_BARE_ON, jupyter_bench.RT_BARE_OFF, jupyter_bench.RT_HUB]
    rounds += [jupyter_bench.RT_SES_ON, jupyter_bench.RT_SES_OFF, jupyter_bench.RT_VIA_RELAY,
               jupyter_bench.RT_VIA_FORWARD]
    for label in rounds:
        row = re.search(rf"^\| {re.escape(label)} \| ({NUMBER}) \| ({NUMBER}) \|", out,
                        re.MULTILINE)
        assert row, f"no round trips for {label!r}\n{output}"
        p50, p95 = (float(g) for g in row.groups())
        assert 0 < p50 <= p95, f"{label}: p50 {p50} p95 {p95}\n{output}"
    starts = (jupyter_bench.HUB_SPAWN, jupyter_bench.HUB_TOOK, jupyter_bench.RTUI_READY,
              jupyter_bench.RTUI_SERVICE, jupyter_bench.SSH_READY, *jupyter_stages.RTUI_STAGES)
    for label in starts:
        row = re.search(rf"^\| {re.escape(label)} \| ({NUMBER}) \|", out, re.MULTILINE)
        assert row and float(row.group(1)) > 0, f"no figure for {label!r}\n{output}"


@pytest.mark.timeout(benchmark_runs.WAIT + 30)
def test_farlink_quick_run_prints_every_figure() -> None:
    """The far-link benchmark on its own (50-110 s on this project's machine): the commands
    in pairs and rtui's console, each row with its figures at both delays."""
    out, output = _ran_cleanly("farlink")
    assert re.search(rf"^\(farlink: {NUMBER} s, exit 0\)$", out, re.MULTILINE), output
    for label in FARLINK_ROWS:
        row = re.compile(rf"^\| {re.escape(label)} \| ({NUMBER}) \| ({NUMBER}) \| (-?{NUMBER}) \|",
                         re.MULTILINE)
        match = row.search(out)
        assert match, f"no far-link figures for {label!r}\n{output}"
        near, far, _round_trips = (float(g) for g in match.groups())
        assert 0 < near and 0 < far, f"{label}: {near} s at 0 ms, {far} s at 50 ms\n{output}"


@pytest.mark.timeout(benchmark_runs.WAIT + 30)
def test_keeper_quick_run_prints_every_figure() -> None:
    """The keeper's benchmark on its own (about 45 s here): a flood read through rtui and by
    a drain-only client, and a short outage caught up with nothing missing or doubled."""
    out, output = _ran_cleanly("keeper")
    assert re.search(rf"^\(keeper: {NUMBER} s, exit 0\)$", out, re.MULTILINE), output
    for reader in ("`rtui run -k` through sshd", "drain-only on the host"):
        row = re.compile(rf"^\| {re.escape(reader)} \| [\d,]+ \| ({NUMBER}) \| [\d,]+ \| "
                         rf"({NUMBER}) \|", re.MULTILINE)
        match = row.search(out)
        assert match, f"no flood figures for {reader!r}\n{output}"
        wall, keeper_cpu = (float(g) for g in match.groups())
        assert wall > 0 and keeper_cpu >= 0, output
    catch_up = re.search(rf"^\| frozen 3 s \| [\d,]+ \| ({NUMBER}) \| [\d,]+ \| \d+ \| \d+ \|", out,
                         re.MULTILINE)
    assert catch_up, f"no catch-up figures\n{output}"
