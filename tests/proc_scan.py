"""What /proc says about this machine's processes: their command lines and environments, the
TCP sockets they listen on, their descendants. The security checks (tests/test_security.py,
tests/test_private_transport.py) look there for secrets and listeners."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Process", "descendants", "listening_tcp_ports", "processes", "tcp_listeners"]


@dataclass(frozen=True)
class Process:
    pid: int
    cmdline: bytes  # NUL-separated, as /proc gives it
    environ: bytes | None  # None: not readable (another user's, or gone)


def processes() -> list[Process]:
    """Every living process whose command line could be read (kernel threads have none)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        environ: bytes | None = None
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        if cmdline:
            found.append(Process(int(entry), cmdline, environ))
    return found


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def descendants(roots: set[int]) -> set[int]:
    """``roots`` and every living process started from one of them, however deep."""
    parents = {int(e): _parent(int(e)) for e in os.listdir("/proc") if e.isdigit()}
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def listening_tcp_ports() -> dict[str, int]:
    """Every listening TCP socket on this machine (v4 and v6): its port, by socket inode."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                found[fields[9]] = int(fields[1].rpartition(":")[2], 16)
    return found


def tcp_listeners(pids: set[int]) -> dict[int, set[int]]:
    """The ports of the listening TCP sockets each of ``pids`` holds."""
    listening = listening_tcp_ports()
    held: dict[int, set[int]] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:[") and target[8:-1] in listening:
                        held.setdefault(pid, set()).add(listening[target[8:-1]])
    return held
