"""Finding and killing what the demo started: its processes are marked by an environment
variable naming its temporary directory, and kernels by their records in its HOME."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MARKER", "belongs", "demo_processes", "kernel_pids", "kill_group", "kill_until_gone"]

MARKER = "RTUI_DEMO"  # environment variable set to the demo's temp dir in every process it starts
KILL_WAIT = 5.0  # seconds to wait for killed processes to be gone


def kernel_pids(home: Path) -> set[int]:
    """Pids from rtui's kernel records and of processes using a connection file in ``home``."""
    pids: set[int] = set()
    for path in glob.glob(str(home / ".local/share/rtui/kernels/*.json")):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(Path(path).read_text())
            pid = record.get("pid") if isinstance(record, dict) else None
            if isinstance(pid, int) and pid > 1:
                pids.add(pid)
    files = [os.fsencode(p) for p in
             glob.glob(str(home / ".local/share/jupyter/runtime/kernel-*.json"))]
    if files:
        for pid, cmdline, _environ in _processes():
            if any(f in cmdline for f in files):
                pids.add(pid)
    return pids


def demo_processes(root: Path | str) -> list[int]:
    """Live processes of this user whose command line or environment names ``root``."""
    needle = os.fsencode(str(root))
    marker = os.fsencode(f"{MARKER}={root}")
    return [pid for pid, cmdline, environ in _processes()
            if needle in cmdline or marker in environ]


def _processes() -> Iterator[tuple[int, bytes, list[bytes]]]:
    """``(pid, cmdline, environ entries)`` of this user's live processes (not zombies)."""
    me, uid = os.getpid(), os.getuid()
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if entry.stat().st_uid != uid or _zombie(int(entry.name)):
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        yield int(entry.name), cmdline, environ


def _zombie(pid: int) -> bool:
    """True when ``pid`` is gone or only a zombie (dead, waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not _exists(pid)
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def belongs(pid: int, root: Path) -> bool:
    """Whether ``pid`` is one of the demo's (guards against a reused pid)."""
    if not Path("/proc").is_dir():
        return _exists(pid)
    return pid in demo_processes(root)


def kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal ``pid``'s process group (never ours), else the process alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return
        if group > 1 and group != os.getpgrp():
            os.killpg(group, sig)
        else:
            os.kill(pid, sig)


def kill_until_gone(root: Path) -> list[int]:
    """Kill whatever is left of the demo until nothing is; the pids that would not go."""
    deadline = time.monotonic() + KILL_WAIT
    while True:
        left = demo_processes(root)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            kill_group(pid)
        time.sleep(0.02)
