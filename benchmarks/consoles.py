"""Terminal consoles side by side: rtui, jupyter console, euporie-console, driven in tmux.

``python -m benchmarks.consoles [--quick] [--peers-venv PATH] [--only NAME ...]``

Reproduces the "Terminal consoles a user would pick instead" table of MEASURED.md with rtui
added. Each console runs in its own tmux server (``-L`` socket, one 120x36 pane, no status
line), with its own local kernel and a throwaway HOME/XDG dirs, and is driven exactly as a
person would: keys go in with ``send-keys``, the screen is read with ``capture-pane`` through
a tmux control-mode client (no process spawned per read): every 5 ms, and while ``N+1`` is
timed, also as soon as tmux reports output from the pane (``%output``), so a result is seen
when tmux has it, not up to a poll later; the same for every contender. No fixed sleep is
part of any measured interval.

Contenders:

- **rtui**: ``rtui`` with one host, ``bench``: a real OpenSSH sshd on 127.0.0.1 (the test
  harness's, throwaway keys), its ``python`` this Python; the kernel is a local process started
  through rtui's SSH path, as on a remote host (``--demo``: ``rtui demo`` instead, whose SSH
  server runs inside the rtui process and costs it ~5 ms of CPU per cell). Launch is measured
  from Enter on the host (once its status is ``ok``) until the console shows its editor and
  the "Connected to kernel" line (the console opens only once the kernel has answered
  kernel_info). The time from the shell's Enter on ``rtui`` until the host list is painted is
  reported next to it.
- **jupyter console** ``--kernel python3`` and **euporie-console** ``--kernel-name python3``,
  from a venv under ``~/.cache/rtui-bench/peers-venv`` (``--peers-venv`` or
  ``RTUI_BENCH_PEERS_VENV`` to put it elsewhere; created once with ``python -m venv`` + pip:
  jupyter-console, euporie, ipykernel). Nothing is installed into the project's
  environment. If the install fails (offline), the contender's column says why.

Measures, per contender:

1. launch -> input prompt (s): from Enter on the command in a shell in the pane (rtui: on
   the host) until the prompt is on screen (jupyter console: ``In [1]:``; euporie: ``In [1]:``,
   with the time its status bar shows the kernel idle ``○`` next to it).
2. ``N+1`` Enter -> ``Out[k]: N+1`` on screen (ms), median of 10 runs (``--quick`` 3) after
   one discarded warm-up, a different N each run; typing happens before the clock starts.
   Its floor, timed the same way in its own tmux: ``benchmarks/line_client.py`` (the tty
   echoes, ``input()``, one execute_request, ``print``) on a kernel of the contender's build.
3. ``for i in range(200000): print('line', i)`` (``--quick``: 20,000) Enter -> ``line 199999``
   on screen AND the console idle again (s), the better of two floods (the second timed
   only, one line longer; a first flood over 15 s is not repeated). The reference is a client
   that only drains iopub
   (jupyter_client, in this process) running the same code on a kernel of the same Python
   and ipykernel as the contender's (best of 2 runs, after a warm-up), measured right after
   that contender's flood: this machine's speed drifts by up to 1.5x within minutes, and a
   reference taken a minute earlier made the ratio move by as much as the goal's margin.
4. While the flood runs, one key every 100 ms (``qzxQZX``, ``--quick`` ``qzx``: letters shown
   nowhere else on these screens). A key counts as shown when it first appears on the screen
   or, stripped of escape sequences, in the bytes the program writes to the terminal (a
   terminal scrolling 50,000 lines/s shows an echoed key for less than one poll). Reported:
   echo latency p95 over the keys typed before the flood ended, keys never shown, and typed
   keys that landed inside the output (rows of the scrollback + screen, after the flood's code,
   other than an input line, that contain a typed key), and how many ended up in the input.
5. peak RSS during the flood, sampled every 50 ms from /proc: the console client only, i.e.
   the pane's process tree minus the kernel (and its children). For rtui that is the rtui
   process alone: the host's side (sshd, the agent, the kernel) would run on that host. With
   ``--demo`` the embedded server lives in the rtui process and is counted.
6. bytes written to the terminal during the flood: ``pipe-pane -o 'cat >> FILE'`` started right
   before Enter, stopped when the prompt is back.

Everything started here is stopped at the end, even on failure: each tmux server is killed
through its own socket, then every process seen in its pane's tree (kernels included) is
terminated if still alive. Figures only: exit 0 whatever they are, non-zero only if a
contender crashed (a failed install or a failed reference client is shown in its row).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchmarks.common import describe, percentile, trust, version
from benchmarks.common import machine_line as common_machine_line
from tests.harness.sshd import SSHD, SSHD_MISSING_MESSAGE, sshd_available, start_sshd

__all__ = ["main"]

_T = TypeVar("_T")

WIDTH, HEIGHT = 120, 36
POLL = 0.005  # seconds between screen captures while waiting for something
FLOOD_LINES, QUICK_FLOOD_LINES = 200_000, 20_000
RESULT_RUNS, QUICK_RESULT_RUNS = 10, 3
KEYS, QUICK_KEYS = "qzxQZX", "qzx"
KEY_START = 0.1  # seconds after the flood's Enter before the first typed key
KEY_EVERY = 0.1  # seconds between typed keys
RSS_EVERY = 0.05  # seconds between RSS samples
AFTER_FLOOD = 3.0  # seconds to keep watching for typed keys once the flood is over
LAUNCH_TIMEOUT = 90.0
STEP_TIMEOUT = 20.0  # one `N+1`, a prompt coming back
TYPE_TIMEOUT, TYPE_ATTEMPTS = 5.0, 3  # typed text showing in the input
FLOOD_TIMEOUT, QUICK_FLOOD_TIMEOUT = 100.0, 30.0
SECOND_FLOOD_AFTER = 15.0  # seconds: a flood slower than this is not run a second time
INSTALL_TIMEOUT = 600.0
HISTORY_LIMIT = 250_000
DRAIN_RUNS = 2
PEER_PACKAGES = ("jupyter-console", "euporie", "ipykernel")

# Goals for rtui (from the issue).
GOAL_LAUNCH = 0.6  # s
GOAL_RESULT = 0.020  # s
GOAL_FLOOD_RATIO = 1.1  # x the drain-only client
GOAL_ECHO_P95 = 0.050  # s
GOAL_RSS = 150e6  # bytes
GOAL_BYTES_RATIO = 0.25  # x jupyter console's

RTUI, JUPYTER, EUPORIE = "rtui", "jupyter console", "euporie-console"
RTUI_HOST = "bench"  # rtui's host on the benchmark's sshd
RTUI_HOSTS = "(?:bench|demo)"  # its row in the host list (``--demo``: the demo host)
IDLE_MARK = "\u25cb"  # euporie's status bar: kernel idle
EDITOR_TOP = "\u258a\u2594"  # rtui's editor: the top border row starts with these
EDITOR_SIDE = "\u258a"

_IN_PROMPT = re.compile(r"In \[(\d+)\]:")


# --------------------------------------------------------------------------- the terminal


class Terminal:
    """One tmux server (own ``-L`` socket) with one 120x36 pane running ``/bin/sh``.

    Screens are read through a control-mode client (``tmux -C``, its pane output turned off),
    so a capture is one line written to a pipe, not a process spawned.
    """

    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            raise RuntimeError("tmux is not installed (apt-get install -y tmux)")
        self.tmux = tmux
        self.socket = f"rtui-bench-{name}-{os.getpid()}"
        self.env = env
        self.cwd = cwd
        self.server_pid: int | None = None
        self.socket_path: str | None = None
        self._checked = 0.0
        self._control: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._output = threading.Event()  # set on %output (while watch_output is on)
        self.seen: dict[int, int] = {}  # pid -> start time, every process seen in the pane

    # -- set-up and tear-down ------------------------------------------------------------

    def start(self) -> None:
        conf = self.cwd / f"tmux-{self.socket}.conf"
        conf.write_text(
            "set -g status off\n"
            f"set -g history-limit {HISTORY_LIMIT}\n"
            "set -g default-terminal tmux-256color\n"
            "set -g escape-time 0\n"
            "set -g remain-on-exit on\n"  # a program that dies leaves its last words
        )
        self._run("-f", str(conf), "new-session", "-d", "-s", "bench", "-x", str(WIDTH),
                  "-y", str(HEIGHT), "/bin/sh")
        self._run("set", "-g", "window-size", "manual")  # clients never resize the pane
        pid, self.socket_path = self._run("display", "-p", "-t", "bench",
                                          "#{pid} #{socket_path}").strip().split(" ", 1)
        self.server_pid = int(pid)
        self._control = subprocess.Popen(
            [self.tmux, "-u", "-L", self.socket, "-C", "attach-session", "-f", "no-output",
             "-t", "bench"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=self.env, cwd=self.cwd, bufsize=0,
        )
        threading.Thread(target=self._read, daemon=True).start()
        # The attach's own reply comes first: skip replies until the answer to this one.
        self._write("display -p rtui-bench-sync")
        deadline = time.monotonic() + 10
        while self._reply("display", deadline, errors=False) != ["rtui-bench-sync"]:
            pass

    def close(self) -> None:
        """Kill the tmux server, then every process seen in the pane that is still alive."""
        with contextlib.suppress(Exception):
            self.track()
        if self._control is not None:
            with contextlib.suppress(OSError):
                assert self._control.stdin is not None
                self._control.stdin.close()
        with contextlib.suppress(Exception):
            subprocess.run([self.tmux, "-L", self.socket, "kill-server"], env=self.env,
                           capture_output=True, timeout=10, check=False)
        if self._control is not None:
            try:
                self._control.wait(5)
            except subprocess.TimeoutExpired:
                self._control.kill()
                self._control.wait()
        processes = dict(self.seen)
        if self.server_pid is not None:
            with contextlib.suppress(OSError):
                processes[self.server_pid] = _start_time(self.server_pid) or 0
        _stop_processes(processes)
        if self.socket_path:
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)

    # -- commands ------------------------------------------------------------------------

    def _run(self, *args: str) -> str:
        result = subprocess.run([self.tmux, "-L", self.socket, *args], env=self.env,
                                cwd=self.cwd, capture_output=True, text=True, timeout=30,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {result.stderr.strip() or 'failed'}")
        return result.stdout

    def _read(self) -> None:
        assert self._control is not None and self._control.stdout is not None
        for raw in self._control.stdout:
            if raw.startswith((b"%output ", b"%extended-output ")):
                self._output.set()  # the pane wrote something: worth a look
                continue
            self._lines.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        self._lines.put(None)

    def command(self, line: str, timeout: float = 10) -> list[str]:
        """Run one tmux command through the control client; its output lines."""
        self._write(line)
        return self._reply(line.split()[0], time.monotonic() + timeout)

    def _write(self, line: str) -> None:
        assert self._control is not None and self._control.stdin is not None
        self._control.stdin.write(line.encode() + b"\n")

    def _reply(self, what: str, deadline: float, *, errors: bool = True) -> list[str]:
        """The next reply block (``%begin`` … ``%end``); notifications in between skipped."""
        block: list[str] | None = None
        ours = True
        while True:
            try:
                got = self._lines.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"tmux did not answer {what!r}") from None
            if got is None:
                raise RuntimeError("the tmux server went away")
            if block is None:
                if got.startswith("%begin "):
                    block = []
                    ours = got.split()[-1] != "0"  # flags 0: not a command of this client
                continue  # notifications outside a reply
            if got.startswith(("%end ", "%error ")):
                if not ours:
                    block = None
                    continue
                if got.startswith("%error ") and errors:
                    raise RuntimeError(f"tmux {what}: {' '.join(block)}")
                return block
            block.append(got)

    def watch_output(self, on: bool) -> None:
        """Have tmux report the pane's output to this client (off by default: a flood would
        send every byte through it); ``wait`` then reads the screen when output came."""
        self.command("refresh-client -f " + ("!no-output" if on else "no-output"))

    def screen(self) -> list[str]:
        return self.command("capture-pane -p -t bench")

    def history(self) -> list[str]:
        """Scrollback and screen (for full-screen programs: the screen only)."""
        return self._run("capture-pane", "-p", "-S", "-", "-E", "-", "-t", "bench").splitlines()

    def key(self, name: str) -> None:
        """A named key (``Enter``, ``C-q``) or a single letter."""
        if len(name) == 1:
            if not name.isalnum():
                raise ValueError(name)
            self.command(f"send-keys -t bench -l {name}")
        else:
            self.command(f"send-keys -t bench {name}")

    def type(self, text: str) -> None:
        """Literal text, as one burst (not timed: the clock starts at the Enter after it)."""
        self._run("send-keys", "-t", "bench", "-l", "--", text)

    def pipe_start(self, path: Path) -> None:
        self._run("pipe-pane", "-o", "-t", "bench", f"cat >> {shlex.quote(str(path))}")

    def pipe_stop(self) -> None:
        self.command("pipe-pane -t bench")

    def check_alive(self) -> None:
        """Raise if the program in the pane has exited (checked at most every 0.25 s)."""
        now = time.monotonic()
        if now - self._checked < 0.25:
            return
        self._checked = now
        dead, _, status = self.command(
            "display -p -t bench '#{pane_dead} #{pane_dead_status}'")[0].partition(" ")
        if dead == "1":
            raise RuntimeError(f"the program exited (status {status or '?'}); "
                               f"screen: {_tail(self.screen())}")

    def pane_pid(self) -> int:
        return int(self.command("display -p -t bench '#{pane_pid}'")[0])

    def track(self) -> list[int]:
        """Note every process now in the pane's tree (to stop later); the tree's pids."""
        table = _proc_table()
        pids = _descendants(self.pane_pid(), table)
        for pid in pids:
            self.seen.setdefault(pid, table[pid][2])
        return pids

    def wait(self, predicate: Callable[[list[str]], bool], timeout: float,
             what: str) -> tuple[float, list[str]]:
        """Poll the screen until ``predicate``; (perf_counter when seen, that screen)."""
        deadline = time.perf_counter() + timeout
        while True:
            self._output.clear()  # output after this is seen by the next capture
            rows = self.screen()
            now = time.perf_counter()
            if predicate(rows):
                return now, rows
            if now > deadline:
                raise TimeoutError(f"no {what} within {timeout:g} s; screen: {_tail(rows)}")
            self.check_alive()
            self._output.wait(POLL)


# ------------------------------------------------------------------------- the consoles


@dataclass
class Spec:
    """How to start one console and read its screen."""

    name: str
    argv: list[str]
    kernel_python: str
    prompt: Callable[[list[str]], bool]  # the input prompt is on screen
    ready: Callable[[list[str]], bool]  # kernel idle, input accepted
    input_text: Callable[[list[str]], str | None]  # what the input line holds
    root_only: bool = False  # RSS of the pane's process alone (rtui: children are "remote")
    input_anywhere: bool = False  # the input may be drawn away from its prompt (euporie)
    version: str = ""


def _last_in_row(rows: list[str]) -> tuple[int, str] | None:
    for index in range(len(rows) - 1, -1, -1):
        if _IN_PROMPT.search(rows[index]):
            return index, rows[index]
    return None


def _last_nonblank(rows: list[str]) -> str:
    return next((row for row in reversed(rows) if row.strip()), "")


# rtui


def _rtui_editor_row(rows: list[str]) -> str | None:
    for index, row in enumerate(rows[:-1]):
        if row.startswith(EDITOR_TOP):
            return rows[index + 1]
    return None


def _rtui_input(rows: list[str]) -> str | None:
    row = _rtui_editor_row(rows)
    if row is None:
        return None
    return row.strip().strip(EDITOR_SIDE + "\u258e").strip()


def _rtui_status(rows: list[str]) -> str:
    return next((row for row in rows if re.search(r" · \S+ · In \[\d+\]", row)), "")


def _rtui_prompt(rows: list[str]) -> bool:
    return _rtui_editor_row(rows) is not None and any("Connected to kernel" in r for r in rows)


def _rtui_ready(rows: list[str]) -> bool:
    """The editor is shown and the status line says idle (it is blank until the first run)."""
    status = _rtui_status(rows)
    return _rtui_editor_row(rows) is not None and (not status or " · idle · " in status)


def _rtui_hosts_painted(rows: list[str]) -> bool:
    header = any(re.match(r"\s*Host\s+Status\b", row) for row in rows)
    return header and any(re.match(rf"\s*{RTUI_HOSTS}\s+\S", row) for row in rows)


def _rtui_host_ok(rows: list[str]) -> bool:
    return any(re.match(rf"\s*{RTUI_HOSTS}\s+ok\b", row) for row in rows)


# jupyter console


def _jupyter_input(rows: list[str]) -> str | None:
    match = re.match(r"In \[\d+\]: ?(.*)$", _last_nonblank(rows))
    return match.group(1).strip() if match else None


def _jupyter_prompt(rows: list[str]) -> bool:
    return any(row.startswith("In [1]:") for row in rows)


def _jupyter_ready(rows: list[str]) -> bool:
    return bool(re.match(r"In \[\d+\]:", _last_nonblank(rows)))


# euporie-console


def _euporie_input(rows: list[str]) -> str | None:
    found = _last_in_row(rows)
    if found is None:
        return None
    text = _IN_PROMPT.split(found[1])[-1]
    return text.rsplit("\u2595", 1)[-1].strip()  # after the "▏>▕" marker


def _euporie_prompt(rows: list[str]) -> bool:
    return any("In [1]:" in row for row in rows)


def _euporie_ready(rows: list[str]) -> bool:
    """The status bar shows the kernel idle and a prompt comes after the last result."""
    last_in = _last_in_row(rows)
    last_out = max((i for i, row in enumerate(rows) if "Out[" in row), default=-1)
    return IDLE_MARK in _last_nonblank(rows) and last_in is not None and last_in[0] > last_out


# --------------------------------------------------------------------------- the figures


@dataclass
class Probe:
    """One key typed during the flood."""

    char: str
    sent: float = 0.0
    offset: int = 0  # bytes in the terminal stream file when it was sent
    baseline: int = 0  # times the char was on screen just before
    shown: float | None = None
    during: bool = True  # typed before the flood was over


@dataclass
class Figures:
    spec: Spec | None
    name: str
    skipped: str | None = None  # not installed (not a crash)
    error: str | None = None  # crashed
    launch: float | None = None
    hosts_painted: float | None = None  # rtui: process start -> host list
    host_ok: float | None = None  # rtui: process start -> its host checked ok
    kernel_ready: float | None = None  # euporie: prompt shown before the kernel is ready
    results: list[float] = field(default_factory=list)
    floods: list[float] = field(default_factory=list)  # every flood's time, in order
    flood_timeout: float | None = None  # set when the flood did not end in time
    drain: float | None = None
    drain_label: str = ""
    floor: list[float] = field(default_factory=list)  # `N+1` of the line client (no UI)
    floor_label: str = ""
    probes: list[Probe] = field(default_factory=list)
    kept: int | None = None
    corrupt: list[str] = field(default_factory=list)
    peak_rss: int | None = None
    written: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flood(self) -> float | None:
        """The better of the floods run (the reference's is the best of two too)."""
        return min(self.floods) if self.floods else None


# ------------------------------------------------------------------------------ running


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.consoles", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_FLOOD_LINES:,} flood lines, {QUICK_RESULT_RUNS} runs")
    parser.add_argument("--peers-venv", type=Path, default=None,
                        help="venv for jupyter-console and euporie (default "
                        "$RTUI_BENCH_PEERS_VENV, else $XDG_CACHE_HOME/rtui-bench/peers-venv)")
    parser.add_argument("--only", nargs="+", choices=("rtui", "jupyter", "euporie"),
                        help="measure only these contenders")
    parser.add_argument("--demo", action="store_true",
                        help="rtui on `rtui demo` (SSH server in its own process) instead of "
                        "a host on a loopback OpenSSH sshd")
    args = parser.parse_args(argv)
    lines = QUICK_FLOOD_LINES if args.quick else FLOOD_LINES
    runs = QUICK_RESULT_RUNS if args.quick else RESULT_RUNS
    keys = QUICK_KEYS if args.quick else KEYS
    flood_timeout = QUICK_FLOOD_TIMEOUT if args.quick else FLOOD_TIMEOUT
    venv = args.peers_venv or Path(
        os.environ.get("RTUI_BENCH_PEERS_VENV") or _cache_dir() / "rtui-bench" / "peers-venv")
    only = set(args.only or ("rtui", "jupyter", "euporie"))

    started = time.perf_counter()
    print(machine_line(), flush=True)
    peers_python, peers_error, versions = ensure_peers_venv(venv)
    if peers_error:
        print(f"peers venv {venv}: {peers_error}", flush=True)
    figures = measure(
        only, peers_python, peers_error, versions, lines=lines, runs=runs, keys=keys,
        flood_timeout=flood_timeout, demo=args.demo,
    )
    print(
        f"\nConsoles in tmux {WIDTH}x{HEIGHT}, each on its own local kernel; `N+1`: median of "
        f"{runs} runs after a warm-up; flood: `for i in range({lines}): print('line', i)`, "
        f"keys `{keys}` typed one per {KEY_EVERY * 1000:.0f} ms from "
        f"{KEY_START * 1000:.0f} ms after Enter; {time.perf_counter() - started:.1f} s\n"
    )
    print(render_table(figures, lines), flush=True)
    notes = render_notes(figures)
    if notes:
        print("\n" + notes, flush=True)
    return 1 if any(f.error for f in figures) else 0


