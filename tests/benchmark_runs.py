"""The benchmark smoke runs (`python -m benchmarks --quick ...`) and the screenshots' script,
started in the background when the suite begins and checked by tests/test_benchmarks_smoke.py
and tests/test_screenshots.py, which run last.

They took about 4 of the suite's 15 minutes one after another, mostly waiting (kernels,
sshd, tmux), while the rest of the suite waits on its own servers too. Here they run one at a
time in a thread beside the suite, at a lower CPU priority (``nice``), so that the suite's
timed behaviour (bounds such as "named within 2 s") keeps the CPU it needs. Run alone
(only the smoke file selected, or no thread started), each test runs its command itself.

Under pytest-xdist the runs start once, in the controller (tests/conftest.py), which writes
each one's end to a directory the workers are told of (:func:`follow`); the worker that gets
a check waits for its file there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NICE = 5  # the CPU weight of nice 5 is a third of a test worker's (nice 10, a tenth, starved
# tmux beside two xdist workers: it did not answer a command in 10 s)
SMOKE_FILE = "tests/test_benchmarks_smoke.py"
BENCHMARKS = ("roundtrip", "coldstart", "scale", "startup", "console_flood", "consoles",
              "files")
SCREENSHOTS_FILE = "tests/test_screenshots.py"
SCREENSHOTS = ROOT / "screenshots" / "make.py"
# name -> the command line after `python`, and its bound in seconds; "{out}" is a fresh
# directory of the run's own (the screenshots' --out). Each run has a HOME, XDG dirs and
# XDG_RUNTIME_DIR of its own.
RUNS: dict[str, tuple[list[str], float]] = {
    "all": (["-m", "benchmarks", "--quick", *BENCHMARKS], 580),
    "farlink": (["-m", "benchmarks", "--quick", "farlink"], 380),
    "keeper": (["-m", "benchmarks", "--quick", "keeper"], 280),
    "slurm": (["-m", "benchmarks", "--quick", "slurm"], 240),
    "jupyter": (["-m", "benchmarks", "--quick", "jupyter"], 400),
    "screenshots": ([str(SCREENSHOTS), "--out", "{out}"], 240),
}
WAIT = sum(timeout for _, timeout in RUNS.values()) + 30  # the longest a check can wait


@dataclass
class Finished:
    """A run's end: its process's, and the directories it had (``out``, its ``home``)."""

    process: subprocess.CompletedProcess[str]
    out: Path
    home: Path

    def remove(self) -> None:
        shutil.rmtree(self.out.parent, ignore_errors=True)

    def to_json(self) -> str:
        process = self.process
        return json.dumps({"args": process.args, "returncode": process.returncode,
                           "stdout": process.stdout, "stderr": process.stderr,
                           "out": str(self.out), "home": str(self.home)})

    @classmethod
    def from_json(cls, text: str) -> Finished:
        fields = json.loads(text)
        process = subprocess.CompletedProcess(fields["args"], fields["returncode"],
                                              fields["stdout"], fields["stderr"])
        return cls(process, Path(fields["out"]), Path(fields["home"]))


@dataclass
class _Run:
    args: list[str]
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Finished | None = None
    error: str = ""


class BackgroundRuns:
    """The runs, in order, in one daemon thread; ``result(name)`` waits for one."""

    def __init__(self, runs: dict[str, tuple[list[str], float]],
                 publish: Path | None = None) -> None:
        self._runs = {name: _Run(args, timeout) for name, (args, timeout) in runs.items()}
        self._publish = publish  # where each run's end is written for xdist's workers
        self._proc: subprocess.Popen[str] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="benchmark-smoke", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _work(self) -> None:
        for name, run in self._runs.items():
            if self._stopped:
                run.error = "the suite ended first"
            else:
                try:
                    run.result = _execute(run.args, run.timeout, self._started_proc)
                except OSError as exc:
                    run.error = f"could not start: {exc}"
            self._published(name, run)
            run.done.set()

    def _published(self, name: str, run: _Run) -> None:
        """Its end in ``publish``, for the worker that checks it (written whole, then
        renamed: a reader never sees half of it)."""
        if self._publish is None:
            return
        text = run.result.to_json() if run.result is not None else json.dumps(
            {"error": run.error})
        part = self._publish / f"{name}.part"
        part.write_text(text)
        part.rename(self._publish / f"{name}.json")

    def _started_proc(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def result(self, name: str, wait: float) -> Finished:
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
        for run in self._runs.values():
            if run.result is not None:
                run.result.remove()


_started: BackgroundRuns | None = None
_followed: Path | None = None  # an xdist worker: where the controller writes the runs' ends
STARTED = "started"  # the file in that directory that says the controller started them


def start(publish: Path | None = None) -> None:
    """Start the runs here; with ``publish`` (xdist's controller), say so in that directory
    and write each run's end there."""
    global _started
    _started = BackgroundRuns(RUNS, publish)
    if publish is not None:
        (publish / STARTED).touch()
    _started.start()


def follow(directory: Path) -> None:
    """An xdist worker: the runs, if the controller started them, end in ``directory``."""
    global _followed
    _followed = directory


def stop() -> None:
    if _started is not None:
        _started.stop()


def run(name: str) -> Finished:
    """The run ``name`` of :data:`RUNS`: the background one when the suite started it (its
    own bound ends it), else run here."""
    if _started is not None:
        return _started.result(name, WAIT)
    if _followed is not None and (_followed / STARTED).exists():
        return _published_result(_followed, name, WAIT)
    args, timeout = RUNS[name]
    return _execute(args, timeout, lambda proc: None, nice=False)


def _published_result(directory: Path, name: str, wait: float) -> Finished:
    """The run ``name``'s end as the controller wrote it, waited for at most ``wait`` s."""
    path, deadline = directory / f"{name}.json", time.monotonic() + wait
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the {name} benchmark run did not end within {wait:g} s")
        time.sleep(0.5)
    text = path.read_text()
    error = json.loads(text).get("error")
    assert error is None, f"the {name} benchmark run: {error}"
    return Finished.from_json(text)


def _execute(args: list[str], timeout: float, started: Callable[[subprocess.Popen[str]], None],
             nice: bool = True) -> Finished:
    """Run ``python ARGS`` in the project with a HOME (and XDG dirs) of its own, bounded."""
    where = Path(tempfile.mkdtemp(prefix="rts-", dir="/tmp"))  # short: Unix sockets below
    out, home, runtime = where / "out", where / "home", where / "r"
    for made in (out, home, runtime):
        made.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        env[var] = str(home / sub)
    prefix = ["nice", "-n", str(NICE)] if nice and shutil.which("nice") else []
    argv = [*prefix, sys.executable, *(a.replace("{out}", str(out)) for a in args)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    started(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr += f"\n(killed after {timeout:g} s)"
    return Finished(subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr), out, home)
