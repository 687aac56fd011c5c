"""The agent's side of the keepers: start one (detached, in the kernel's own Python, which has
pyzmq), ask one a question over its Unix socket, wait until it can answer.

A keeper is found by its socket, ``<root>/k/<kernel>/keeper`` (``sockets``): one that answers
is the kernel's keeper; a socket file nobody answers on is a keeper that is gone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from .paths import key_digest, tail
from .procs import cmdline, is_keeper, pid_alive
from .protocol import OpError
from .sockets import keeper_socket, kernel_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KEEPER_LOG = "keeper.log"


def agent_command() -> list[str]:
    """How to run this agent's ``__main__`` with another Python: the .pyz it was loaded from,
    or (from a source tree, as in rtui's own tests) its package by path."""
    package = os.path.dirname(os.path.abspath(__file__))
    archive = os.path.dirname(package)
    if os.path.isfile(archive):
        return [archive]
    parent, name = os.path.split(package)
    top, outer = os.path.split(parent)
    boot = ("import sys; sys.argv[0] = 'rtui-agent'; sys.path.insert(0, sys.argv.pop(1)); "
            f"from {outer}.{name}.__main__ import main; main()")
    return ["-c", boot, top]


def ask(path: str, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """One request, one JSON line back; OpError(keeper) when the keeper does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        raise OpError("keeper", f"the keeper at {path} does not answer: "
                      f"{e.strerror or e}") from None
    try:
        reply = json.loads(data.decode("utf-8"))
    except ValueError:
        raise OpError("keeper", f"the keeper at {path} sent no answer") from None
    if not isinstance(reply, dict):
        raise OpError("keeper", f"the keeper at {path} sent {reply!r}")
    return reply


def status_of(kernel_id: str) -> tuple[str, dict[str, Any]] | None:
    """(socket path, status) of the kernel's keeper, or None when it has none that answers."""
    try:
        path = keeper_socket(kernel_id)
    except OpError:
        return None
    if not os.path.exists(path):
        return None
    try:
        return path, ask(path, {"op": "status"}, 2.0)
    except OpError:
        return None


def spawn(python: str, kernel_id: str, extra: list[str]) -> subprocess.Popen[bytes]:
    """Start a keeper for ``kernel_id`` detached (its own session; output to its log)."""
    kdir = kernel_dir(kernel_id)
    log = os.open(os.path.join(kdir, KEEPER_LOG), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = subprocess.Popen(
            [python, *agent_command(), "keeper", "--kernel-id", kernel_id, *extra],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd="/")
    except OSError as e:
        raise OpError("keeper", f"cannot start a keeper with {python}: {e.strerror}") from None
    finally:
        os.close(log)
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it ends
    return proc


def wait_status(kernel_id: str, proc: subprocess.Popen[bytes] | None, timeout: float,
                done: tuple[str, ...] = ("running", "exited")) -> tuple[str, dict[str, Any]]:
    """Poll the new keeper until its state is one of ``done`` (its last status at the
    timeout); OpError(keeper) when it ends first or never answers."""
    deadline = time.monotonic() + timeout
    path = keeper_socket(kernel_id)
    last: dict[str, Any] | None = None
    while True:
        if os.path.exists(path):
            try:
                last = ask(path, {"op": "status"}, 2.0)
            except OpError:
                last = None
            if last is not None and last.get("state") in done:
                return path, last
        if proc is not None and proc.poll() is not None and last is None:
            if proc.returncode == 3:  # another keeper holds the kernel: wait for its socket
                proc = None
            else:
                log = os.path.join(kernel_dir(kernel_id), KEEPER_LOG)
                raise OpError("keeper", f"the keeper of kernel {kernel_id} exited with code "
                              f"{proc.returncode}; last lines of {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            if last is not None:
                return path, last
            raise OpError("keeper", f"the keeper of kernel {kernel_id} did not answer "
                          f"within {timeout:g} s")
        time.sleep(0.02)


def python_for(candidates: list[str | None]) -> str:
    """The first existing interpreter of ``candidates`` (the kernel's own first)."""
    for python in candidates:
        if python and os.path.isfile(python) and os.access(python, os.X_OK):
            return python
    return sys.executable


def keeps_another(status: dict[str, Any], conn: Any, running_pid: int | None) -> bool:
    """Whether the keeper answering under a kernel's id keeps another kernel than the one
    its connection file now names (``conn``) and that runs as ``running_pid`` (None: no
    process found): a kernel started again by hand with that file name while an earlier
    one's keeper lingers. Its output is signed with the other kernel's key."""
    kept_digest, digest = status.get("key_digest"), key_digest(conn)
    if isinstance(kept_digest, str) and digest and kept_digest != digest:
        return True  # other connection info (a watched pid may even have the same number)
    if running_pid is None:
        return False  # nothing runs: the keeper that saw it end says how
    if status.get("state") == "exited":
        return True  # a process runs that its keeper did not see start
    kept_pid = status.get("pid")
    return isinstance(kept_pid, int) and kept_pid != running_pid


def own_keeper(kernel_id: str, conn: Any, running_pid: int | None,
               retire_other: bool = False) -> tuple[str, dict[str, Any]] | None:
    """(socket path, status) of this kernel's keeper; None when none answers, or when the
    one that answers keeps another kernel (``keeps_another``), which is retired when
    ``retire_other`` so a new keeper can take the id."""
    kept = status_of(kernel_id)
    if kept is None or not keeps_another(kept[1], conn, running_pid):
        return kept
    if retire_other:
        retire(kernel_id, kept[1])
    return None


def retire(kernel_id: str, status: dict[str, Any], timeout: float = 3.0) -> None:
    """End the keeper of an earlier kernel under ``kernel_id``: SIGTERM (it leaves any kernel
    alone, removes its socket, and its directory when its kernel had exited), SIGKILL if it
    is still there after ``timeout``; returns once it is gone, so its lock is free."""
    pid = status.get("keeper_pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return
    argv = cmdline(pid)
    if argv is not None and not (is_keeper(argv) and kernel_id in argv):
        return  # that pid is no longer the keeper that answered
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not pid_alive(pid):
            return