def measure(only: set[str], peers_python: Path | None, peers_error: str | None,
            versions: dict[str, str], *, lines: int, runs: int, keys: str,
            flood_timeout: float, demo: bool = False) -> list[Figures]:
    specs = _specs(peers_python, versions, demo=demo)
    figures: list[Figures] = []
    for key, name in (("rtui", RTUI), ("jupyter", JUPYTER), ("euporie", EUPORIE)):
        spec = specs.get(name)
        fig = Figures(spec, name)
        if key not in only:
            fig.skipped = "not measured: --only"
        elif name == RTUI and not demo and not sshd_available():
            fig.skipped = SSHD_MISSING_MESSAGE
        elif spec is None:
            fig.skipped = f"not installed: {peers_error or 'missing from the venv'}"
        figures.append(fig)

    with tempfile.TemporaryDirectory(prefix="rtui-bench-consoles-",
                                     ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        no_floor: list[float] = []
        floors = _references(
            figures, "`N+1` through a line client",
            lambda python, n: floor_reference(python, root / f"floor-{n}", runs), no_floor)
        for fig in figures:
            if fig.spec is not None and fig.spec.kernel_python in floors:
                fig.floor, fig.floor_label = floors[fig.spec.kernel_python]
        for fig in figures:
            if fig.skipped or fig.spec is None:
                continue
            print(f"driving {fig.name} ...", flush=True)
            home = root / "homes" / fig.spec.name.split()[0]
            server = None
            try:
                if fig.name == RTUI and not demo:
                    server = _rtui_host(root / "sshd", home)
                drive(fig, fig.spec, home, lines=lines, runs=runs, keys=keys,
                      flood_timeout=flood_timeout)
            except Exception as exc:
                fig.error = f"set-up: {describe(exc)}"
            finally:
                if server is not None:
                    server.close()
            _adjacent_drain(fig, root / f"drain-{fig.name.split()[0]}", lines)
    return figures


def _references(figures: list[Figures], what: str, run: Callable[[str, int], _T],
                failed: _T) -> dict[str, tuple[_T, str]]:
    """``run(python, n)`` once per kernel build among the measured contenders: its figure
    and the build's label, or ``failed`` and why."""
    found: dict[str, tuple[_T, str]] = {}
    for fig in figures:
        if fig.skipped or fig.spec is None or fig.spec.kernel_python in found:
            continue
        python = fig.spec.kernel_python
        label = _kernel_label(python)
        print(f"reference: {what} on {label} ...", flush=True)
        try:
            found[python] = (run(python, len(found)), label)
        except Exception as exc:
            found[python] = (failed, f"{label}: crashed: {describe(exc)}")
    return found


def _adjacent_drain(fig: Figures, root: Path, lines: int) -> None:
    """The drain-only reference for ``fig``, on its kernel build, right after its flood."""
    if fig.spec is None or fig.flood is None:
        return
    python = fig.spec.kernel_python
    label = _kernel_label(python)
    print(f"reference: drain-only client on {label}, right after {fig.name} ...", flush=True)
    try:
        fig.drain, fig.drain_label = drain_reference(python, root, lines), label
    except Exception as exc:
        fig.drain_label = f"{label}: crashed: {describe(exc)}"


def _rtui_host(workdir: Path, home: Path) -> SSHD:
    """A loopback OpenSSH sshd and a HOME whose hosts.toml has one host on it, trusted,
    with this Python as its ``python`` (ipykernel is there): Enter goes straight to a kernel."""
    from rtui.core.config.model import Host
    from rtui.core.config.store import HostStore

    server = start_sshd(workdir)
    try:
        home.mkdir(parents=True, exist_ok=True)
        trust(server, home)
        host = Host(RTUI_HOST, hostname=server.host, port=server.port, user=server.user,
                    identity_files=(str(server.client_key),), python=sys.executable)
        store = HostStore(home / ".config" / "rtui" / "hosts.toml")
        store.update(lambda config: config.with_host(host))
    except BaseException:
        server.close()
        raise
    return server


def _on_demo(fig: Figures) -> bool:
    return fig.spec is not None and fig.spec.argv[-1] == "demo"


def _command(fig: Figures) -> str:
    return "rtui demo" if _on_demo(fig) else "rtui"


def _specs(peers_python: Path | None, versions: dict[str, str], *,
           demo: bool = False) -> dict[str, Spec]:
    rtui_bin = Path(sys.executable).parent / "rtui"
    rtui_argv = [str(rtui_bin)] if rtui_bin.exists() else [sys.executable, "-m", "rtui"]
    specs = {
        RTUI: Spec(RTUI, [*rtui_argv, *(["demo"] if demo else [])], sys.executable,
                   _rtui_prompt, _rtui_ready, _rtui_input, root_only=True,
                   version=version("rtui")),
    }
    if peers_python is not None:
        bin_dir = peers_python.parent
        has_kernel = bool(versions.get("ipykernel"))  # the consoles' python3 kernel
        if (bin_dir / "jupyter-console").exists() and versions.get("jupyter-console") \
                and has_kernel:
            specs[JUPYTER] = Spec(
                JUPYTER, [str(bin_dir / "jupyter-console"), "--kernel", "python3"],
                str(peers_python), _jupyter_prompt, _jupyter_ready, _jupyter_input,
                version=versions["jupyter-console"],
            )
        if (bin_dir / "euporie-console").exists() and versions.get("euporie") and has_kernel:
            specs[EUPORIE] = Spec(
                EUPORIE, [str(bin_dir / "euporie-console"), "--kernel-name", "python3"],
                str(peers_python), _euporie_prompt, _euporie_ready, _euporie_input,
                input_anywhere=True, version=versions["euporie"],
            )
    return specs


def drive(fig: Figures, spec: Spec, home: Path, *, lines: int, runs: int, keys: str,
          flood_timeout: float) -> None:
    """Launch, `N+1` runs, the flood; every process stopped afterwards whatever happened."""
    stage = "starting tmux"
    term = Terminal(spec.name.split()[0], _pane_env(home), home)
    try:
        term.start()
        stage = "shell prompt"
        term.wait(lambda rows: _last_nonblank(rows).rstrip().endswith(("$", "#")), STEP_TIMEOUT,
                  "shell prompt")
        stage = "launch"
        if spec.name == RTUI:
            _launch_rtui(term, spec, fig)
        else:
            _launch(term, spec, fig)
        term.track()
        stage = "`N+1` runs"
        _results(term, spec, fig, runs)
        stage = "flood"
        _flood(term, spec, fig, home, lines=lines, keys=keys, timeout=flood_timeout)
        stage = "second flood"
        _second_flood(term, spec, fig, lines=lines)
    except Exception as exc:
        fig.error = f"{stage}: {describe(exc)}"
    finally:
        term.close()


def _enter_command(term: Terminal, spec: Spec) -> float:
    """Type ``exec <argv>`` in the pane's shell, wait until it shows, press Enter; returns
    the perf_counter() at Enter."""
    command = "exec " + shlex.join(spec.argv)
    term.type(command)
    term.wait(lambda rows: command in "".join(rows), STEP_TIMEOUT, "the command typed")
    started = time.perf_counter()
    term.key("Enter")
    return started


def _launch(term: Terminal, spec: Spec, fig: Figures) -> None:
    started = _enter_command(term, spec)
    shown, rows = term.wait(spec.prompt, LAUNCH_TIMEOUT, "input prompt")
    fig.launch = shown - started
    if not spec.ready(rows):
        ready, _ = term.wait(spec.ready, LAUNCH_TIMEOUT, "kernel idle")
        fig.kernel_ready = ready - started


def _launch_rtui(term: Terminal, spec: Spec, fig: Figures) -> None:
    started = _enter_command(term, spec)
    painted, _ = term.wait(_rtui_hosts_painted, LAUNCH_TIMEOUT, "host list")
    fig.hosts_painted = painted - started
    ok, _ = term.wait(_rtui_host_ok, LAUNCH_TIMEOUT, "host ok")
    fig.host_ok = ok - started
    pressed = time.perf_counter()
    term.key("Enter")  # the cursor is on the (only) host
    shown, rows = term.wait(spec.prompt, LAUNCH_TIMEOUT, "console editor")
    fig.launch = shown - pressed
    status = _rtui_status(rows).strip()
    if " · idle · " not in status:
        fig.notes.append(
            "the console's status line was "
            + (f"`{status}`" if status else "blank")
            + " when the console opened (it shows `idle` only after the first run)"
        )


def _results(term: Terminal, spec: Spec, fig: Figures, runs: int) -> None:
    term.watch_output(True)
    try:
        _timed_results(term, spec, fig, runs)
    finally:
        term.watch_output(False)


def _timed_results(term: Terminal, spec: Spec, fig: Figures, runs: int) -> None:
    for run in range(runs + 1):  # the first is a warm-up
        n = 1000 + run
        text, expected = f"{n}+1", re.compile(rf"Out\[\d+\]:\s*{n + 1}$")
        term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
        _type_input(term, spec, fig, text)
        started = time.perf_counter()
        term.key("Enter")
        def result_shown(rows: list[str], e: re.Pattern[str] = expected) -> bool:
            return any(e.search(r.strip()) for r in rows)

        shown, _ = term.wait(result_shown, STEP_TIMEOUT, f"Out[…]: {n + 1}")
        if run:
            fig.results.append(shown - started)
    term.wait(spec.ready, STEP_TIMEOUT, "prompt back")


def _type_input(term: Terminal, spec: Spec, fig: Figures, text: str) -> None:
    """Type ``text`` and wait until the input line shows it. Keys a console drops (euporie
    right after start-up, on a loaded machine) are noted, the input erased, and typed again."""
    def typed(rows: list[str]) -> bool:
        if text in (spec.input_text(rows) or ""):
            return True
        # euporie, after the terminal's answers to its start-up queries were echoed onto
        # the screen, may draw its input away from its prompt until the first repaint.
        return spec.input_anywhere and any(text in row for row in rows)

    for attempt in range(TYPE_ATTEMPTS):
        term.type(text)
        try:
            _, rows = term.wait(typed, TYPE_TIMEOUT, f"`{text}` in the input")
            if text not in (spec.input_text(rows) or ""):
                fig.notes.append(f"`{text}` was drawn away from the prompt: "
                                 f"`{next(r for r in rows if text in r)[:70]}`")
            return
        except TimeoutError:
            held = spec.input_text(term.screen()) or ""
            if attempt == TYPE_ATTEMPTS - 1:
                raise
            fig.notes.append(f"`{text}` typed at the prompt did not all reach the input "
                             f"(it held `{held[:40]}`); erased and typed again")
            term.command(f"send-keys -t bench -N {len(held) + len(text)} BSpace")


def _flood(term: Terminal, spec: Spec, fig: Figures, home: Path, *, lines: int, keys: str,
           timeout: float) -> None:
    code = f"for i in range({lines}): print('line', i)"
    last = re.compile(rf"line {lines - 1}(?!\d)")
    _type_input(term, spec, fig, code)
    stream_path = home / "flood.bytes"
    stream_path.write_bytes(b"")
    term.pipe_start(stream_path)
    stream = StreamWatch(stream_path)
    pane = term.pane_pid()

    def client_pids() -> list[int]:
        if spec.root_only:
            return [pane]
        return _descendants(pane, _proc_table(), skip=_is_kernel)

    sampler = RssSampler(client_pids)
    probes = [Probe(char) for char in keys]
    unkey = str.maketrans("", "", keys)
    fig.probes = probes
    rows = term.screen()
    sampler.start()
    cpu = time.process_time()
    try:
        started = time.perf_counter()
        term.key("Enter")
        next_key, sent, done = started + KEY_START, 0, None
        while True:
            now = time.perf_counter()
            if sent < len(probes) and now >= next_key:
                probe = probes[sent]
                probe.baseline = sum(row.count(probe.char) for row in rows)
                probe.offset = stream.size() if done is None else -1
                probe.during = done is None
                probe.sent = time.perf_counter()
                term.key(probe.char)
                sent += 1
                next_key += KEY_EVERY
            rows = term.screen()
            now = time.perf_counter()
            if done is None:
                stream.scan([p for p in probes[:sent] if p.offset >= 0], now)
            for probe in probes[:sent]:
                if probe.shown is None and sum(r.count(probe.char) for r in rows) > probe.baseline:
                    probe.shown = now
            # A key echoed into the last line (jupyter console) must not hide it.
            if done is None and spec.ready(rows) and any(
                    last.search(r.translate(unkey)) for r in rows):
                done = now
                fig.floods.append(done - started)
                fig.notes.append(f"the benchmark's own CPU during the flood: "
                                 f"{time.process_time() - cpu:.2f} s")
                term.pipe_stop()
                sampler.stop()
            if done is not None and sent == len(probes) and (
                all(p.shown is not None for p in probes) or now - done > AFTER_FLOOD
            ):
                break
            if done is None and now - started > timeout:
                fig.flood_timeout = timeout
                fig.notes.append(f"the flood had not ended after {timeout:g} s; stopped there; "
                                 f"screen: {_tail(rows)}")
                break
            term.check_alive()
            time.sleep(POLL)
    finally:
        sampler.stop()
        fig.peak_rss = sampler.peak or None
        with contextlib.suppress(Exception):
            term.pipe_stop()
        stream.close()
    fig.written = _settled_size(stream_path)
    if fig.flood_timeout is not None:
        return
    final = term.screen()
    fig.kept = sum(1 for char in keys if char in (spec.input_text(final) or ""))
    fig.corrupt = _corrupt_rows(term.history(), code, keys)


def _second_flood(term: Terminal, spec: Spec, fig: Figures, *, lines: int) -> None:
    """The flood once more, timed only (no keys, no sampling): the figure is the better of
    the two, as the drain-only reference's is the best of two runs. One run's figure moved by
    more than the goal's margin from run to run. One line more than the first (200,001), so
    its last line is not already on the screen; a flood past SECOND_FLOOD_AFTER is not run
    twice."""
    if fig.flood is None or fig.flood > SECOND_FLOOD_AFTER:
        return
    term.wait(spec.ready, STEP_TIMEOUT, "prompt back")
    held = spec.input_text(term.screen()) or ""  # the keys typed during the first flood
    if held:
        term.command(f"send-keys -t bench -N {len(held)} BSpace")
        term.wait(lambda rows: not (spec.input_text(rows) or ""), STEP_TIMEOUT, "input empty")
    code = f"for i in range({lines + 1}): print('line', i)"
    last = re.compile(rf"line {lines}(?!\d)")
    _type_input(term, spec, fig, code)
    started = time.perf_counter()
    term.key("Enter")
    done, _ = term.wait(lambda rows: spec.ready(rows) and any(last.search(r) for r in rows),
                        FLOOD_TIMEOUT, "the second flood's last line")
    fig.floods.append(done - started)


def _corrupt_rows(rows: list[str], code: str, keys: str) -> list[str]:
    """Rows after the flood's code (or all rows) that are no input line and hold a typed key."""
    start = max((i for i, row in enumerate(rows) if code in row), default=-1) + 1
    found = []
    for row in rows[start:]:
        if _IN_PROMPT.search(row) or row.startswith(EDITOR_SIDE):
            continue  # an input line (jupyter console, euporie; rtui's editor box)
        if any(char in row for char in keys):
            found.append(row.strip())
    return found


# ----------------------------------------------------------------------- terminal stream

_ESCAPE = (  # CSI, OSC, DCS/APC/PM/SOS strings, two- or three-byte sequences
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[P_^X][^\x1b]*\x1b\\"
    rb"|[ -/]*[0-~])"
)
_TOKENS = re.compile(_ESCAPE + rb"|[^\x1b]+|\x1b", re.S)
_ESCAPE_RE = re.compile(_ESCAPE, re.S)


class StreamWatch:
    """Reads what the program wrote to the terminal (pipe-pane's file) as it grows and notes
    when a typed key first appears in it as text (escape sequences skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        self._pos = 0  # stream offset of self._held[0]
        self._held = b""

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def scan(self, probes: list[Probe], now: float) -> None:
        data = self._held + self._file.read()
        if not data:
            return
        cut = len(data)
        last_esc = data.rfind(b"\x1b", max(0, len(data) - 4096))
        if last_esc >= 0 and _ESCAPE_RE.match(data, last_esc) is None:
            cut = last_esc  # an escape sequence cut in two: keep it for the next read
        pending = [p for p in probes if p.shown is None]
        if pending:
            for token in _TOKENS.finditer(data, 0, cut):
                if token.group().startswith(b"\x1b"):
                    continue
                start = self._pos + token.start()
                for probe in pending:
                    if probe.shown is not None:
                        continue
                    index = token.group().find(probe.char.encode())
                    while index >= 0 and start + index < probe.offset:
                        index = token.group().find(probe.char.encode(), index + 1)
                    if index >= 0:
                        probe.shown = now
        self._pos += cut
        self._held = data[cut:]

    def close(self) -> None:
        self._file.close()


def _settled_size(path: Path, timeout: float = 5) -> int:
    """The file's size once ``cat`` has written everything (unchanged for 200 ms)."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = path.stat().st_size
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since > 0.2:
            break
        time.sleep(0.02)
    return size


# ----------------------------------------------------------------------------- processes


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, command line, start time) for every process in /proc."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), cmdline, int(fields[19]))
    return table


