"""The benchmark smoke runs (`python -m benchmarks --quick ...`), started in the background
when the suite begins and checked by tests/test_benchmarks_smoke.py, which run last.

They took about 3 of the suite's 15 minutes one after another, mostly waiting (kernels,
sshd, tmux), while the rest of the suite waits on its own servers too. Here they run one at a
time in a thread beside the suite, at a lower CPU priority (``nice``), so that the suite's
timed behaviour (bounds such as "named within 2 s") keeps the CPU it needs. Run alone
(only the smoke file selected, or no thread started), each test runs its command itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NICE = 10  # the CPU weight of nice 10 is a tenth of the suite's
SMOKE_FILE = "tests/test_benchmarks_smoke.py"
BENCHMARKS = ("roundtrip", "coldstart", "scale", "startup", "console_flood", "consoles")
# name -> the command line after `python -m benchmarks`, and its bound in seconds
RUNS: dict[str, tuple[list[str], float]] = {
    "all": (["--quick", *BENCHMARKS], 580),
    "farlink": (["--quick", "farlink"], 380),
    "keeper": (["--quick", "keeper"], 280),
}
WAIT = sum(timeout for _, timeout in RUNS.values()) + 30  # the longest a check can wait


@dataclass
class _Run:
    args: list[str]
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    result: subprocess.CompletedProcess[str] | None = None
    error: str = ""


class BackgroundRuns:
    """The runs, in order, in one daemon thread; ``result(name)`` waits for one."""

    def __init__(self, runs: dict[str, tuple[list[str], float]]) -> None:
        self._runs = {name: _Run(args, timeout) for name, (args, timeout) in runs.items()}
        self._proc: subprocess.Popen[str] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="benchmark-smoke", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _work(self) -> None:
        for run in self._runs.values():
            if self._stopped:
                run.error = "the suite ended first"
                run.done.set()
                continue
            try:
                nice = ["nice", "-n", str(NICE)] if shutil.which("nice") else []
                self._proc = subprocess.Popen(
                    [*nice, sys.executable, "-m", "benchmarks", *run.args], cwd=ROOT,
                    text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    out, err = self._proc.communicate(timeout=run.timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    out, err = self._proc.communicate()
                    err += f"\n(killed after {run.timeout:g} s)"
                run.result = subprocess.CompletedProcess(
                    self._proc.args, self._proc.returncode, out, err)
            except OSError as exc:
                run.error = f"could not start: {exc}"
            finally:
                run.done.set()

    def result(self, name: str, wait: float) -> subprocess.CompletedProcess[str]:
        run = self._runs[name]
        if not run.done.wait(wait):
            raise AssertionError(f"the {name} benchmark run did not end within {wait:g} s")
        assert run.result is not None, f"the {name} benchmark run: {run.error}"
        return run.result

    def stop(self) -> None:
        self._stopped = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()


_started: BackgroundRuns | None = None


def start() -> None:
    global _started
    _started = BackgroundRuns(RUNS)
    _started.start()


def stop() -> None:
    if _started is not None:
        _started.stop()


def run(name: str) -> subprocess.CompletedProcess[str]:
    """The run ``name`` of :data:`RUNS`: the background one when the suite started it (its
    own bound ends it), else run here."""
    if _started is not None:
        return _started.result(name, WAIT)
    args, timeout = RUNS[name]
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
