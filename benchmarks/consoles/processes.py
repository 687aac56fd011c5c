"""The processes a console leaves in its pane, read from /proc: its tree (to stop every one
of them at the end, kernels included) and its resident memory while a flood runs."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable

__all__ = ["RssSampler", "descendants", "is_kernel", "proc_table", "start_time",
           "stop_processes"]

RSS_EVERY = 0.05  # seconds between RSS samples


def proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, command line, start time) for every process in /proc."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields is not None:
            table[int(entry.name)] = (int(fields[1]), cmdline, int(fields[19]))
    return table


def descendants(root: int, table: dict[int, tuple[int, str, int]],
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


def is_kernel(cmdline: str) -> bool:
    return "ipykernel" in cmdline or "spyder_kernels" in cmdline


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def stop_processes(processes: dict[int, int]) -> None:
    """SIGTERM, then SIGKILL, each process still alive (same pid and start time)."""

    def alive() -> list[int]:
        return [pid for pid, start in processes.items()
                if start_time(pid) is not None and (not start or start_time(pid) == start)
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
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


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
