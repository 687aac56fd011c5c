"""Startup of the TUI until its first frame is on the screen, in a real terminal (tmux).

``python -m benchmarks.startup [--runs N] [--quick]``

``rtui`` (the installed console script, no arguments) runs in a detached tmux 120x36 with a
throwaway HOME whose ``hosts.toml`` has 10 hosts on a closed port (their checks fail at once).
The pane first waits at a ``read``; the clock starts when Enter is sent, and stops when
``tmux capture-pane`` shows the first host's name and the footer (polled every few ms through
one control-mode client, so a poll starts no process).
Then ctrl+q, and the tmux server is killed. For reference, the same way (spawn to
exit, same environment): ``python -c "import textual.app"`` (what any Textual app pays before
its first frame), ``python -c pass`` and ``rtui --version``.

Runs are taken in rounds, every command in turn, after one discarded run of each (disk
cache). Python's bytecode is cached in the temp dir (PYTHONPYCACHEPREFIX) as an installed
package has it, even where PYTHONDONTWRITEBYTECODE is set. Exit 0 whatever the figures (a
missing tmux is reported in its row); non-zero if a run crashed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    LOOPBACK,
    TIMING_ALIGN,
    TimedRow,
    describe,
    goal_met,
    isolated_vars,
    kill_leftovers,
    kill_pid,
    machine_line,
    markdown_table,
    problem_cells,
    rtui_command,
    runs_parser,
    runs_wanted,
    subprocess_env,
    timing_cells,
    timing_header,
)
from benchmarks.tmux import TmuxControl, screen_tail
from rtui.core.config.model import Config, Host
from rtui.core.config.store import HostStore
from tests.harness.sshd import free_port, pid_alive

__all__ = ["main"]

GOAL_FIRST_FRAME = 0.6  # seconds
DEFAULT_RUNS = 5
QUICK_RUNS = 2
SIZE = (120, 36)
HOSTS = 10
FRAME_TIMEOUT = 30.0  # seconds until the first frame before the run counts as crashed
RUN_TIMEOUT = 60.0
TMUX_TIMEOUT = 10.0
POLL = 0.005  # seconds between two captures of the screen
SIZE_VARS = ("COLUMNS", "LINES")  # Textual takes its size from these when set (pytest sets
# COLUMNS=80 LINES=24): the app would then paint 80x24 in the 120x36 pane
FOOTER = "^q Quit"
FIRST_HOST = "node00"

FIRST_FRAME = "`rtui` -> first frame (host list and footer on screen)"
VERSION = "`rtui --version`"
IMPORT_TEXTUAL = '`python -c "import textual.app"`'
PYTHON = '`python -c pass`'


@dataclass
class Row(TimedRow):
    reference: bool = False
    skipped: str | None = None


# ------------------------------------------------------------------------------ running


def main(argv: Sequence[str] | None = None) -> int:
    parser = runs_parser("python -m benchmarks.startup", __doc__, what="runs of each command",
                         default=DEFAULT_RUNS, quick=QUICK_RUNS)
    args = parser.parse_args(argv)
    runs = runs_wanted(parser, args, default=DEFAULT_RUNS, quick=QUICK_RUNS)

    print(machine_line(), flush=True)
    started = time.perf_counter()
    rows = measure(runs)
    print(
        f"\nStartup, wall time ({' '.join(rtui_command())}; tmux {SIZE[0]}x{SIZE[1]}; "
        f"{HOSTS} hosts on a closed port): {runs} run(s) of each in rounds, after one "
        f"discarded run each; {time.perf_counter() - started:.1f} s in all\n"
    )
    print(render_table(rows), flush=True)
    return 1 if any(row.error for row in rows) else 0


def measure(runs: int) -> list[Row]:
    rows = [Row(FIRST_FRAME, goal=GOAL_FIRST_FRAME), Row(VERSION),
            Row(IMPORT_TEXTUAL, reference=True), Row(PYTHON)]
    if shutil.which("tmux") is None:
        rows[0].skipped = "tmux is not installed (apt-get install -y tmux): not measured"
    with tempfile.TemporaryDirectory(prefix="rtui-bench-startup-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        token = f"rtui-bench-startup-{uuid.uuid4().hex[:8]}"  # names our tmux servers
        try:
            home = root / "home"
            env = subprocess_env(home, pycache=root / "pycache")
            for var in ("TMUX", "TMUX_PANE", *SIZE_VARS):
                env.pop(var, None)
            closed = free_port()  # free a moment ago: nothing listens there
            hosts = tuple(Host(f"node{n:02d}", hostname=LOOPBACK, port=closed)
                          for n in range(HOSTS))
            HostStore(home / ".config" / "rtui" / "hosts.toml").update(
                lambda _old: Config(hosts=hosts))
            commands: dict[str, Callable[[], float]] = {
                FIRST_FRAME: lambda: first_frame(rtui_command(), env, home, token),
                VERSION: lambda: wall([*rtui_command(), "--version"], env),
                IMPORT_TEXTUAL: lambda: wall([sys.executable, "-c", "import textual.app"], env),
                PYTHON: lambda: wall([sys.executable, "-c", "pass"], env),
            }
            for index in range(runs + 1):  # the first round is discarded
                shift = index % len(rows)
                for row in rows[shift:] + rows[:shift]:
                    if row.error is None and row.skipped is None:
                        _sample(row, commands[row.label], keep=index > 0)
        except Exception as exc:  # set-up failed: every row without a figure says why
            for row in rows:
                if not row.times and row.error is None and row.skipped is None:
                    row.error = f"set-up failed: {describe(exc)}"
        finally:
            kill_leftovers(token)
            kill_leftovers(str(root))
    return rows


def _sample(row: Row, run: Callable[[], float], *, keep: bool) -> None:
    try:
        elapsed = run()
    except Exception as exc:  # this command crashed: say so in its row
        row.error = f"run {len(row.times) + 1}: {describe(exc)}"
        return
    if keep:
        row.times.append(elapsed)


def wall(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit; the command must succeed."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=RUN_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip()[-300:]
        raise RuntimeError(f"{shlex.join(command)} exited {result.returncode}: {tail}")
    return elapsed


def _check_size(control: TmuxControl) -> None:
    size = control.command("display-message -p -t t '#{pane_width}x#{pane_height}'")[0].strip()
    if size != f"{SIZE[0]}x{SIZE[1]}":
        raise RuntimeError(f"the pane is {size}, not {SIZE[0]}x{SIZE[1]}")


def first_frame(command: list[str], env: dict[str, str], home: Path, token: str) -> float:
    """Seconds from Enter (the pane then execs ``command``) until the first frame is shown."""
    socket = f"{token}-{uuid.uuid4().hex[:6]}"
    # The pane gets the tmux server's environment (ours, from `env`); said again to be sure.
    pinned = {**isolated_vars(home), "PYTHONPYCACHEPREFIX": env["PYTHONPYCACHEPREFIX"]}
    unset = [arg for var in ("PYTHONDONTWRITEBYTECODE", *SIZE_VARS) for arg in ("-u", var)]
    exports = shlex.join(["env", *unset, *(f"{k}={v}" for k, v in pinned.items())])
    gate = f"read _ && exec {exports} {shlex.join(command)}"
    pane_pid: int | None = None
    control: TmuxControl | None = None
    width, height = (str(n) for n in SIZE)
    try:
        # window-size manual: the control client (80x24 to tmux) must not resize the window.
        subprocess.run(
            ["tmux", "-L", socket, "new-session", "-d", "-s", "t", "-x", width, "-y", height,
             gate, ";", "set-option", "-w", "-t", "t", "window-size", "manual", ";",
             "resize-window", "-t", "t", "-x", width, "-y", height],
            env=env, capture_output=True, timeout=TMUX_TIMEOUT, check=True)
        control = TmuxControl("tmux", socket, "t", env)
        pane_pid = int(control.command("display-message -p -t t '#{pane_pid}'")[0].strip())
        time.sleep(0.3)  # the pane's shell reaches its `read`
        _check_size(control)
        started = time.perf_counter()
        control.command("send-keys -t t Enter")
        deadline = started + FRAME_TIMEOUT
        while True:
            rows = control.command("capture-pane -p -t t")
            screen = "\n".join(rows)
            if FIRST_HOST in screen and FOOTER in screen:
                elapsed = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no first frame within {FRAME_TIMEOUT:g} s; screen: "
                                   f"{screen_tail(rows)}")
            if not pid_alive(pane_pid):
                raise RuntimeError(f"rtui exited; screen: {screen_tail(rows)}")
            time.sleep(POLL)
        _check_size(control)
        control.command("send-keys -t t C-q")
        quit_by = time.perf_counter() + 5
        while pid_alive(pane_pid) and time.perf_counter() < quit_by:
            time.sleep(0.02)
        return elapsed
    finally:
        if control is not None:
            control.close(TMUX_TIMEOUT)
        subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True,
                       timeout=TMUX_TIMEOUT, check=False)
        if pane_pid is not None:
            kill_pid(pane_pid)


# ------------------------------------------------------------------------------- output


def render_table(rows: list[Row]) -> str:
    reference = next((r.p50 for r in rows if r.reference and r.times), None)
    table = []
    for row in rows:
        goal = "—" if row.goal is None else f"≤ {row.goal:g} s"
        label = f"{row.label} (reference)" if row.reference else row.label
        problem = row.skipped or (None if row.times else f"error: {row.error or 'no runs'}")
        if row.error is not None:
            problem = f"error: {row.error}"
        if problem is not None:
            table.append(problem_cells(label, problem, goal, has_goal=row.goal is not None))
            continue
        table.append(timing_cells(label, row.times, reference=reference, goal=goal,
                                  met=goal_met(row.p50, row.goal)))
    return markdown_table(timing_header("command", "import textual.app"), table, TIMING_ALIGN)


if __name__ == "__main__":
    sys.exit(main())