def _descendants(root: int, table: dict[int, tuple[int, str, int]],
                 skip: Callable[[str], bool] | None = None) -> list[int]:
    """``root`` and its descendants; a process for which ``skip(cmdline)`` is left out, with
    its own descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid not in table or (skip is not None and skip(table[pid][1])):
            continue
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _is_kernel(cmdline: str) -> bool:
    return "ipykernel" in cmdline or "spyder_kernels" in cmdline


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def _stop_processes(processes: dict[int, int]) -> None:
    """SIGTERM, then SIGKILL, each process still alive (same pid and start time)."""

    def alive() -> list[int]:
        return [pid for pid, start in processes.items()
                if _start_time(pid) is not None and (not start or _start_time(pid) == start)
                and not _zombie(pid)]

    deadline = time.monotonic() + 5  # let them go on their own first (SIGHUP from tmux)
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        left = alive()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].split()[0] == "Z"


class RssSampler:
    """Sum of the RSS of ``pids()`` every RSS_EVERY seconds in a thread; the peak."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        pids: list[int] = []
        refreshed = 0.0
        while True:
            now = time.monotonic()
            if now - refreshed > 1.0:  # the tree rarely changes: rescan it once a second
                with contextlib.suppress(Exception):
                    pids = self._pids()
                refreshed = now
            total = 0
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/statm", "rb") as f:
                        total += int(f.read().split()[1]) * self._page
                except (OSError, ValueError, IndexError):
                    continue
            self.peak = max(self.peak, total)
            if self._stop.wait(RSS_EVERY):
                return


