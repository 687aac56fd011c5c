"""The agent's side of the keepers: start one (detached, in the kernel's own Python, which has
pyzmq), ask one a question over its Unix socket, wait until it can answer.

A keeper is found by its socket, ``<root>/k/<kernel>/keeper`` (``sockets``): one that answers
is the kernel's keeper; a socket file nobody answers on is a keeper that is gone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

from .paths import tail
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
