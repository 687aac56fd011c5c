"""Processes on the host: is a pid alive, what it runs, which one serves a connection file,
and stopping one (its process group when it leads one)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from .paths import kernel_id, real
from .protocol import OpError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

children: dict[int, subprocess.Popen[bytes]] = {}  # kernels this agent started: poll() reaps them


def _proc(pid: int, name: str) -> bytes | None:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/pid/stat after the command name (state first), or None."""
    data = _proc(pid, "stat")
    return data[data.rfind(b")") + 2:].decode("ascii", "replace").split() if data else None


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (zombies count as dead)."""
    child = children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    st = _proc_stat(pid)
    return not (st and st[0] in ("Z", "X"))


def _proc_strings(pid: int, name: str) -> list[str] | None:
    data = _proc(pid, name)
    return None if data is None else [
        a.decode("utf-8", "surrogateescape") for a in data.split(b"\0")[:-1]]


def cmdline(pid: int) -> list[str] | None:
    return _proc_strings(pid, "cmdline")


def proc_environ(pid: int) -> dict[str, str] | None:
    items = _proc_strings(pid, "environ")
    return None if items is None else dict(i.split("=", 1) for i in items if "=" in i)


def proc_cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def proc_started(pid: int) -> float | None:
    st = _proc_stat(pid)
    try:
        with open("/proc/stat") as f:
            btime = next(int(ln.split()[1]) for ln in f if ln.startswith("btime"))
        return btime + int(st[19]) / os.sysconf("SC_CLK_TCK")  # type: ignore[index]
    except (OSError, StopIteration, TypeError, IndexError, ValueError):
        return None


def processes() -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process we can see: /proc, else ``ps`` (argv split on spaces)."""
    if os.path.isdir("/proc/self"):
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                argv = cmdline(int(name))
                if argv:
                    out.append((int(name), argv))
        return out
    try:
        text = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "args="], capture_output=True,
                              text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = (line.split() for line in text.splitlines())
    return [(int(r[0]), r[1:]) for r in rows if len(r) > 1 and r[0].isdigit()]


def mentions(argv: list[str], pid: int, cf: str) -> bool:
    """Does ``argv`` name connection file ``cf`` (``-f cf``, ``--f=cf``, relative paths)?"""
    base, real_cf = os.path.basename(cf), None
    for arg in argv[1:]:
        if arg.startswith("-") and "=" in arg:
            arg = arg.split("=", 1)[1]
        if arg == cf:
            return True
        if os.path.basename(arg) == base:
            real_cf = real_cf or real(cf)
            path = arg if os.path.isabs(arg) else os.path.join(proc_cwd(pid) or "/", arg)
            if real(path) == real_cf:
                return True
    return False


def is_keeper(argv: list[str]) -> bool:
    """Is this an rtui keeper (which names the kernel's files but is not the kernel)?"""
    return "keeper" in argv[1:5] and "--kernel-id" in argv


def guess_kind(argv: list[str] | None) -> str:
    text = " ".join(argv or ())
    if "spyder_kernels" in text:
        return "spyder"
    return "ipykernel" if "ipykernel" in text else "unknown"


def _find_pid(cf: str, procs: list[tuple[int, list[str]]]) -> int | None:
    """The kernel process whose argv names ``cf``: kernel-like first, then the topmost."""
    hits = [(pid, argv) for pid, argv in procs
            if pid != os.getpid() and "--existing" not in argv and not is_keeper(argv)
            and mentions(argv, pid, cf)]
    hits = [h for h in hits if pid_alive(h[0])]
    if not hits:
        return None
    best = max(guess_kind(argv) != "unknown" for _, argv in hits)
    pids = {pid for pid, argv in hits if (guess_kind(argv) != "unknown") == best}
    tops = [p for p in pids if _ppid(p) not in pids]  # not a forked child of another hit
    return min(tops or pids)


def _ppid(pid: int) -> int:
    st = _proc_stat(pid)
    return int(st[1]) if st and len(st) > 1 and st[1].isdigit() else 0


def locate(cf: str, rec: dict[str, Any] | None,
           procs: list[tuple[int, list[str]]] | None) -> tuple[int | None, bool]:
    """(pid, running) of the kernel behind ``cf``; pid may be a dead recorded one."""
    rpid = rec.get("pid") if rec else None
    if rpid and pid_alive(rpid):
        argv = cmdline(rpid)
        if argv is None or mentions(argv, rpid, cf):
            return rpid, True
    pid = _find_pid(cf, processes() if procs is None else procs)
    if pid:
        return pid, True
    kid = kernel_id(cf)
    if kid.isdigit() and pid_alive(int(kid)):
        argv = cmdline(int(kid)) or []
        if any("python" in a or "kernel" in a for a in argv[:3]):
            return int(kid), True
    return rpid, False


def send_signal(pid: int, sig: int) -> bool:
    """Send ``sig`` to pid's process group when pid leads it, else to pid. True: group."""
    try:
        group = os.getpgid(pid) == pid
    except OSError:
        group = False
    if group:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)
    return group


def _wait_dead(pid: int, timeout: float) -> bool:
    child = children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def terminate(pid: int, timeout: float) -> bool:
    """SIGTERM (group), wait, then SIGKILL. True when SIGKILL was needed."""
    try:
        send_signal(pid, signal.SIGTERM)
        if _wait_dead(pid, timeout):
            return False
        send_signal(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    except PermissionError:
        raise OpError("permission", f"not allowed to signal process {pid}") from None
    _wait_dead(pid, 2)
    return True