# ------------------------------------------------------------------ reference and venv


def drain_reference(python: str, root: Path, lines: int) -> float:
    """Seconds for a client that only drains iopub (jupyter_client, blocking) to see the
    flood's last line and the kernel idle again, on a fresh kernel run by ``python``: the best
    of DRAIN_RUNS (what the kernel itself can do; a contender gets one run)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = root / "kernels" / "bench"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "benchmark", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env = _pane_env(root / "home")
    km = KernelManager(kernel_name="bench",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "kernels")]),
                       connection_file=str(root / "connection.json"), ip="127.0.0.1",
                       transport="tcp")
    with (root / "kernel.log").open("wb") as log:  # its warnings are not the benchmark's
        km.start_kernel(env=env, cwd=str(root), stdout=log, stderr=subprocess.STDOUT)
    client = None
    try:
        client = km.blocking_client()
        client.start_channels()
        client.wait_for_ready(timeout=LAUNCH_TIMEOUT)
        _drain(client, "1+1", None)  # warm-up
        code = f"for i in range({lines}): print('line', i)"
        return min(_drain(client, code, f"line {lines - 1}") for _ in range(DRAIN_RUNS))
    finally:
        if client is not None:
            client.stop_channels()
        km.shutdown_kernel(now=True)


def floor_reference(python: str, root: Path, runs: int) -> list[float]:
    """`N+1` Enter -> result on screen for ``benchmarks/line_client.py`` (input(), one
    execute_request, print) on a fresh kernel run by ``python``, timed in tmux exactly as
    the consoles are: what the kernel, the terminal and this way of reading it cost."""
    script = Path(__file__).with_name("line_client.py")
    spec = Spec("line client", [sys.executable, str(script), python, str(root)], python,
                _jupyter_prompt, _jupyter_ready, _jupyter_input)
    fig = Figures(spec, spec.name)
    home = root / "home"
    term = Terminal("line-client", _pane_env(home), home)
    try:
        term.start()
        term.wait(lambda rows: _last_nonblank(rows).rstrip().endswith(("$", "#")), STEP_TIMEOUT,
                  "shell prompt")
        _launch(term, spec, fig)
        term.track()
        _results(term, spec, fig, runs)
    finally:
        term.close()
    return fig.results


def _drain(client: object, code: str, last: str | None) -> float:
    started = time.perf_counter()
    msg_id = client.execute(code)  # type: ignore[attr-defined]
    seen = last is None
    while True:
        msg = client.get_iopub_msg(timeout=STEP_TIMEOUT * 3)  # type: ignore[attr-defined]
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and last is not None and f"{last}\n" in content["text"]:
            seen = True
        elif kind == "status" and content["execution_state"] == "idle":
            elapsed = time.perf_counter() - started
            if not seen:
                raise RuntimeError(f"idle before {last!r} arrived")
            return elapsed


def ensure_peers_venv(venv: Path) -> tuple[Path | None, str | None, dict[str, str]]:
    """The venv's python (created and filled once), an error, the peers' versions."""
    python = venv / "bin" / "python"
    versions = _peer_versions(python)
    missing = [p for p in PEER_PACKAGES if not versions.get(p)]
    if not missing:
        return python, None, versions
    log = venv.parent / "peers-install.log"
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            if not python.exists():
                print(f"creating {venv} (once) ...", flush=True)
                subprocess.run([sys.executable, "-m", "venv", str(venv)], stdout=out,
                               stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=True)
            print(f"installing {', '.join(missing)} into {venv} (pip output: {log}) ...",
                  flush=True)
            pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
            done = subprocess.run([*pip, *missing], stdout=out, stderr=subprocess.STDOUT,
                                  timeout=INSTALL_TIMEOUT, check=False)
            if done.returncode != 0:  # one at a time: one failing must not stop the others
                for package in missing:
                    subprocess.run([*pip, package], stdout=out, stderr=subprocess.STDOUT,
                                   timeout=INSTALL_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return (python if python.exists() else None), f"install failed: {describe(exc)}", {}
    versions = _peer_versions(python)
    missing = [p for p in PEER_PACKAGES if not versions.get(p)]
    if missing:
        reason = _last_error_line(log)
        error = f"pip could not install {', '.join(missing)}: {reason} (see {log})"
        return (python if python.exists() else None), error, versions
    return python, None, versions


def _peer_versions(python: Path) -> dict[str, str]:
    if not python.exists():
        return {}
    script = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for name in {list(PEER_PACKAGES)!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                              timeout=60, check=True)
        result: dict[str, str] = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return result


def _last_error_line(log: Path) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no pip output"
    useful = [line.strip() for line in text if line.strip() and "WARNING" not in line]
    errors = [line for line in useful if line.startswith("ERROR")]
    return (errors or useful or ["no pip output"])[-1][:200]


# ------------------------------------------------------------------------------ helpers


def _pane_env(home: Path) -> dict[str, str]:
    """This process's environment with a throwaway HOME and XDG dirs; nothing of Jupyter's,
    tmux's, ssh-agent's or rtui's that could leak in."""
    home.mkdir(parents=True, exist_ok=True)
    dropped = ("JUPYTER", "IPYTHON", "TMUX", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "RTUI_",
               "VIRTUAL_ENV", "COLORTERM", "PYTHONSTARTUP", "NO_COLOR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(home / ".run"),
        LANG="C.UTF-8",
    )
    env.pop("LC_ALL", None)
    (home / ".run").mkdir(mode=0o700, exist_ok=True)
    return env


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _kernel_label(python: str) -> str:
    try:
        done = subprocess.run(
            [python, "-c", "import ipykernel, platform; "
             "print(platform.python_version(), ipykernel.__version__)"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        py, ipk = done.stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError):
        return python
    return f"Python {py}, ipykernel {ipk}"


def _tail(rows: list[str], count: int = 6) -> str:
    shown = [row.strip() for row in rows if row.strip()][-count:]
    return " / ".join(row[:100] for row in shown) or "(blank)"


# ------------------------------------------------------------------------------- output


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _mb(count: int) -> str:
    if count < 1e6:
        return f"{count / 1e3:.0f} kB"
    return f"{count / 1e6:.2f} MB" if count < 1e9 else f"{count / 1e9:.2f} GB"


def _cell(fig: Figures, text: Callable[[Figures], str | None], first: bool) -> str:
    if fig.skipped:
        return fig.skipped.replace("|", "/") if first else "—"
    try:
        value = text(fig)
    except Exception as exc:  # a figure missing because something earlier crashed
        value = None if fig.error else f"? ({describe(exc)})"
    if value is None:
        return "crashed (see below)" if fig.error else "—"
    return value.replace("|", "/")


def _echo(fig: Figures) -> tuple[list[float], int, int]:
    """Echo latencies of keys typed during the flood, how many of them, how many never shown."""
    during = [p for p in fig.probes if p.during]
    shown = [p.shown - p.sent for p in during if p.shown is not None]
    return shown, len(during), len(during) - len(shown)


def render_table(figures: list[Figures], lines: int) -> str:
    by_name = {f.name: f for f in figures}
    rtui, jupyter = by_name[RTUI], by_name[JUPYTER]

    def launch(f: Figures) -> str | None:
        if f.launch is None:
            return None
        extra = []
        if f.hosts_painted is not None:
            extra.append(f"`{_command(f)}` → host list painted {f.hosts_painted:.2f} s")
        if f.kernel_ready is not None:
            extra.append(f"kernel ready at {f.kernel_ready:.2f} s")
        return f"{f.launch:.2f} s" + (f" ({'; '.join(extra)})" if extra else "")

    def result(f: Figures) -> str | None:
        if not f.results:
            return None
        return (f"{_ms(statistics.median(f.results))} (p95 {_ms(percentile(f.results, 95))}, "
                f"n={len(f.results)})")

    def flood(f: Figures) -> str | None:
        if f.flood_timeout is not None:
            return f"> {f.flood_timeout:g} s (had not ended)"
        if f.flood is None:
            return None
        parts = [f"{f.flood / f.drain:.2f}x drain-only"] if f.drain else []
        parts.append("best of " + ", ".join(f"{t:.2f}" for t in f.floods)
                     if len(f.floods) > 1 else "one run")
        return f"{f.flood:.2f} s ({'; '.join(parts)})"

    def floor(f: Figures) -> str | None:
        if not f.floor:
            return f.floor_label or None
        return (f"{_ms(statistics.median(f.floor))} (p95 {_ms(percentile(f.floor, 95))}, "
                f"n={len(f.floor)}; {f.floor_label})")

    def drain(f: Figures) -> str | None:
        if f.drain is None:
            return f.drain_label or None
        return f"{f.drain:.2f} s ({f.drain_label})"

    def echo(f: Figures) -> str | None:
        if not f.probes:
            return None
        shown, during, lost = _echo(f)
        if not during:
            return "no key typed before the flood ended"
        parts = [f"p95 {_ms(percentile(shown, 95))}" if shown else "none shown"]
        parts.append(f"{during} typed during the flood")
        if lost:
            parts.append(f"{lost} never shown")
        return ", ".join(parts)

    def corrupt(f: Figures) -> str | None:
        if f.kept is None:
            return None
        count = len(f.corrupt)
        where = "never inside the output" if not count else (
            f"{count} output row{'s hold' if count > 1 else ' holds'} typed keys, "
            f"e.g. `{f.corrupt[0][:40]}`")
        return f"{where}; {f.kept}/{len(f.probes)} ended in the input"

    def rss(f: Figures) -> str | None:
        return None if f.peak_rss is None else _mb(f.peak_rss)

    def written(f: Figures) -> str | None:
        if f.written is None:
            return None
        ratio = ""
        if jupyter.written and f is not jupyter:
            ratio = f" ({f.written / jupyter.written:.2f}x jupyter console)"
        return _mb(f.written) + ratio

    def met(ok: bool | None) -> str:
        return "—" if ok is None else ("yes" if ok else "no")

    shown, during, lost = _echo(rtui) if rtui.probes else ([], 0, 0)
    echo_ok = None
    if rtui.kept is not None and during:
        echo_ok = (bool(shown) and not lost and percentile(shown, 95) <= GOAL_ECHO_P95
                   and not rtui.corrupt)
    rows: list[tuple[str, Callable[[Figures], str | None], str, bool | None]] = [
        ("launch → input prompt", launch, f"≤ {GOAL_LAUNCH:g} s",
         None if rtui.launch is None else rtui.launch <= GOAL_LAUNCH),
        ("`N+1` Enter → result on screen", result, f"≤ {GOAL_RESULT * 1000:g} ms",
         None if not rtui.results else statistics.median(rtui.results) <= GOAL_RESULT),
        ("`N+1` through a line client with no UI (input(), print), same kernel build", floor,
         "—", None),
        (f"{lines:,}-line flood → last line + prompt back (best of 2, as the reference)", flood,
         f"≤ {GOAL_FLOOD_RATIO:g}x drain-only",
         None if rtui.flood is None or not rtui.drain
         else rtui.flood <= GOAL_FLOOD_RATIO * rtui.drain),
        ("drain-only client, same code, same kernel build", drain, "—", None),
        ("typed keys during the flood: echo", echo, f"≤ {GOAL_ECHO_P95 * 1000:g} ms p95, all",
         echo_ok),
        ("typed keys during the flood: where they land", corrupt, "never inside the output",
         None if rtui.kept is None else not rtui.corrupt),
        ("peak RSS during the flood (client, no kernel)", rss, f"≤ {GOAL_RSS / 1e6:g} MB",
         None if rtui.peak_rss is None else rtui.peak_rss <= GOAL_RSS),
        ("bytes written to the terminal for the flood", written,
         f"≤ {GOAL_BYTES_RATIO:g}x jupyter console",
         None if rtui.written is None or not jupyter.written
         else rtui.written <= GOAL_BYTES_RATIO * jupyter.written),
    ]
    heads = []
    for fig in figures:
        shown_version = f" {fig.spec.version}" if fig.spec and fig.spec.version else ""
        head = f"{fig.name}{shown_version}"
        heads.append(head.replace("|", "/"))
    out = [f"| | {' | '.join(heads)} | goal (rtui) | met |",
           "| --- | " + " | ".join("---" for _ in figures) + " | --- | --- |"]
    for index, (label, text, goal, ok) in enumerate(rows):
        cells = " | ".join(_cell(fig, text, index == 0) for fig in figures)
        out.append(f"| {label} | {cells} | {goal} | {met(ok)} |")
    return "\n".join(out)


def render_notes(figures: list[Figures]) -> str:
    notes = []
    for fig in figures:
        if fig.error:
            notes.append(f"- {fig.name} crashed: {fig.error}")
        if fig.host_ok is not None:
            notes.append(f"- {fig.name}: `{_command(fig)}` → host checked ok "
                         f"{fig.host_ok:.2f} s; launch is timed from Enter on the host")
        if fig.spec is not None and fig.spec.root_only and fig.peak_rss is not None:
            where = ("it also hosts the demo's SSH server; its children are the demo host's "
                     "side" if _on_demo(fig) else
                     "its host's side, sshd included, would run on that host")
            notes.append(f"- {fig.name}: RSS is the rtui process alone ({where})")
        for note in fig.notes:
            notes.append(f"- {fig.name}: {note}")
        late = [p for p in fig.probes if p.during and p.shown is not None]
        if late:
            detail = ", ".join(f"`{p.char}` {_ms(p.shown - p.sent)}" for p in late
                               if p.shown is not None)
            notes.append(f"- {fig.name}: typed key → shown: {detail}")
    return "\n".join(notes)


def machine_line() -> str:
    return common_machine_line(("rtui", "textual", "jupyter_client", "ipykernel"),
                               ("tmux", "-V"))


if __name__ == "__main__":
    sys.exit(main())
