"""The terminal every console runs in: one tmux server, one 120x36 pane, read through a
control-mode client, and everything seen in the pane stopped at the end."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import isolated_vars
from benchmarks.consoles.processes import descendants, proc_table, start_time, stop_processes
from benchmarks.tmux import TmuxControl, screen_tail

__all__ = [
    "HEIGHT",
    "LAUNCH_TIMEOUT",
    "POLL",
    "STEP_TIMEOUT",
    "WIDTH",
    "Terminal",
    "last_nonblank",
    "pane_env",
    "screen_tail",
]

WIDTH, HEIGHT = 120, 36
POLL = 0.005  # seconds between screen captures while waiting for something
HISTORY_LIMIT = 250_000
LAUNCH_TIMEOUT = 90.0
STEP_TIMEOUT = 20.0  # one `N+1`, a prompt coming back


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
        self._control: TmuxControl | None = None
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
        self._control = TmuxControl(self.tmux, self.socket, "bench", self.env, self.cwd)

    def close(self) -> None:
        """Kill the tmux server, then every process seen in the pane that is still alive."""
        with contextlib.suppress(Exception):
            self.track()
        if self._control is not None:
            self._control.close()
        with contextlib.suppress(Exception):
            subprocess.run([self.tmux, "-L", self.socket, "kill-server"], env=self.env,
                           capture_output=True, timeout=10, check=False)
        processes = dict(self.seen)
        if self.server_pid is not None:
            with contextlib.suppress(OSError):
                processes[self.server_pid] = start_time(self.server_pid) or 0
        stop_processes(processes)
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

    def command(self, line: str, timeout: float = 10) -> list[str]:
        """Run one tmux command through the control client; its output lines."""
        if self._control is None:
            raise RuntimeError("the terminal is not started")
        return self._control.command(line, timeout)

    def watch_output(self, on: bool) -> None:
        """Have tmux report the pane's output (off by default: a flood would send every byte
        through the control client); ``wait`` then reads the screen when output came."""
        if self._control is None:
            raise RuntimeError("the terminal is not started")
        self._control.watch_output(on)

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

    def erase(self, count: int) -> None:
        """``count`` backspaces."""
        self.command(f"send-keys -t bench -N {count} BSpace")

    def enter_command(self, argv: list[str]) -> float:
        """Type ``exec <argv>`` in the pane's shell, wait until it shows, press Enter; returns
        the perf_counter() at Enter."""
        command = "exec " + shlex.join(argv)
        self.type(command)
        self.wait(lambda rows: command in "".join(rows), STEP_TIMEOUT, "the command typed")
        started = time.perf_counter()
        self.key("Enter")
        return started

    def wait_shell(self) -> None:
        """Until the pane's shell shows its prompt."""
        self.wait(lambda rows: last_nonblank(rows).rstrip().endswith(("$", "#")), STEP_TIMEOUT,
                  "shell prompt")

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
                               f"screen: {screen_tail(self.screen())}")

    def pane_pid(self) -> int:
        return int(self.command("display -p -t bench '#{pane_pid}'")[0])

    def track(self) -> list[int]:
        """Note every process now in the pane's tree (to stop later); the tree's pids."""
        table = proc_table()
        pids = descendants(self.pane_pid(), table)
        for pid in pids:
            self.seen.setdefault(pid, table[pid][2])
        return pids

    def wait(self, predicate: Callable[[list[str]], bool], timeout: float,
             what: str) -> tuple[float, list[str]]:
        """Poll the screen until ``predicate``; (perf_counter when seen, that screen)."""
        if self._control is None:
            raise RuntimeError("the terminal is not started")
        output = self._control.output
        deadline = time.perf_counter() + timeout
        while True:
            output.clear()  # output after this is seen by the next capture
            rows = self.screen()
            now = time.perf_counter()
            if predicate(rows):
                return now, rows
            if now > deadline:
                raise TimeoutError(f"no {what} within {timeout:g} s; screen: "
                                   f"{screen_tail(rows)}")
            self.check_alive()
            output.wait(POLL)


def last_nonblank(rows: list[str]) -> str:
    return next((row for row in reversed(rows) if row.strip()), "")


def pane_env(home: Path) -> dict[str, str]:
    """This process's environment with a throwaway HOME and XDG dirs; nothing of Jupyter's,
    tmux's, ssh-agent's or rtui's that could leak in."""
    home.mkdir(parents=True, exist_ok=True)
    dropped = ("JUPYTER", "IPYTHON", "TMUX", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "RTUI_",
               "VIRTUAL_ENV", "COLORTERM", "PYTHONSTARTUP", "NO_COLOR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(isolated_vars(home), XDG_RUNTIME_DIR=str(home / ".run"), LANG="C.UTF-8")
    env.pop("LC_ALL", None)
    (home / ".run").mkdir(mode=0o700, exist_ok=True)
    return env
